// RUN: kiln-opt %s --kiln-drop-unit-batch | FileCheck %s

// A batch of 1 (tosa.matmul): a matmul on collapsed views, its fill on the same view, right
// before it. A batch of 2 is left alone.
// CHECK-LABEL: func.func @unit_batch
// CHECK-DAG: %[[A:.*]] = memref.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : memref<1x8x16xf32> into memref<8x16xf32>
// CHECK-DAG: %[[B:.*]] = memref.collapse_shape %arg1 {{\[\[}}0, 1], [2]] : memref<1x16x32xf32> into memref<16x32xf32>
// CHECK-DAG: %[[C:.*]] = memref.collapse_shape %arg2 {{\[\[}}0, 1], [2]] : memref<1x8x32xf32> into memref<8x32xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[C]] : memref<8x32xf32>)
// CHECK-NEXT: linalg.matmul ins(%[[A]], %[[B]] : memref<8x16xf32>, memref<16x32xf32>) outs(%[[C]] : memref<8x32xf32>)
// CHECK: linalg.batch_matmul {{.*}} memref<2x8x16xf32>
func.func @unit_batch(%a: memref<1x8x16xf32>, %b: memref<1x16x32xf32>, %c: memref<1x8x32xf32>,
                      %a2: memref<2x8x16xf32>, %b2: memref<2x16x32xf32>, %c2: memref<2x8x32xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%c : memref<1x8x32xf32>)
  linalg.batch_matmul ins(%a, %b : memref<1x8x16xf32>, memref<1x16x32xf32>) outs(%c : memref<1x8x32xf32>)
  linalg.batch_matmul ins(%a2, %b2 : memref<2x8x16xf32>, memref<2x16x32xf32>) outs(%c2 : memref<2x8x32xf32>)
  return
}

// B a slice of a padded constant (kiln-pad-constant-rows): strided rows still collapse.
// CHECK-LABEL: func.func @strided_b
// CHECK: %[[B:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : memref<1x16x32xf32, strided<[768, 48, 1]>> into memref<16x32xf32, strided<[48, 1]>>
// CHECK: linalg.matmul ins(%{{.*}}, %[[B]] : memref<8x16xf32>, memref<16x32xf32, strided<[48, 1]>>)
func.func @strided_b(%a: memref<1x8x16xf32>, %padded: memref<1x16x48xf32>, %c: memref<1x8x32xf32>) {
  %b = memref.subview %padded[0, 0, 0] [1, 16, 32] [1, 1, 1] : memref<1x16x48xf32> to memref<1x16x32xf32, strided<[768, 48, 1]>>
  linalg.batch_matmul ins(%a, %b : memref<1x8x16xf32>, memref<1x16x32xf32, strided<[768, 48, 1]>>) outs(%c : memref<1x8x32xf32>)
  return
}
