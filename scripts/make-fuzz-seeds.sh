#!/usr/bin/env bash
# Regenerates the checked-in seed corpora of the fuzz targets (<dir>/testdata/fuzz/<target>/)
# from a normal build: builds the fixtures and tools they come from, compiles three small modules
# with kiln-compile (for a baseline x86-64 CPU, so that the seeds load on any x86-64 host) and
# runs kiln_make_fuzz_seeds (runtime_service/testing/make_fuzz_seeds.cc). The compiler's MLIR
# seeds (compiler_service/testdata/fuzz/compile_input) are hand-written text.
#   scripts/make-fuzz-seeds.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cmake --build "$build" --target kiln_make_fuzz_seeds kiln_make_test_module kiln-compile \
  kiln_test_elf kiln_test_elf_missing_import kiln_test_library
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mlir=compiler_service/testdata/fuzz/compile_input
"$build/runtime_service/tools/kiln_make_test_module" "$tmp/test_library.kmod" \
  "$build/runtime_service/libkiln_test_library.so"
compile() { "$build/compiler_service/kiln-compile" --target-cpu x86-64 "$@" >/dev/null; }
compile "$mlir/linalg_matmul.mlir" -o "$tmp/matmul_embedded_async.kmod" --execution-model async
compile "$mlir/tosa_ops.mlir" -o "$tmp/tosa_inline.kmod" --execution-model inline-dynamic
compile "$mlir/linalg_matmul.mlir" -o "$tmp/matmul_system_library.kmod" \
  --executable-format system-library

"$build/runtime_service/kiln_make_fuzz_seeds" . \
  "$build/runtime_service/libkiln_test_elf.so" \
  "$build/runtime_service/libkiln_test_elf_missing_import.so" \
  "$build/runtime_service/libkiln_test_library.so" \
  "$tmp/test_library.kmod" "$tmp/matmul_embedded_async.kmod" "$tmp/tosa_inline.kmod" \
  "$tmp/matmul_system_library.kmod"
du -ch */testdata/fuzz */*/testdata/fuzz | tail -1
