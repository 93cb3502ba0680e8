#!/usr/bin/env bash
# Runs tests/c/act_isa_check.c: every SIMD activation path against the generic
# path. Natively (x86: AVX2 / AVX-512 as the CPU has them), then for aarch64
# (NEON) under qemu-aarch64-static when gcc-aarch64-linux-gnu and qemu are
# installed (skipped with a message otherwise). Fails when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
SRC="tests/c/act_isa_check.c src/act.c src/act_generic.c src/act_avx2.c src/act_avx512.c src/act_neon.c src/dispatch.c src/ukernel_generic.c src/ukernel_avx2.c src/ukernel_avx512.c src/ukernel_neon.c src/weights.c"
FLAGS="-O2 -std=c11 -fno-math-errno -fopenmp -Wall -Werror -Wno-unused-function -Isrc"
${CC:-gcc} $FLAGS $SRC -o "$out/native" -lm
"$out/native"
# the 1-lane generic form (compilers without vector extensions) against the same SIMD paths
${CC:-gcc} $FLAGS -DPCI_ACT_GENERIC_SCALAR $SRC -o "$out/native_scalar" -lm
"$out/native_scalar"
CC_ARM=${CC_ARM:-aarch64-linux-gnu-gcc}
if command -v "$CC_ARM" >/dev/null 2>&1 && command -v qemu-aarch64-static >/dev/null 2>&1; then
  "$CC_ARM" $FLAGS -static $SRC -o "$out/arm" -lm
  qemu-aarch64-static "$out/arm"
else
  echo "check_act_isa: $CC_ARM or qemu-aarch64-static not available, NEON run skipped"
fi
