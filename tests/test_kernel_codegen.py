"""What the compiler made of the AVX-512 and AVX2 GEMM micro-kernels (not a timing: the machine code).

Their 6 x 4 accumulators must stay in vector registers. Written as an array, GCC kept
them on the stack and every call stored and reloaded all of them around the main loop
(46 to 189 vector moves to or from %rsp per kernel; 40% of a call with K = 16 on an AMD EPYC Zen 4), which
no result test notices. This reads the built extension's disassembly (objdump, x86-64)
and counts the kernels' vector moves to or from the stack: 0 for most, 2 to 6 for a few today.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess

import pytest

from pyconvinfer import _kernels

KERNELS = ([f"ukernel_avx512{dt}_6x{p}" for dt in ("", "_f16", "_bf16", "_i8") for p in (1, 2, 4)]
           + [f"ukernel_avx512_{r}x{p}" for r in range(1, 6) for p in (1, 2, 4)]  # partial last tiles
           + [f"ukernel_avx2{dt}_6x{p}" for dt in ("", "_f16", "_bf16", "_i8") for p in (1, 2, 4)]
           + [f"ukernel_avx2_{r}x{p}" for r in range(1, 6) for p in (1, 2, 4)])  # P panels of 16 channels
STACK_VECTOR = re.compile(r"[yz]mm\d+,.*\(%rsp\)|\(%rsp\).*,%[yz]mm\d+")
LIMIT = 4  # a few are the compiler's business; the array version had 46 to 189
# AVX2 int8: 12 accumulators, 2 weight vectors, a broadcast and 2 channel-scale vectors are 17
# values for 16 ymm registers: one scale is read from the stack as a memory operand and the
# store masks wait there (6 or 7 moves today; spilled accumulators would be 24 or more per k step).
LIMITS = {f"ukernel_avx2_i8_6x{p}": 8 for p in (1, 2, 4)}


def _disassembly() -> dict[str, list[str]]:
    objdump = shutil.which("objdump")
    if objdump is None or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs objdump on x86-64")
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", _kernels.__file__], capture_output=True, text=True,
                         check=True).stdout
    functions: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        head = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if head:
            current = functions.setdefault(head.group(1), [])
        elif current is not None:
            current.append(line)
    return functions


def test_x86_gemm_kernels_keep_their_accumulators_in_registers() -> None:
    functions = _disassembly()
    missing = [k for k in KERNELS if k not in functions]
    if len(missing) == len(KERNELS):
        pytest.skip("the extension has no symbols for its static functions (stripped build)")
    assert not missing, f"kernels not found in the disassembly: {missing}"
    spills = {k: sum(bool(STACK_VECTOR.search(line)) for line in functions[k]) for k in KERNELS}
    assert all(n <= LIMITS.get(k, LIMIT) for k, n in spills.items()), (
        f"vector moves to or from the stack per kernel (at most {LIMIT}, {LIMITS}): {spills}; "
        "src/ukernel_avx512.c keeps its accumulators in named variables for this "
        "(src/ukernel_avx2.c: constant trip counts)")
