// RUN: kiln-opt %s --verify-diagnostics --pass-pipeline="builtin.module(func.func(kiln-tile-to-registers))"

// kiln-tile-to-registers chooses nothing: an op of a dispatch without a config is an error.
func.func private @no_config(%a: memref<8x8xf32>, %b: memref<8x8xf32>, %c: memref<8x8xf32>, %wg: index) attributes {kiln.dispatch} {
  // expected-error @+1 {{'linalg.matmul' op has no #kiln.lowering_config: run kiln-select-lowering-strategy first}}
  linalg.matmul ins(%a, %b : memref<8x8xf32>, memref<8x8xf32>) outs(%c : memref<8x8xf32>)
  return
}
