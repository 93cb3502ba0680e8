#!/usr/bin/env bash
# The kernel tests on 64-bit ARM, under emulation, and on every x86 path here.
#
# 1. Every C file compiles for aarch64 with -Werror (tools/check_arm_build.sh).
# 2. tools/make_kernel_cases.py replays the pytest kernel tests on this machine
#    and writes their cases: inputs, packed weights, and the per-element bounds
#    of the tests' own tolerances (float64 references). The full set, and a
#    quick set without the ~50 largest cases (>5e6 multiply-adds each) for the
#    emulator.
# 3. tests/c/kernel_harness.c, built natively, runs the full set on every path
#    this CPU has (generic, avx2, avx512) at 1, 2 and 3 threads.
# 4. The same harness cross-built (aarch64-linux-gnu-gcc -static -fopenmp) runs
#    the quick set under qemu-aarch64-static on generic and neon, at 1, 2 and 3
#    threads; it fails unless NEON is there and is the default path.
# Fails when any case fails. Needs python with numpy, pytest and pyconvinfer
# importable (installed, or built in place), gcc, and Debian's
# gcc-aarch64-linux-gnu and qemu-user-static (installed here when run as root
# with apt; otherwise a clear error). PCI_CHECK_ARM_KEEP=DIR keeps the files.
set -euo pipefail
cd "$(dirname "$0")/.."
CC_ARM=${CC_ARM:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_ARM:-qemu-aarch64-static}
PY=${PYTHON:-python}

if ! command -v "$CC_ARM" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "check_arm: installing gcc-aarch64-linux-gnu and qemu-user-static"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-aarch64-linux-gnu qemu-user-static >/dev/null
  fi
fi
for tool in "$CC_ARM" "$QEMU" gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check_arm: $tool not found (Debian: apt-get install gcc-aarch64-linux-gnu qemu-user-static)" >&2
    exit 1
  fi
done

out=${PCI_CHECK_ARM_KEEP:-$(mktemp -d)}
mkdir -p "$out"
[ -n "${PCI_CHECK_ARM_KEEP:-}" ] || trap 'rm -rf "$out"' EXIT
t0=$(date +%s)

# 1. Compile check (all warnings are errors).
CC_ARM=$CC_ARM bash tools/check_arm_build.sh

# 2. Cases from the pytest kernel tests.
"$PY" tools/make_kernel_cases.py "$out/cases.bin" --quick-out "$out/cases_quick.bin"
t1=$(date +%s)

# The kernels with setup.py's flags (never -ffast-math), the harness, libm.
srcs=()
for f in src/*.c; do
  [ "$f" = src/_kernels.c ] || srcs+=("$f")  # _kernels.c is Cython's output, needs Python
done
flags=(-O3 -std=c11 -fno-math-errno -fopenmp -Wall -Werror -Wno-unused-function -Isrc)

# 3. Native: every x86 path of this CPU.
gcc "${flags[@]}" tests/c/kernel_harness.c "${srcs[@]}" -lm -o "$out/harness_native"
"$out/harness_native" "$out/cases.bin"
t2=$(date +%s)

# 4. aarch64 under emulation: generic and NEON.
"$CC_ARM" "${flags[@]}" -static tests/c/kernel_harness.c "${srcs[@]}" -lm -o "$out/harness_arm64" 2>"$out/ld.log" \
  || { cat "$out/ld.log" >&2; exit 1; }
file_kind=$(od -An -tx1 -j18 -N2 "$out/harness_arm64" | tr -d ' ')
[ "$file_kind" = b700 ] || { echo "check_arm: harness_arm64 is not an aarch64 ELF (e_machine $file_kind)" >&2; exit 1; }
"$QEMU" "$out/harness_arm64" "$out/cases_quick.bin" --require neon --default neon
t3=$(date +%s)
echo "check_arm: passed (cases $((t1 - t0)) s, native $((t2 - t1)) s, aarch64 under qemu $((t3 - t2)) s)"
