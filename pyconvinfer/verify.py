"""Self-verifying model files: test vectors stored at conversion, rerun on
the target machine (`pyconvinfer verify MODEL`, `Model.verify()`).

`convert` stores a small input (batch 2: the model's input size, or 64x64
where height/width are unknown, or --verify-shape) with the outputs the
converted float32 model computes for it, or the user's own Keras outputs
(`--reference X.npy Y.npy`). They are ordinary tensors of the file, named
`__verify__/input/<k>` and `__verify__/output/<k>`, and the header's
"verify" entry lists them, so the payload checksum covers them too.

Pass/fail: max |y - y_stored| <= threshold x max(1, max |y_stored|) per
output, with the threshold of the file's weight dtype (THRESHOLDS)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PREFIX = "__verify__/"
# Max error relative to max(1, max|y|) a stored weight dtype keeps; float32 as every
# Keras comparison of this project. The reduced precisions are measured bounds with a
# margin (docs/PRECISION.md): float16 rounds each weight to 11 significant bits,
# bfloat16 to 8, int8 to 1/254 of its channel's largest magnitude.
THRESHOLDS = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2, "int8": 5e-2}
UNKNOWN_SIDE = 64  # height/width of the stored input when the model leaves them open
MAX_VECTOR_ELEMENTS = 1 << 24  # 64 MiB of float32 per input (drawn in float64): no model file wants more


def sample_inputs(input_specs: list[dict], shape: Sequence[int] | None = None, batch: int = 2,
                  seed: int = 0) -> list[np.ndarray]:
    """A seeded standard-normal input per model input (batch 2 by default)."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in input_specs:
        dims = list(spec["shape"])
        if shape is not None:
            if len(shape) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shape)):
                raise ValueError(f"--verify-shape {tuple(shape)} does not fit input {spec['name']!r} of shape "
                                 f"{tuple(dims)}")
            dims = list(shape)
        dims = [UNKNOWN_SIDE if d is None else int(d) for d in dims]
        if batch * math.prod(dims) > MAX_VECTOR_ELEMENTS:  # before allocating: a config may claim any shape
            raise ValueError(f"input {spec['name']!r} of shape {tuple(dims)} is too large for test vectors "
                             f"(more than {MAX_VECTOR_ELEMENTS} values); give --verify-shape or skip the vectors")
        out.append(rng.standard_normal([batch, *dims]).astype(np.float32))
    return out


def attach(header: dict, tensors: dict, inputs: list[np.ndarray], outputs: list[np.ndarray], source: str,
           dtype: str = "float32") -> None:
    """Add the vectors to a header + tensor dict about to be written."""
    names_in, names_out = [], []
    for k, x in enumerate(inputs):
        name = f"{PREFIX}input/{k}"
        tensors[name] = np.ascontiguousarray(x, dtype=np.float32)
        names_in.append(name)
    for k, y in enumerate(outputs):
        name = f"{PREFIX}output/{k}"
        tensors[name] = np.ascontiguousarray(y, dtype=np.float32)
        names_out.append(name)
    header["verify"] = {"inputs": names_in, "outputs": names_out, "source": source,
                        "threshold": THRESHOLDS[dtype], "weights_dtype": dtype}


def max_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| relative to max(1, max |want|)."""
    want64 = want.astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want64)) / max(1.0, float(np.max(np.abs(want64)))))


@dataclass
class VerifyResult:
    outputs: list[str]
    errors: list[float] = field(default_factory=list)
    threshold: float = 0.0
    source: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.errors) and all(e <= self.threshold for e in self.errors)

    def lines(self) -> list[str]:
        out = [f"{name}: max error {err:.3g} (threshold {self.threshold:g} x max(1, max|y|)) "
               f"{'ok' if err <= self.threshold else 'FAILED'}" for name, err in zip(self.outputs, self.errors)]
        out.append(("PASS" if self.passed else "FAIL") + f": {len(self.errors)} output(s) against the "
                   f"{'user reference' if self.source == 'reference' else 'conversion-time'} vectors")
        return out


def run(model: Any) -> VerifyResult:
    """Rerun a loaded model on its stored vectors."""
    spec = model.file.header.get("verify")
    if not spec:
        raise ValueError(f"{model.file.path} holds no test vectors (converted before pyconvinfer stored them): "
                         "convert it again to make it self-verifying")
    try:
        xs = [np.array(model.file.tensors[n]) for n in spec["inputs"]]
        ys = [model.file.tensors[n] for n in spec["outputs"]]
        threshold = float(spec["threshold"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{model.file.path}: malformed test vectors ({e!r})") from None
    got = model.predict(xs if len(xs) > 1 else xs[0])
    got = got if isinstance(got, list) else [got]
    if len(got) != len(ys):
        raise ValueError(f"{model.file.path}: {len(ys)} stored outputs, the model has {len(got)}")
    result = VerifyResult(list(model.output_names), threshold=threshold, source=str(spec.get("source", "")))
    for g, y in zip(got, ys):
        if g.shape != y.shape:
            raise ValueError(f"{model.file.path}: stored output of shape {y.shape}, the model gives {g.shape}")
        result.errors.append(max_error(g, y))
    return result
