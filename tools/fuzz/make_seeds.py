"""Write the seed corpora (tools/fuzz/corpus/{pci,keras}) from the test fixtures.

pci:   small fixtures converted, split into header JSON + payload (pci_target.split).
keras: the same fixtures in every format they come in (full-model .h5, .keras,
       weights .h5 + architecture JSON), as harness documents (keras_target).
Run from the repository root: python tools/fuzz/make_seeds.py"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import h5tree  # noqa: E402
from pci_target import split  # noqa: E402

import pyconvinfer  # noqa: E402

# Small models that together cover the op families, multi-input/output, sharing and nesting.
FIXTURES = ["conv2d_basic", "operators", "pooling", "two_outputs", "shared_layer", "global_pooling", "dense_basic",
            "normalization", "upsampling_bilinear", "pad_crop_upsample1d", "conv1d", "merge_multi_input",
            "depthwise_conv", "conv2d_transpose_basic", "nested_model", "unknown_hw", "separable_conv",
            "residual_bn", "permute", "resizing"]


def _write(corpus: Path, data: bytes) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def _h5(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return h5tree.from_group(f)


def keras_docs(d: Path) -> list[dict]:
    docs = []
    if (d / "model.h5").exists():
        docs.append({"kind": "h5", "h5": _h5(d / "model.h5")})
    weights = d / "weights.h5" if (d / "weights.h5").exists() else d / "model.weights.h5"
    if weights.exists() and (d / "arch.json").exists():
        docs.append({"kind": "weights", "h5": _h5(weights), "config": json.loads((d / "arch.json").read_text())})
    if (d / "model.keras").exists():
        with zipfile.ZipFile(d / "model.keras") as z:
            tree = h5tree.from_group(h5py.File(io.BytesIO(z.read("model.weights.h5")), "r"))
            docs.append({"kind": "keras", "h5": tree, "config": json.loads(z.read("config.json")),
                         "metadata": json.loads(z.read("metadata.json")),
                         "members": [["metadata.json", "metadata"], ["config.json", "config"],
                                     ["model.weights.h5", "weights"]]})
    return docs


def main() -> None:
    fixtures = ROOT / "tests" / "fixtures" / "keras"
    with tempfile.TemporaryDirectory() as tmp:
        for gen in ("keras3", "keras2"):
            for name in FIXTURES:
                d = fixtures / gen / name
                if not d.exists():
                    continue
                for doc in keras_docs(d):
                    _write(HERE / "corpus" / "keras", json.dumps(doc, separators=(",", ":")).encode())
                if gen == "keras3":
                    out = pyconvinfer.convert(d / "model.h5", Path(tmp) / f"{name}.pci")
                    _write(HERE / "corpus" / "pci", split(Path(out).read_bytes()))


if __name__ == "__main__":
    main()
