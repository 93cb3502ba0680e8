"""Output sizes and paddings, with Keras's semantics (one place for all ops)."""

from __future__ import annotations

from typing import Union

Padding = Union[str, "tuple[tuple[int, int], tuple[int, int]]"]


def conv_out_and_pads(n: int, k: int, s: int, d: int, padding: str | tuple[int, int]) -> tuple[int, int, int]:
    """(output size, pad before, pad after) along one axis.

    'same': out = ceil(n / s), total pad = max((out - 1) s + K - n, 0) with the
    extra cell at the end (bottom/right); 'valid': floor((n - K) / s) + 1;
    (before, after): explicit."""
    eff = (k - 1) * d + 1
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + eff - n, 0)
        return out, total // 2, total - total // 2
    if padding == "valid":
        before = after = 0
    else:
        before, after = padding
    span = n + before + after - eff
    if span < 0:
        raise ValueError(
            f"kernel of effective size {eff} is larger than the padded input ({n} + {before} + {after})"
        )
    return span // s + 1, before, after


def tconv_out_and_pad(n: int, k: int, s: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """(output size, pad before) of Keras Conv2DTranspose along one axis.

    The output pixel oh receives input ih through tap kh where oh = ih*s + kh - pad."""
    if padding == "valid":
        out = (n - 1) * s + max(k, s) if output_padding is None else (n - 1) * s + k + output_padding
        return out, 0
    if padding == "same":
        if output_padding is None:
            out, total = n * s, s + k - 2
        else:
            out, total = (n - 1) * s + k % 2 + output_padding, k + k % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, k - 1)
        return out, k - 1 - left
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def pool_out_and_pads(n: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    return conv_out_and_pads(n, k, s, 1, padding)
