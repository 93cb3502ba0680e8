#!/usr/bin/env bash
# The C kernels under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   bash tools/sanitize.sh                 # build into .asan/, run the kernel and model tests
#   bash tools/sanitize.sh tests/test_x.py # other test files instead
#
# Builds a copy of the tree in ${ASAN_DIR:-.asan}/src with gcc -fsanitize=address,undefined
# (-fno-sanitize-recover: any UB report aborts; ASan aborts on its first report), so the
# normal in-place build is untouched. Python itself is not instrumented: libasan is
# preloaded (LD_PRELOAD) and leak detection is off (CPython's own allocations at exit
# are not ours). The tests import the sanitized package (checked before they run).
# test_kernels.py runs every ISA path this CPU has (generic, avx2, avx512 are
# parametrized over _kernels.available_isas()). Fails when a test fails or a
# sanitizer reports anything. Needs the python of an environment with numpy, Cython,
# setuptools, h5py and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${ASAN_DIR:-$ROOT/.asan}
PY=${PYTHON:-python}
TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then
  TESTS=(tests/test_kernels.py tests/test_winograd.py tests/test_elementwise_ops.py tests/test_layout_ops.py
         tests/test_conformance.py tests/test_runtime.py tests/test_int8_compute.py tests/test_uint8_tensors.py)
fi

CC=${CC:-gcc}
LIBASAN=$($CC -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "sanitize: $CC has no libasan.so ($LIBASAN)" >&2; exit 1; }

# 1. A copy of the tracked files (as they are in the working tree), built in place there.
rm -rf "$DIR/src"
mkdir -p "$DIR/src"
git ls-files -z --cached | grep -zv '^tools/fuzz/corpus/' \
  | (cd "$ROOT" && xargs -0 cp --parents -t "$DIR/src")
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
(cd "$DIR/src" && CC=$CC CFLAGS="$SAN" LDFLAGS="$SAN" "$PY" setup.py -q build_ext --inplace >"$DIR/build.log" 2>&1) \
  || { tail -n 30 "$DIR/build.log" >&2; echo "sanitize: build failed (log: $DIR/build.log)" >&2; exit 1; }

# 2. The tests, against that build, with the runtime preloaded.
export LD_PRELOAD="$LIBASAN"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$DIR/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$DIR/ubsan"
rm -f "$DIR"/asan.* "$DIR"/ubsan.*
cd "$DIR/src"
export PYTHONPATH="$DIR/src${PYTHONPATH:+:$PYTHONPATH}"  # subprocesses of the tests use this build too
"$PY" -c "
import pyconvinfer, pyconvinfer._kernels as k
assert pyconvinfer.__file__.startswith('$DIR/src/'), pyconvinfer.__file__
print('sanitized build:', pyconvinfer.__file__, '| ISA paths:', ', '.join(k.available_isas()))"
status=0
"$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" || status=$?

# 3. Any report fails the run, even one the test process survived (a report in a worker, say).
reports=$(ls "$DIR"/asan.* "$DIR"/ubsan.* 2>/dev/null || true)
if [ -n "$reports" ]; then
  for r in $reports; do echo "== $r" >&2; head -n 60 "$r" >&2; done
  echo "sanitize: sanitizer reports above" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitize: tests failed (status $status)" >&2
  exit "$status"
fi
echo "sanitize: clean (${TESTS[*]})"
