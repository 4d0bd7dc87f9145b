#!/usr/bin/env bash
# Per-dispatch overhead of both execution models: a 20-dispatch function whose kernels are
# trivial (benchmarks/chain20.mlir), compiled for each model and timed with kiln-benchmark.
# It compiles to 40 dispatches (a fill and a matmul per step): divide the time by 40.
set -euo pipefail
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
inputs=(--input "4x4xf32=$(printf '0.5,%.0s' {1..15})0.5" --input "4x4xf32=$(printf '0.25,%.0s' {1..15})0.25")
for model in inline-dynamic async; do
  "$build/compiler_service/kiln-compile" --execution-model=$model benchmarks/chain20.mlir \
      -o "$tmp/chain20-$model.kmod" >/dev/null
  device=local-sync
  [ "$model" = async ] && device=local-task
  "$build/runtime_service/tools/kiln-benchmark" --module "$tmp/chain20-$model.kmod" \
      --function main "${inputs[@]}" --device $device --workers 1 \
      --benchmark_filter="invoke" --benchmark_min_time=0.5
done
