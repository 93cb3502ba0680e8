"""What the compiler made of the AVX-512 GEMM micro-kernels (not a timing: the machine code).

Their 6 x 4 accumulators must stay in vector registers. Written as an array, GCC kept
them on the stack and every call stored and reloaded all of them around the main loop
(46 to 189 vector moves to or from %rsp per kernel; 40% of a call with K = 16 on an AMD EPYC Zen 4), which
no result test notices. This reads the built extension's disassembly (objdump, x86-64)
and counts the kernels' vector moves to or from the stack: 0 for most, 2 for one today.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess

import pytest

from pyconvinfer import _kernels

KERNELS = [f"ukernel_avx512{dt}_6x{p}" for dt in ("", "_f16", "_bf16", "_i8") for p in (1, 2, 4)]
STACK_VECTOR = re.compile(r"zmm\d+,.*\(%rsp\)|\(%rsp\).*,%zmm\d+")
LIMIT = 4  # a few are the compiler's business; the array version had 46 to 189


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


def test_avx512_gemm_kernels_keep_their_accumulators_in_registers() -> None:
    functions = _disassembly()
    missing = [k for k in KERNELS if k not in functions]
    if len(missing) == len(KERNELS):
        pytest.skip("the extension has no symbols for its static functions (stripped build)")
    assert not missing, f"kernels not found in the disassembly: {missing}"
    spills = {k: sum(bool(STACK_VECTOR.search(line)) for line in functions[k]) for k in KERNELS}
    assert all(n <= LIMIT for n in spills.values()), (
        f"vector moves to or from the stack per kernel (at most {LIMIT}): {spills}; src/ukernel_avx512.c keeps "
        "its accumulators in named variables for this")
