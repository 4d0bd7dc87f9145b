// RUN: kiln-opt %s --kiln-pack-matmul-operands="strip=4 min-bytes=128 min-rows=8" | FileCheck %s

// Constant weights are packed at compile time: panel j holds columns 4j..4j+3 of every row.
// CHECK: memref.global "private" constant @weights_packed : memref<2x4x4xf32> = dense<{{\[\[\[}}0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00], [8.000000e+00, 9.000000e+00, 1.000000e+01, 1.100000e+01], [1.600000e+01, 1.700000e+01, 1.800000e+01, 1.900000e+01], [2.400000e+01, 2.500000e+01, 2.600000e+01, 2.700000e+01]], {{\[\[}}4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00]
// The original goes once nothing else reads it; weights read elsewhere too stay.
// CHECK-NOT: memref.global "private" constant @weights
// CHECK-NOT: @weights_packed_
// CHECK: memref.global "private" constant @shared_packed : memref<2x4x4xf32>
// CHECK-NEXT: memref.global "private" constant @shared : memref<4x8xf32>
memref.global "private" constant @weights : memref<4x8xf32> = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0], [16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0], [24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0]]>

memref.global "private" constant @shared : memref<4x8xf32> = dense<1.0>

// B computed at run time: packed into a transient by a transpose of its expanded view; the
// fill moves onto C's expanded view, right before the contraction.
// CHECK-LABEL: func.func @runtime_b
// CHECK: %[[P:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x4x4xf32>
// CHECK: %[[B3:.*]] = memref.expand_shape %arg1 {{\[\[}}0], [1, 2]] output_shape [4, 2, 4]
// CHECK: linalg.transpose ins(%[[B3]] : memref<4x2x4xf32>) outs(%[[P]] : memref<2x4x4xf32>) permutation = [1, 0, 2]
// CHECK: %[[C3:.*]] = memref.expand_shape %arg2 {{\[\[}}0], [1, 2]] output_shape [8, 2, 4]
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%[[C3]] : memref<8x2x4xf32>)
// CHECK-NEXT: linalg.contract indexing_maps = [#[[A:.*]], #[[B:.*]], #[[C:.*]]] ins(%arg0, %[[P]] : memref<8x4xf32>, memref<2x4x4xf32>) outs(%[[C3]] : memref<8x2x4xf32>)
// CHECK-NOT: linalg.matmul
func.func @runtime_b(%a: memref<8x4xf32>, %b: memref<4x8xf32>, %c: memref<8x8xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%c : memref<8x8xf32>)
  linalg.matmul ins(%a, %b : memref<8x4xf32>, memref<4x8xf32>) outs(%c : memref<8x8xf32>)
  return
}

// Two products of the same weights share one packed copy.
// CHECK-LABEL: func.func @constant_b
// CHECK: %[[P:.*]] = memref.get_global @weights_packed : memref<2x4x4xf32>
// CHECK-NOT: linalg.transpose
// CHECK: linalg.contract {{.*}} ins(%arg0, %[[P]] : memref<8x4xf32>, memref<2x4x4xf32>)
// CHECK: memref.get_global @weights_packed : memref<2x4x4xf32>
func.func @constant_b(%a: memref<8x4xf32>, %c: memref<8x8xf32>, %d: memref<8x8xf32>) {
  %b = memref.get_global @weights : memref<4x8xf32>
  linalg.matmul ins(%a, %b : memref<8x4xf32>, memref<4x8xf32>) outs(%c : memref<8x8xf32>)
  %b2 = memref.get_global @weights : memref<4x8xf32>
  linalg.matmul ins(%a, %b2 : memref<8x4xf32>, memref<4x8xf32>) outs(%d : memref<8x8xf32>)
  return
}

// CHECK-LABEL: func.func @shared_b
// CHECK: memref.get_global @shared_packed
// CHECK: memref.get_global @shared :
func.func @shared_b(%a: memref<8x4xf32>, %c: memref<8x8xf32>, %d: memref<4x8xf32>) {
  %b = memref.get_global @shared : memref<4x8xf32>
  linalg.matmul ins(%a, %b : memref<8x4xf32>, memref<4x8xf32>) outs(%c : memref<8x8xf32>)
  %b2 = memref.get_global @shared : memref<4x8xf32>
  memref.copy %b2, %d : memref<4x8xf32> to memref<4x8xf32>
  return
}

// Too small a B (96 bytes), too few rows, or N not whole panels: left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-3: linalg.matmul
// CHECK-NOT: linalg.contract
func.func @left_alone(%a: memref<8x3xf32>, %b: memref<3x8xf32>, %c: memref<8x8xf32>, %a2: memref<4x4xf32>, %b2: memref<4x8xf32>, %c2: memref<4x8xf32>, %b3: memref<4x10xf32>, %c3: memref<8x10xf32>, %a3: memref<8x4xf32>) {
  linalg.matmul ins(%a, %b : memref<8x3xf32>, memref<3x8xf32>) outs(%c : memref<8x8xf32>)
  linalg.matmul ins(%a2, %b2 : memref<4x4xf32>, memref<4x8xf32>) outs(%c2 : memref<4x8xf32>)
  linalg.matmul ins(%a3, %b3 : memref<8x4xf32>, memref<4x10xf32>) outs(%c3 : memref<8x10xf32>)
  return
}
