"""Weight layouts the C kernels read, prepared once (at conversion).

panel16: conv / dense kernels as [groups][ceil(cout_g/16)][kh][kw][cin_g][16],
output channels zero-padded per group to a multiple of 16: the micro-kernel
reads 16 (or 32, 64) consecutive output channels per input value.
dwise: depthwise kernels (cin_g == 1) as [kh][kw][cout].
tconv: transposed-conv kernels split by output phase, see `pack_conv2d_transpose`.
"""

from __future__ import annotations

import numpy as np

NR = 16
BIG_DENSE_BYTES = 64 << 20  # dense kernels above this are packed panel by panel


def pack_conv2d(kernel: np.ndarray, groups: int = 1) -> np.ndarray:
    """Keras Conv2D kernel (kh, kw, cin_g, cout) -> flat float32 packed weights."""
    kh, kw, cin_g, cout = kernel.shape
    if cin_g == 1 and groups > 1:
        return np.ascontiguousarray(kernel.reshape(kh, kw, cout), dtype=np.float32).reshape(-1)
    cout_g = cout // groups
    nb = -(-cout_g // NR)
    k = np.asarray(kernel, dtype=np.float32).reshape(kh, kw, cin_g, groups, cout_g)
    padded = np.zeros((kh, kw, cin_g, groups, nb * NR), dtype=np.float32)
    padded[..., :cout_g] = k
    # (kh, kw, cin_g, g, nb, 16) -> (g, nb, kh, kw, cin_g, 16)
    packed = padded.reshape(kh, kw, cin_g, groups, nb, NR).transpose(3, 4, 0, 1, 2, 5)
    return np.ascontiguousarray(packed).reshape(-1)


def pack_depthwise(kernel: np.ndarray) -> np.ndarray:
    """Keras DepthwiseConv2D kernel (kh, kw, cin, dm) -> dwise layout (cout = cin * dm)."""
    return np.ascontiguousarray(kernel, dtype=np.float32).reshape(-1)


def depthwise_as_conv(kernel: np.ndarray) -> np.ndarray:
    """Depthwise kernel (kh, kw, cin, dm) as a grouped Conv2D kernel (kh, kw, 1, cin * dm)."""
    kh, kw, cin, dm = kernel.shape
    return np.asarray(kernel, dtype=np.float32).reshape(kh, kw, 1, cin * dm)


def pack_dense(kernel: np.ndarray) -> np.ndarray:
    """Keras Dense kernel (in, units) -> panel16 with one tap."""
    k_in, units = kernel.shape
    if kernel.size * 4 <= BIG_DENSE_BYTES:
        return pack_conv2d(np.asarray(kernel).reshape(1, 1, k_in, units))
    # A big kernel (VGG16's fc1: 392 MiB) one 16-column panel at a time: the same
    # layout, in steps short enough for Ctrl-C to be seen between them.
    nb = -(-units // NR)
    packed = np.zeros((nb, k_in, NR), dtype=np.float32)
    for j in range(nb):
        cols = kernel[:, j * NR:(j + 1) * NR]
        packed[j, :, :cols.shape[1]] = cols
    return packed.reshape(-1)


def _phase_taps(k: int, s: int, r: int) -> list[int]:
    return list(range(r, k, s))


def pack_conv2d_transpose(kernel: np.ndarray, strides: tuple[int, int]) -> np.ndarray:
    """Keras Conv2DTranspose kernel (kh, kw, cout, cin) -> per-phase panel16.

    Output pixels of phase (rh, rw) only see taps kh = rh + sh*i, kw = rw + sw*j;
    phases are stored rh-major, each as a conv kernel (taps_h, taps_w, cin, cout)."""
    kh, kw, cout, cin = kernel.shape
    sh, sw = strides
    k = np.asarray(kernel, dtype=np.float32).transpose(0, 1, 3, 2)  # (kh, kw, cin, cout)
    parts = []
    # Phases r >= k see no tap: skip them unvisited (a stride of 2^63 must not mean 2^63 steps).
    for rh in range(min(sh, kh)):
        for rw in range(min(sw, kw)):
            th, tw = _phase_taps(kh, sh, rh), _phase_taps(kw, sw, rw)
            if th and tw:
                parts.append(pack_conv2d(k[np.ix_(th, tw)]))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


# Winograd F(m x m, 3 x 3) kernel transform G (Lavin & Gray); U = G g G^T per (cin, cout).
WINOGRAD_G = {
    2: np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64),
    4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
}


def pack_winograd(kernel: np.ndarray, m: int) -> np.ndarray:
    """Keras 3x3 kernel (3, 3, cin, cout) -> U = G g G^T in float64, rounded once
    to float32, stored per transform position xi (row-major over the
    (m+2) x (m+2) tile) as panel16: [(m+2)^2][ceil(cout/16)][cin][16]."""
    kh, kw, cin, cout = kernel.shape
    if (kh, kw) != (3, 3) or m not in WINOGRAD_G:
        raise ValueError(f"Winograd F({m}x{m}, 3x3) needs a 3x3 kernel, got {kh}x{kw}")
    g = WINOGRAD_G[m]
    u = np.einsum("ai,ijck,bj->abck", g, np.asarray(kernel, dtype=np.float64), g)  # (a, a, cin, cout)
    a = m + 2
    return np.concatenate([pack_conv2d(u[i, j][None, None].astype(np.float32)) for i in range(a) for j in range(a)])


def as_float32(arr) -> np.ndarray:
    """Weights the kernels read as they are (biases, scales): contiguous float32."""
    return np.ascontiguousarray(arr, dtype=np.float32)
