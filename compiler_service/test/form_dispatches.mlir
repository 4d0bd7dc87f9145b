// RUN: kiln-opt %s --kiln-form-dispatches --split-input-file | FileCheck %s

// A fill that initializes the matmul's output joins its dispatch; the elementwise op that
// follows gets its own. Views are recomputed inside, the host keeps buffers and calls.
// CHECK-LABEL: func.func private @main__dispatch_0
// CHECK-SAME: (%[[T:.*]]: memref<4x16xf32>, %[[X:.*]]: memref<4x8xf32>, %[[W:.*]]: memref<8x16xf32>, %{{.*}}: index)
// CHECK-SAME: kiln.dispatch
// CHECK-SAME: kiln.workgroup_count = array<i64: 1, 1, 1>
// CHECK: linalg.fill {{.*}} outs(%[[T]]
// CHECK: linalg.matmul ins(%[[X]], %[[W]] {{.*}} outs(%[[T]]
// CHECK-LABEL: func.func private @main__dispatch_1
// CHECK: memref.collapse_shape
// CHECK: linalg.generic
// CHECK-LABEL: func.func @main
// CHECK: %[[G:.*]] = memref.get_global @w
// CHECK: %[[A:.*]] = memref.alloc() : memref<4x16xf32>
// CHECK: call @main__dispatch_0(%[[A]], %arg0, %[[G]], %{{.*}}) {kiln.dispatch}
// CHECK: call @main__dispatch_1(%[[A]], %arg1, %{{.*}}) {kiln.dispatch}
// CHECK-NOT: linalg.
// CHECK-NOT: memref.dealloc
// CHECK: return
memref.global "private" constant @w : memref<8x16xf32> = dense<1.0>
func.func @main(%x: memref<4x8xf32>, %out: memref<64xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = memref.get_global @w : memref<8x16xf32>
  %t = memref.alloc() : memref<4x16xf32>
  linalg.fill ins(%zero : f32) outs(%t : memref<4x16xf32>)
  linalg.matmul ins(%x, %w : memref<4x8xf32>, memref<8x16xf32>) outs(%t : memref<4x16xf32>)
  %flat = memref.collapse_shape %t [[0, 1]] : memref<4x16xf32> into memref<64xf32>
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%flat : memref<64xf32>) outs(%out : memref<64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  }
  memref.dealloc %t : memref<4x16xf32>
  return
}

// -----

// memref.copy becomes a linalg.copy dispatch.
// CHECK-LABEL: func.func private @copy__dispatch_0
// CHECK: linalg.copy
// CHECK-LABEL: func.func @copy
// CHECK-NOT: memref.copy
func.func @copy(%x: memref<8xf32>, %out: memref<8xf32>) {
  memref.copy %x, %out : memref<8xf32> to memref<8xf32>
  return
}
