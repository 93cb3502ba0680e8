"""Run a model over a Dask array, block by block (extra: pip install "pyconvinfer[dask]").

    import dask.array as da, pyconvinfer.dask
    x = da.from_zarr(...)                      # (N, H, W, C), chunked along N
    y = pyconvinfer.dask.predict("model.pci", x)
    y.compute()                                # or y.to_zarr(...), on a distributed cluster too

The Model travels to the workers pickled as its path, options and an identity
check (runtime.Model.__reduce__); each worker process maps the file once and
keeps it for every block it runs. On a remote cluster the .pci file must be at
the same path on every worker (a shared file system, or copied there first).
See docs/DASK.md.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .runtime import Model, load


def _dask_array() -> Any:
    try:
        import dask.array as da
    except ImportError:
        raise ImportError('pyconvinfer.dask needs Dask: pip install "pyconvinfer[dask]"') from None
    return da


def _run_block(block: np.ndarray, model: Model, batch_size: int | None, sizes: tuple[int, ...]) -> np.ndarray:
    """One block through the model; several outputs side by side, flattened per sample."""
    y = model.predict(block, batch_size=batch_size)
    outs = y if isinstance(y, list) else [y]
    if len(outs) == 1:
        return outs[0]
    return np.concatenate([o.reshape(len(o), size) for o, size in zip(outs, sizes)], axis=1)


def predict(model_or_path: Model | str | os.PathLike, x: Any, *, batch_size: int | None = None,
            **load_options: Any) -> Any:
    """model.predict mapped over the blocks of the Dask array x (N, ...), chunked
    along N (other axes are made whole). Returns a lazy Dask array of the
    output (N, ...), or a list of them for a model with several outputs.
    A path is loaded here (to learn the output shapes) with load_options
    (num_threads=, isa=, verify=); each worker loads it again by path."""
    da = _dask_array()
    model = model_or_path if isinstance(model_or_path, Model) else load(model_or_path, **load_options)
    if len(model.input_names) != 1:
        raise ValueError(f"pyconvinfer.dask.predict takes one input; the model has {model.input_names}")
    if not isinstance(x, da.Array):
        x = da.asarray(x)
    want = model.input_shape
    if x.ndim != len(want) or any(w is not None and w != g for w, g in zip(want[1:], x.shape[1:])):
        raise ValueError(f"expected a Dask array of shape {want}, got {x.shape}")
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    shapes = [o.shape[1:] for o in model._empty_outputs((tuple(int(d) for d in x.shape[1:]),))]
    sizes = tuple(int(np.prod(s, dtype=np.int64)) for s in shapes)
    if len(shapes) == 1:
        return x.map_blocks(_run_block, model, batch_size, sizes, dtype=np.float32,
                            chunks=(x.chunks[0],) + tuple((d,) for d in shapes[0]),
                            drop_axis=list(range(len(shapes[0]) + 1, x.ndim)) or None,
                            new_axis=list(range(x.ndim, len(shapes[0]) + 1)) or None)
    flat = x.map_blocks(_run_block, model, batch_size, sizes, dtype=np.float32,
                        chunks=(x.chunks[0], (sum(sizes),)), drop_axis=list(range(2, x.ndim)))
    starts = np.cumsum((0,) + sizes)
    return [flat[:, a:b].reshape((-1,) + tuple(s)) for a, b, s in zip(starts[:-1], starts[1:], shapes)]
