// RUN: kiln-opt %s --kiln-block-for-cache --split-input-file | FileCheck %s

// The pass reads the cache level of each op's #kiln.lowering_config (written here by hand: it
// chooses nothing) and tiles the op into blocks in cache_order: 256 columns, then 256
// reduction steps, rows innermost. The blocks lose their configs (they have other shapes), and
// so does every other op of a function the pass changed, for kiln-select-lowering-strategy to
// choose again.
// CHECK-LABEL: func.func private @blocked
// CHECK: scf.for {{.*}} step %c256
// CHECK: scf.for {{.*}} step %c256
// CHECK: linalg.matmul ins({{.*}} : memref<1024x256xf32, {{.*}}>, memref<256x256xf32, {{.*}}>) outs({{.*}} : memref<1024x256xf32, {{.*}}>)
// CHECK-NOT: lowering_config
// CHECK: return
func.func private @blocked(%a: memref<1024x1024xf32>, %b: memref<1024x1024xf32>, %c: memref<1024x1024xf32>, %y: memref<1024xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], tiles = [8, 32, 1]>}
      ins(%a, %b : memref<1024x1024xf32>, memref<1024x1024xf32>) outs(%c : memref<1024x1024xf32>)
  %z = arith.constant 0.0 : f32
  linalg.fill {kiln.lowering_config = #kiln.lowering_config<"elementwise", tiles = [16]>} ins(%z : f32) outs(%y : memref<1024xf32>)
  return
}

// -----

// Ragged: 300 columns are a block of 256 and a peeled block of 44, each static.
// CHECK-LABEL: func.func private @ragged
// CHECK: linalg.matmul ins({{.*}} : memref<64x512xf32{{.*}}>, memref<512x256xf32{{.*}}>) outs({{.*}} : memref<64x256xf32{{.*}}>)
// CHECK: linalg.matmul ins({{.*}} : memref<64x512xf32{{.*}}>, memref<512x44xf32{{.*}}>) outs({{.*}} : memref<64x44xf32{{.*}}>)
func.func private @ragged(%a: memref<64x512xf32>, %b: memref<512x300xf32>, %c: memref<64x300xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, cache_tiles = [0, 256, 0], cache_order = [1, 2, 0], tiles = [8, 32, 1]>}
      ins(%a, %b : memref<64x512xf32>, memref<512x300xf32>) outs(%c : memref<64x300xf32>)
  return
}

// -----

// pack_b = [32, 8]: each block is marked for kiln-pack-cache-blocks (pack_cache_blocks.mlir),
// which copies its B into contiguous panels of 32 columns.
// CHECK-LABEL: func.func private @packed
// CHECK: scf.for {{.*}} step %c256
// CHECK: scf.for {{.*}} step %c256
// CHECK: linalg.matmul {kiln.pack_b = array<i64: 32, 8>} ins({{.*}} : memref<64x256xf32, {{.*}}>, memref<256x256xf32, {{.*}}>) outs({{.*}} : memref<64x256xf32, {{.*}}>)
// CHECK-NOT: lowering_config
func.func private @packed(%a: memref<64x512xf32>, %b: memref<512x512xf32>, %c: memref<64x512xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], pack_b = [32, 8], tiles = [8, 32, 1]>}
      ins(%a, %b : memref<64x512xf32>, memref<512x512xf32>) outs(%c : memref<64x512xf32>)
  return
}

// -----

// Nothing to block: the function and its configs are left as they are.
// CHECK-LABEL: func.func private @small
// CHECK: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [8, 32, 1]>}
func.func private @small(%a: memref<64x64xf32>, %b: memref<64x64xf32>, %c: memref<64x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [8, 32, 1]>}
      ins(%a, %b : memref<64x64xf32>, memref<64x64xf32>) outs(%c : memref<64x64xf32>)
  return
}
