"""pyconvinfer: run Keras-trained CNNs on multicore CPUs without TensorFlow.

    pyconvinfer.convert("model.h5", "model.pci")   # needs h5py (imported only here)
    model = pyconvinfer.load("model.pci")           # NumPy only
    y = model.predict(x)
"""

from __future__ import annotations

import os
from typing import Any

from . import _kernels
from .errors import ConversionError, ModelFileError, PyconvinferError
from .runtime import Model, load

__version__ = "0.1.0"
__all__ = ["ConversionError", "Model", "ModelFileError", "PyconvinferError", "build_info", "convert", "load",
           "openmp_enabled"]


def openmp_enabled() -> bool:
    """True when the kernels were built with OpenMP (multicore)."""
    return _kernels.openmp_enabled()


def build_info() -> dict[str, Any]:
    """How the extension was built and which instruction-set path runs here."""
    try:
        from ._build_info import BUILD
    except ImportError:  # built without setup.py's build_ext
        BUILD = {}
    return {
        **BUILD,
        "openmp": _kernels.openmp_enabled(),
        "cpu_isa": _kernels.cpu_isa(),
        "kernel_isa": _kernels.cpu_isa(),  # the path Model and the kernels run by default
        "available_isas": list(_kernels.available_isas()),
        # the paths whose CPU has int8 dot products: int8 files compute in int8 there by default
        "int8_dot_isas": [i for i in _kernels.available_isas() if _kernels.int8_dot_available(i)],
        "default_threads": _kernels.default_threads(),
    }


def convert(src: str | os.PathLike, dst: str | os.PathLike | None = None, **options: Any) -> str:
    """Convert a Keras file to a .pci model file, as `pyconvinfer convert` does.

    options: config="arch.json" (weights-only files), arch="vgg16"|"lenet5",
    input_shape=(H, W, C), progress=callable(done_bytes, total_bytes)."""
    from .keras.convert import convert as _convert

    return _convert(src, dst, **options)
