"""Exceptions raised by pyconvinfer (all derive from PyconvinferError)."""


class PyconvinferError(Exception):
    """Base class of every error pyconvinfer raises on purpose."""


class ModelFileError(PyconvinferError, ValueError):
    """A .pci model file is not valid: wrong magic, unknown version, truncated,
    checksum mismatch, or an offset/shape that points outside the file."""


class ConversionError(PyconvinferError, ValueError):
    """A Keras file cannot be converted: unsupported layer or option, missing or
    mis-shaped weights, unreadable file."""


class ConversionWarning(UserWarning):
    """Something the converter did that the user should know of (e.g. weights matched
    to layers of other names by position, as Keras does)."""
