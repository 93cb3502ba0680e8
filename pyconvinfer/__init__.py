"""pyconvinfer: run Keras-trained CNNs on multicore CPUs without TensorFlow."""

from __future__ import annotations

from . import _kernels

__version__ = "0.1.0"


def openmp_enabled() -> bool:
    """True when the kernels were built with OpenMP (multicore)."""
    return _kernels.openmp_enabled()


def build_info() -> dict:
    """How the extension was built and which instruction-set path runs here."""
    try:
        from ._build_info import BUILD
    except ImportError:  # built without setup.py's build_ext (should not happen)
        BUILD = {}
    return {
        **BUILD,
        "openmp": _kernels.openmp_enabled(),
        "cpu_isa": _kernels.cpu_isa(),
        "kernel_isa": _kernels.effective_isa("avx512"),
        "default_threads": _kernels.default_threads(),
    }


def load(path, num_threads=None, *, verify=True, isa=None):
    """Open a .pci model file: see pyconvinfer.runtime.load."""
    from .runtime import load as _load

    return _load(path, num_threads, verify=verify, isa=isa)


def convert(src, dst=None, **options):
    """Convert a Keras file to a .pci file (needs h5py): see pyconvinfer.keras.convert.convert."""
    from .keras.convert import convert as _convert

    return _convert(src, dst, **options)
