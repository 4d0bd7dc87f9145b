#!/usr/bin/env bash
# The sanitizer suites of .ci/run, each in its own build directory:
#   scripts/sanitize.sh address [DIR]   ASan+UBSan (default DIR build-asan): the MLIR-free half —
#                                       tensors/.npy, module file, loaders, runtime, HAL, worker
#                                       pool, artifact store, metrics, CLI output (tests labelled asan)
#   scripts/sanitize.sh thread [DIR]    TSan (default DIR build-tsan): the HAL conformance suite,
#                                       both execution models, the worker pool, the batcher (label tsan)
# The compiler (LLVM/MLIR, not instrumented) stays out: its suites run in the plain build.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  address) label=asan ;;
  thread) label=tsan ;;
  *) echo "usage: $0 address|thread [BUILD_DIR]" >&2; exit 2 ;;
esac
dir=${2:-build-$label}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE="$1" >/dev/null
cmake --build "$dir" --target "kiln_${label}_tests"
# Findings fail the test: UBSan does not recover (CMakeLists.txt), ASan and TSan stop at the
# first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
ctest --test-dir "$dir" -L "^${label}\$" --output-on-failure
