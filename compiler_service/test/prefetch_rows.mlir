// RUN: kiln-opt %s --kiln-prefetch-rows | FileCheck %s

// A few-row tile reading rows [k, k+4) of B at columns [n, n+32): with prefetch_b_rows = 4 it
// first prefetches rows k+4 .. k+7 (clamped to B's last row), one prefetch per 64-byte line of
// the tile's columns, and keeps its config for the vectorizer.
// CHECK-LABEL: func.func private @tile
// CHECK: %[[DIM:.*]] = memref.dim %arg1, %c0
// CHECK: %[[LAST:.*]] = arith.subi %[[DIM]], %c1
// CHECK: %[[AHEAD:.*]] = arith.addi %arg3, %c4
// CHECK: %[[ROW:.*]] = arith.minsi %[[AHEAD]], %[[LAST]]
// CHECK: %[[N0:.*]] = arith.addi %arg4, %c0
// CHECK: memref.prefetch %arg1[%[[ROW]], %[[N0]]], read, locality<2>, data
// CHECK: %[[N16:.*]] = arith.addi %arg4, %c16
// CHECK: memref.prefetch %arg1[%[[ROW]], %[[N16]]], read, locality<2>, data
// CHECK-COUNT-6: memref.prefetch %arg1
// CHECK-NOT: memref.prefetch
// CHECK: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = few_rows, tiles = [1, 32, 4], vector_sizes = [1, 32, 4], prefetch_b_rows = 4, named_contraction>}
func.func private @tile(%a: memref<1x1031xf32>, %b: memref<1031x256xf32>, %c: memref<1x256xf32>, %k: index, %n: index, %wg: index) attributes {kiln.dispatch} {
  %av = memref.subview %a[0, %k] [1, 4] [1, 1] : memref<1x1031xf32> to memref<1x4xf32, strided<[1031, 1], offset: ?>>
  %bv = memref.subview %b[%k, %n] [4, 32] [1, 1] : memref<1031x256xf32> to memref<4x32xf32, strided<[256, 1], offset: ?>>
  %cv = memref.subview %c[0, %n] [1, 32] [1, 1] : memref<1x256xf32> to memref<1x32xf32, strided<[256, 1], offset: ?>>
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = few_rows, tiles = [1, 32, 4], vector_sizes = [1, 32, 4], prefetch_b_rows = 4, named_contraction>}
      ins(%av, %bv : memref<1x4xf32, strided<[1031, 1], offset: ?>>, memref<4x32xf32, strided<[256, 1], offset: ?>>) outs(%cv : memref<1x32xf32, strided<[256, 1], offset: ?>>)
  return
}

// Without prefetch_b_rows in its config a tile gets no prefetch.
// CHECK-LABEL: func.func private @no_prefetch
// CHECK-NOT: memref.prefetch
// CHECK: linalg.matmul
func.func private @no_prefetch(%a: memref<1x4xf32>, %b: memref<4x32xf32>, %c: memref<1x32xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = few_rows, tiles = [1, 32, 4], vector_sizes = [1, 32, 4], named_contraction>}
      ins(%a, %b : memref<1x4xf32>, memref<4x32xf32>) outs(%c : memref<1x32xf32>)
  return
}
