"""Hostile model files: each is refused with a ModelFileError that names the
problem, at load or at the first predict (the C plan validation), never a
crash, a bare Python exception or an allocation of what the header claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_format import _rewrite_header

import pyconvinfer
from pyconvinfer.errors import ModelFileError

LENET = Path(pyconvinfer.__file__).parent / "data" / "lenet5_digits.h5"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return Path(pyconvinfer.convert(LENET, tmp_path_factory.mktemp("hostile") / "lenet.pci"))


def _refused(path: Path, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        model = pyconvinfer.load(path)
        model.predict(np.zeros((1, 32, 32, 1), np.float32))


def _node(h: dict, op: str, k: int = 0) -> dict:
    return [n for n in h["nodes"] if n["op"] == op][k]


CASES = {
    # shapes whose size computations overflow (2^32 * 2^32 wraps to 0 in int64 arithmetic)
    "overflowing shape": (lambda h: h["tensors"][0].update(shape=[2 ** 32, 2 ** 32], nbytes=0), "does not match"),
    "huge shape": (lambda h: h["tensors"][0].update(shape=[10 ** 12]), "does not match"),
    "negative dim": (lambda h: h["tensors"][0].update(shape=[-1, 4]), "bad name or shape"),
    "negative offset": (lambda h: h["tensors"][1].update(offset=-64), "outside the data region"),
    "overlapping offsets": (lambda h: h["tensors"][1].update(offset=h["tensors"][0]["offset"]), "overlap"),
    "duplicate node name": (lambda h: h["nodes"][1].update(name=h["nodes"][0]["name"]), "duplicate node name"),
    "cycle": (lambda h: h["nodes"][0].update(inputs=[h["nodes"][2]["output"]]), "before it is produced"),
    "node reads itself": (lambda h: h["nodes"][0].update(inputs=[h["nodes"][0]["output"]]), "before it is produced"),
    "stride 0": (lambda h: _node(h, "conv2d")["attrs"].update(strides=[0, 1]), "strides"),
    "dilation 0": (lambda h: _node(h, "conv2d")["attrs"].update(dilation=[1, 0]), "dilation"),
    "negative padding": (lambda h: _node(h, "conv2d")["attrs"].update(padding=[[-1, 0], [0, 0]]), "non-negative"),
    "pool window 0": (lambda h: _node(h, "avg_pool2d")["attrs"].update(pool_size=[0, 2]), "pool_size"),
    "pool stride 0": (lambda h: _node(h, "avg_pool2d")["attrs"].update(strides=[2, 0]), "strides"),
    "groups 0": (lambda h: _node(h, "conv2d")["attrs"].update(groups=0), "groups"),
    "kernel size as text": (lambda h: _node(h, "conv2d")["attrs"].update(kernel_size="5x5"), "kernel_size"),
    "units 0": (lambda h: _node(h, "dense", 2)["attrs"].update(units=0), "units"),
    "unknown dtype": (lambda h: h["nodes"][0].update(dtype="float8"), "dtype"),
    "unknown algorithm": (lambda h: _node(h, "conv2d")["attrs"].update(algorithm="fft"), "algorithm"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused(case: str, model_file: Path, tmp_path: Path) -> None:
    edit, match = CASES[case]
    _refused(_rewrite_header(model_file, tmp_path / "h.pci", edit), match)
