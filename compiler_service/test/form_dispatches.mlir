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

// -----

// A buffer read inside the region (a gather's table, indexed by loaded ids) becomes a binding
// of the dispatch like the operands; the view of it is recomputed inside.
// CHECK-LABEL: func.func private @gather__dispatch_0
// CHECK-SAME: (%[[IDS:.*]]: memref<6xi32>, %[[OUT:.*]]: memref<6x8xf32>, %[[TABLE:.*]]: memref<1x50x8xf32>, %{{.*}}: index)
// CHECK: %[[VIEW:.*]] = memref.collapse_shape %[[TABLE]]
// CHECK: linalg.generic
// CHECK: memref.load %[[VIEW]]
// CHECK-LABEL: func.func @gather
// CHECK: %[[G:.*]] = memref.get_global @table
// CHECK: call @gather__dispatch_0(%arg0, %arg1, %[[G]], %{{.*}}) {kiln.dispatch}
memref.global "private" constant @table : memref<1x50x8xf32> = dense<1.0>
func.func @gather(%ids: memref<6xi32>, %out: memref<6x8xf32>) {
  %t = memref.get_global @table : memref<1x50x8xf32>
  %v = memref.collapse_shape %t [[0, 1], [2]] : memref<1x50x8xf32> into memref<50x8xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%ids : memref<6xi32>) outs(%out : memref<6x8xf32>) {
  ^bb0(%id: i32, %o: f32):
    %row = arith.index_cast %id : i32 to index
    %col = linalg.index 1 : index
    %x = memref.load %v[%row, %col] : memref<50x8xf32>
    linalg.yield %x : f32
  }
  return
}

// -----

// A convolution with its bias broadcast before and its activation and the copy into the next
// convolution's padded buffer after: one dispatch. The op after that reads the activation
// transposed (not the element it writes): a dispatch of its own.
// CHECK-LABEL: func.func private @epilogue__dispatch_0
// CHECK-SAME: (%[[B:.*]]: memref<8xf32>, %[[T:.*]]: memref<1x4x4x8xf32>, %[[X:.*]]: memref<1x6x6x4xf32>, %[[W:.*]]: memref<3x3x4x8xf32>, %[[P:.*]]: memref<1x6x6x8xf32>, %{{.*}}: index)
// CHECK: %[[I:.*]] = memref.subview %[[P]][0, 1, 1, 0] [1, 4, 4, 8] [1, 1, 1, 1]
// CHECK: linalg.generic {{.*}} ins(%[[B]] : memref<8xf32>) outs(%[[T]] : memref<1x4x4x8xf32>)
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%[[X]], %[[W]] : {{.*}}) outs(%[[T]] : memref<1x4x4x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[T]] : memref<1x4x4x8xf32>) outs(%[[T]] : memref<1x4x4x8xf32>)
// CHECK: linalg.copy ins(%[[T]] : memref<1x4x4x8xf32>) outs(%[[I]]
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @epilogue__dispatch_1
// CHECK: linalg.transpose
// CHECK-LABEL: func.func @epilogue
// CHECK-COUNT-2: call @epilogue__dispatch_
// CHECK-NOT: call
#bias = affine_map<(n, h, w, c) -> (c)>
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
func.func @epilogue(%x: memref<1x6x6x4xf32>, %w: memref<3x3x4x8xf32>, %b: memref<8xf32>, %p: memref<1x6x6x8xf32>, %y: memref<1x4x4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %t = memref.alloc() : memref<1x4x4x8xf32>
  linalg.generic {indexing_maps = [#bias, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%b : memref<8xf32>) outs(%t : memref<1x4x4x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : memref<1x6x6x4xf32>, memref<3x3x4x8xf32>) outs(%t : memref<1x4x4x8xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t : memref<1x4x4x8xf32>) outs(%t : memref<1x4x4x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = arith.maximumf %in, %zero : f32
    linalg.yield %r : f32
  }
  %interior = memref.subview %p[0, 1, 1, 0] [1, 4, 4, 8] [1, 1, 1, 1] : memref<1x6x6x8xf32> to memref<1x4x4x8xf32, strided<[288, 48, 8, 1], offset: 56>>
  memref.copy %t, %interior : memref<1x4x4x8xf32> to memref<1x4x4x8xf32, strided<[288, 48, 8, 1], offset: 56>>
  linalg.transpose ins(%t : memref<1x4x4x8xf32>) outs(%y : memref<1x4x4x8xf32>) permutation = [0, 2, 1, 3]
  return
}

// -----

// An activation written into the buffer the convolution reads (bufferization reuses a dead
// input's buffer) stays out: split into workgroups, it would overwrite rows that other
// workgroups still read.
// CHECK-LABEL: func.func private @reuse__dispatch_0
// CHECK: linalg.conv_2d_nhwc_hwcf
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @reuse__dispatch_1
// CHECK: linalg.generic
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
func.func @reuse(%x: memref<1x6x6x8xf32>, %w: memref<3x3x8x8xf32>, %t: memref<1x4x4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%t : memref<1x4x4x8xf32>)
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : memref<1x6x6x8xf32>, memref<3x3x8x8xf32>) outs(%t : memref<1x4x4x8xf32>)
  %view = memref.subview %x[0, 0, 0, 0] [1, 4, 4, 8] [1, 1, 1, 1] : memref<1x6x6x8xf32> to memref<1x4x4x8xf32, strided<[288, 48, 8, 1]>>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t : memref<1x4x4x8xf32>) outs(%view : memref<1x4x4x8xf32, strided<[288, 48, 8, 1]>>) {
  ^bb0(%in: f32, %o: f32):
    %r = arith.maximumf %in, %zero : f32
    linalg.yield %r : f32
  }
  return
}
