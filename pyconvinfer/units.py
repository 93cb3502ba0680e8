"""Human units for the CLI and reports: one family for sizes (KiB, MiB, GiB)
and times from ns to s, so every command prints them the same way."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; binary units everywhere (the mapping and arenas are page-sized)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def format_time(seconds: float) -> str:
    """0.2863915 -> '286.4 ms'; 3.2e-05 -> '32.0 us'; 12.5 -> '12.50 s'."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    for unit, scale in (("ms", 1e3), ("us", 1e6)):
        if seconds * scale >= 1:
            return f"{seconds * scale:.1f} {unit}"
    return f"{seconds * 1e9:.0f} ns"
