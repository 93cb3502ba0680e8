"""Maintainer script: fits the polynomials in src/act_vec.h (prints C constants).

Weighted least squares on Chebyshev nodes in float64 (close to minimax), then
the fit's worst relative error in float64 and with float32 coefficients.
Needs only numpy and the standard library (math.erfc).
    python tools/fit_act_poly.py
"""

from __future__ import annotations

import math

import numpy as np


def _fit(name: str, var, target, lo: float, hi: float, deg: int, n: int = 4000) -> None:
    """target(v) ~ sum c_i v^i on v in [lo, hi], relative error weighting."""
    k = np.arange(n)
    v = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(np.pi * (k + 0.5) / n)
    t = target(v)
    a = np.vander(v, deg + 1, increasing=True) / t[:, None]
    c, *_ = np.linalg.lstsq(a, np.ones_like(v), rcond=None)
    vv = np.linspace(lo, hi, 200001)
    tt = target(vv)
    e64 = np.max(np.abs(np.polyval(c[::-1], vv) / tt - 1))
    c32 = c.astype(np.float32).astype(np.float64)
    e32 = np.max(np.abs(np.polyval(c32[::-1], vv) / tt - 1))
    print(f"/* {name}: {var} in [{lo}, {hi}], degree {deg}: max rel err {e64:.2e} (float32 coefs {e32:.2e}) */")
    print("    " + ", ".join(f"{x:.9e}f" for x in c[::-1]))


def _fit_rational(name: str, target, hi: float, dp: int, dq: int, n: int = 20000, rounds: int = 60) -> None:
    """target(z) ~ P(z) / Q(z) on z in [0, hi], Q(0) = 1, relative error: the
    linearised P - t Q weighted by 1 / (t Q_previous), with Lawson's reweighting
    towards minimax."""
    k = np.arange(n)
    z = 0.5 * hi * (1 - np.cos(np.pi * (k + 0.5) / n))
    t = target(z)
    q_prev, w = np.ones_like(z), np.ones_like(z)
    for _ in range(rounds):
        a = np.hstack([np.vander(z, dp + 1, increasing=True),
                       -t[:, None] * np.vander(z, dq + 1, increasing=True)[:, 1:]])
        s = (np.sqrt(w) / (t * q_prev))[:, None]
        c, *_ = np.linalg.lstsq(a * s, t * s[:, 0], rcond=None)
        pc, qc = c[:dp + 1], np.concatenate([[1.0], c[dp + 1:]])
        q_prev = np.polyval(qc[::-1], z)
        err = np.abs(np.polyval(pc[::-1], z) / q_prev / t - 1)
        w = w * err
        w /= w.sum()
    zz = np.linspace(0, hi, 400001)
    e64 = np.max(np.abs(np.polyval(pc[::-1], zz) / np.polyval(qc[::-1], zz) / target(zz) - 1))
    print(f"/* {name}: z in [0, {hi:.4g}], degrees {dp}/{dq}: max rel err {e64:.2e} */")
    print("    P: " + ", ".join(f"{x:.9e}f" for x in pc))
    print("    Q: " + ", ".join(f"{x:.9e}f" for x in qc))


def main() -> None:
    # tanh(x) = x P(x^2) / Q(x^2) for |x| <= 9.1 (beyond, tanh rounds to 1 in float32).
    def tanh_over_x(z):
        x = np.sqrt(z)
        return np.where(x < 1e-4, 1 - z / 3, np.tanh(x) / np.where(x == 0, 1, x))
    _fit_rational("tanh x P / Q", tanh_over_x, 9.1 ** 2, 4, 4)
    # tanh(x) = x - x^3 Q(x^2) for |x| < 1; Q(z) = (x - tanh x) / x^3 (also gives tanh_shrink).
    def q(z):
        x = np.sqrt(z)
        out = np.empty_like(z)
        small = x < 1e-3
        out[small] = 1 / 3 - 2 * z[small] / 15
        xs = x[~small]
        out[~small] = (xs - np.tanh(xs)) / xs**3
        return out
    _fit("tanh Q", "z = x^2", q, 0.0, 1.0, 8)
    # Phi(x) - 1/2 = x P(x^2) for |x| <= 1 (normal CDF, gelu's core).
    erf = np.vectorize(math.erf)
    erfc = np.vectorize(math.erfc)

    def p(z):
        x = np.sqrt(z)
        out = np.empty_like(z)
        small = x < 1e-4
        out[small] = 1 / math.sqrt(2 * math.pi) * (1 - z[small] / 6)
        out[~small] = 0.5 * erf(x[~small] / math.sqrt(2)) / x[~small]
        return out
    _fit("Phi P", "z = x^2", p, 0.0, 1.0, 7)
    # Tail: Phi(-t) = exp(-t^2/2) R(t), t = |x| >= 1; R(t) = 0.5 erfc(t/sqrt2) exp(t^2/2).
    def r(t):
        return 0.5 * erfc(t / math.sqrt(2)) * np.exp(t * t / 2)
    _fit("Phi tail R1", "s = t - 1.75", lambda s: r(s + 1.75), -0.75, 0.75, 9)
    _fit("Phi tail R2 (times u)", "u = 1/t", lambda u: r(1 / u) / u, 1 / 15.0, 0.4, 10)


if __name__ == "__main__":
    main()
