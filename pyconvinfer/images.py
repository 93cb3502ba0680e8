"""Images in: find them, read them with Pillow, fit them to the model's input
and preprocess them as keras.applications does.

    x = pyconvinfer.images.load("photos/", model, preprocess="caffe")
    probs = model.predict(x)

Pillow is an optional extra: pip install "pyconvinfer[images]".

Sizing: each image is converted to RGB (or grayscale for a 1-channel model)
and resized with Pillow's bilinear filter to the model's input height and
width (the whole image, so its aspect ratio may change); crop="center" first
cuts the largest centred region with the target's aspect ratio. A model with
unknown height and width gets each image at its own size.

Preprocessing works on pixel values 0..255 (channels in RGB order):
  none   leave 0..255 (the default: many models start with a Rescaling layer)
  caffe  RGB -> BGR, then subtract the ImageNet mean [103.939, 116.779, 123.68]
  tf     x / 127.5 - 1 (range -1..1)
  torch  x / 255, subtract [0.485, 0.456, 0.406], divide by [0.229, 0.224, 0.225]
or, with "none", any of scale, mean and std: x * scale, then - mean, then / std
(mean and std: one value, or one per channel).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .errors import PyconvinferError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
PREPROCESS = ("none", "caffe", "tf", "torch")
CROPS = ("none", "center")
CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR order
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise PyconvinferError('reading images needs Pillow: pip install "pyconvinfer[images]"') from None
    return Image


def is_image_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in EXTENSIONS


def expand(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Image files named by paths: a file as is, a directory's images (sorted,
    not recursive), a glob pattern's images (sorted). Raises PyconvinferError
    for a path that does not exist or names no image."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in map(os.fspath, paths):
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if is_image_path(f) and os.path.isfile(os.path.join(p, f)))
            if not found:
                raise PyconvinferError(f"{p}: no images in this directory (looked for {', '.join(EXTENSIONS)})")
            out += found
        elif os.path.exists(p):
            out.append(p)
        elif glob.has_magic(p):
            found = sorted(f for f in glob.glob(p) if is_image_path(f) and os.path.isfile(f))
            if not found:
                raise PyconvinferError(f"{p}: the pattern matches no images ({', '.join(EXTENSIONS)})")
            out += found
        else:
            raise PyconvinferError(f"{p}: no such file or directory")
    return out


def input_size(model: Any) -> tuple[int | None, int | None, int]:
    """(height, width, channels) the model takes; height/width None when unknown."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise PyconvinferError(f"images need a model with one input; this one has {len(shape)}: {model.input_names}")
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise PyconvinferError(f"images need an input of shape (None, H, W, 1 or 3); the model takes {shape}")
    return shape[1], shape[2], shape[3]


def read(path: str | os.PathLike, size: tuple[int | None, int | None] = (None, None), channels: int = 3,
         crop: str = "none") -> np.ndarray:
    """One image as float32 (H, W, channels), values 0..255, resized to `size`
    (height, width) unless a part is None."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    image_mod = _pil()
    path = os.fspath(path)
    try:
        with image_mod.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
    except (OSError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
        raise PyconvinferError(f"{path}: cannot read as an image ({e})") from None
    h, w = size
    if h is not None and w is not None:
        if crop == "center":  # the largest centred region with the target's aspect ratio, in whole pixels
            scale = min(img.width / w, img.height / h)
            cw, ch = round(w * scale), round(h * scale)
            left, top = (img.width - cw) // 2, (img.height - ch) // 2
            img = img.crop((left, top, left + cw, top + ch))
            if (cw, ch) != (w, h):
                img = img.resize((w, h), image_mod.BILINEAR)
        elif (img.width, img.height) != (w, h):
            img = img.resize((w, h), image_mod.BILINEAR)
    x = np.asarray(img, dtype=np.float32)
    return x[..., None] if x.ndim == 2 else x


def _per_channel(v: float | Sequence[float] | None, c: int, what: str) -> np.ndarray | None:
    if v is None:
        return None
    arr = np.atleast_1d(np.asarray(v, dtype=np.float32))
    if arr.shape not in ((1,), (c,)):
        raise ValueError(f"{what}: give one value or {c} (one per channel), got {arr.size}")
    return arr


def preprocess(x: np.ndarray, mode: str = "none", *, scale: float | None = None,
               mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None) -> np.ndarray:
    """Preprocess images (..., C) with values 0..255 as keras.applications'
    preprocess_input(mode=...) does, or by scale/mean/std (mode "none").
    Returns a new float32 array."""
    if mode not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {PREPROCESS}, got {mode!r}")
    custom = scale is not None or mean is not None or std is not None
    if custom and mode != "none":
        raise ValueError(f"use either preprocess={mode!r} or scale/mean/std, not both")
    x = np.array(x, dtype=np.float32)
    c = x.shape[-1]
    if mode != "none" and c != 3:
        raise ValueError(f"preprocess={mode!r} is defined for 3-channel RGB images, got {c} channel(s)")
    if mode == "tf":
        x /= np.float32(127.5)
        x -= np.float32(1.0)
    elif mode == "torch":
        x /= np.float32(255.0)
        x -= np.asarray(TORCH_MEAN, np.float32)
        x /= np.asarray(TORCH_STD, np.float32)
    elif mode == "caffe":
        x = x[..., ::-1] - np.asarray(CAFFE_MEAN, np.float32)
    else:
        if scale is not None:
            x *= np.float32(scale)
        m, s = _per_channel(mean, c, "mean"), _per_channel(std, c, "std")
        if m is not None:
            x -= m
        if s is not None:
            if np.any(s == 0):
                raise ValueError("std must not be 0")
            x /= s
    return np.ascontiguousarray(x, dtype=np.float32)


def load(paths: str | os.PathLike | Iterable[str | os.PathLike], model: Any = None, *, preprocess: str = "none",
         size: tuple[int, int] | None = None, crop: str = "none", scale: float | None = None,
         mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
         progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Images (files, directories or glob patterns) as one float32 batch
    (N, H, W, C) ready for model.predict: sized for `model` (or to `size` =
    (height, width)), then preprocessed. Images of different sizes need a
    size: a model of unknown height and width takes them one at a time (read())."""
    files = expand(paths)
    h, w, c = input_size(model) if model is not None else (None, None, 3)
    if size is not None:
        h, w = size
    xs = []
    for i, f in enumerate(files):
        xs.append(read(f, (h, w), c, crop))
        if progress is not None:
            progress(i + 1, len(files))
    shapes = sorted({x.shape for x in xs})
    if len(shapes) > 1:
        raise PyconvinferError(f"the images have different sizes {shapes[:3]}...: give size=(height, width), "
                               "or read and predict them one at a time")
    return _preprocess(np.stack(xs), preprocess, scale=scale, mean=mean, std=std)


_preprocess = preprocess  # load()'s keyword shadows the function
