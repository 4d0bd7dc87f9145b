// RUN: kiln-opt %s --pass-pipeline="builtin.module(func.func(kiln-select-lowering-strategy{level=workgroup}),kiln-distribute-workgroups)" | FileCheck %s
// RUN: kiln-opt %s --pass-pipeline="builtin.module(func.func(kiln-select-lowering-strategy{level=workgroup vector-bits=256}),kiln-distribute-workgroups)" | FileCheck %s --check-prefix=AVX2

// 256 rows over 16 workgroups of 16 rows; the fill is split the same way as the matmul. The
// workgroup level stays in each op's lowering config, for code generation to complete.
// CHECK-LABEL: func.func private @f__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 16, 1, 1>
// CHECK: %[[OFF:.*]] = arith.muli %arg3, %c16
// CHECK: memref.subview %arg2[%[[OFF]], 0] [16, 256] [1, 1]
// CHECK: linalg.fill {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0]>}
// CHECK: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0, 0]>} {{.*}} memref<16x256xf32
func.func private @f__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%c : memref<256x256xf32>)
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
// Inline functions keep one workgroup per dispatch, and their ops no workgroup level.
// CHECK-LABEL: func.func private @g__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 1, 1, 1>
// CHECK-NOT: lowering_config
// CHECK: linalg.matmul ins({{.*}} outs(%arg2 : memref<256x256xf32>)
func.func private @g__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
func.func @f(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @f__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}
func.func @g(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) attributes {kiln.execution_model = "inline-dynamic"} {
  %c0 = arith.constant 0 : index
  call @g__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}

// A convolution splits by output rows (14 workgroups of 4), not into 16 slivers of 4 output
// channels that no vector register tile fits.
// CHECK-LABEL: func.func private @conv__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 14, 1, 1>
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} outs({{.*}} : memref<1x4x56x64xf32
func.func private @conv__dispatch_0(%x: memref<1x58x58x64xf32>, %w: memref<3x3x64x64xf32>, %y: memref<1x56x56x64xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.conv_2d_nhwc_hwcf ins(%x, %w : memref<1x58x58x64xf32>, memref<3x3x64x64xf32>) outs(%y : memref<1x56x56x64xf32>)
  return
}
func.func @conv(%x: memref<1x58x58x64xf32>, %w: memref<3x3x64x64xf32>, %y: memref<1x56x56x64xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @conv__dispatch_0(%x, %w, %y, %c0) {kiln.dispatch} : (memref<1x58x58x64xf32>, memref<3x3x64x64xf32>, memref<1x56x56x64xf32>, index) -> ()
  return
}

// An elementwise dispatch (a residual add and ReLU) splits by rows (14 workgroups of 4), not
// into 16 slices of 16 channels: each would read a 64-byte piece of every 1 KB pixel.
// CHECK-LABEL: func.func private @add_relu__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 14, 1, 1>
// CHECK: linalg.generic {{.*}} outs({{.*}} : memref<1x4x56x256xf32
#nhwc = affine_map<(n, h, w, c) -> (n, h, w, c)>
func.func private @add_relu__dispatch_0(%a: memref<1x56x56x256xf32>, %b: memref<1x56x56x256xf32>, %y: memref<1x56x56x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#nhwc, #nhwc, #nhwc], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%a, %b : memref<1x56x56x256xf32>, memref<1x56x56x256xf32>) outs(%y : memref<1x56x56x256xf32>) {
  ^bb0(%x: f32, %r: f32, %o: f32):
    %s = arith.addf %x, %r : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  }
  return
}
func.func @add_relu(%a: memref<1x56x56x256xf32>, %b: memref<1x56x56x256xf32>, %y: memref<1x56x56x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @add_relu__dispatch_0(%a, %b, %y, %c0) {kiln.dispatch} : (memref<1x56x56x256xf32>, memref<1x56x56x256xf32>, memref<1x56x56x256xf32>, index) -> ()
  return
}

// For AVX2 (vector-bits=256) register tiles are 6 rows by 16 columns: 256 rows never split
// into whole 6-row tiles, so the columns split instead, 16 workgroups of 16 columns.
// AVX2-LABEL: func.func private @f__dispatch_0
// AVX2-SAME: kiln.workgroup_count = array<i64: 16, 1, 1>
// AVX2: %[[OFF:.*]] = arith.muli %arg3, %c16
// AVX2: memref.subview %arg2[0, %[[OFF]]] [256, 16] [1, 1]
// AVX2: linalg.matmul {{.*}} memref<256x16xf32

// A vector times a matrix is split into column slices of at least 1 KB (256 f32) per row of
// B, not 16 slivers of 64 columns each on a new page every row: 4 workgroups of 256.
// CHECK-LABEL: func.func private @vecmat__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 4, 1, 1>
// CHECK: linalg.matmul {{.*}} memref<1x256xf32
func.func private @vecmat__dispatch_0(%a: memref<1x513xf32>, %b: memref<513x1024xf32>, %c: memref<1x1024xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul ins(%a, %b : memref<1x513xf32>, memref<513x1024xf32>) outs(%c : memref<1x1024xf32>)
  return
}
func.func @vecmat(%a: memref<1x513xf32>, %b: memref<513x1024xf32>, %c: memref<1x1024xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @vecmat__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<1x513xf32>, memref<513x1024xf32>, memref<1x1024xf32>, index) -> ()
  return
}

// Rows and columns both split into 8 aligned workgroups: the split that re-reads the smaller
// operand wins. By rows every workgroup would read all of B (2 MB); by columns, all of A
// (512 KB) and a 256 KB strip of B.
// CHECK-LABEL: func.func private @deep__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 8, 1, 1>
// CHECK: %[[OFF:.*]] = arith.muli %arg3, %c32
// CHECK: linalg.matmul {{.*}} memref<2048x32xf32, strided<[256, 1], offset: ?>>
func.func private @deep__dispatch_0(%a: memref<64x2048xf32>, %b: memref<2048x256xf32>, %c: memref<64x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul ins(%a, %b : memref<64x2048xf32>, memref<2048x256xf32>) outs(%c : memref<64x256xf32>)
  return
}
func.func @deep(%a: memref<64x2048xf32>, %b: memref<2048x256xf32>, %c: memref<64x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @deep__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<64x2048xf32>, memref<2048x256xf32>, memref<64x256xf32>, index) -> ()
  return
}

// A matmul with its bias before and a residual add into another buffer after: every op is
// split along the same rows as the matmul (16 workgroups of 16 rows).
// CHECK-LABEL: func.func private @fused__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 16, 1, 1>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : memref<16x256xf32
// CHECK: linalg.matmul {{.*}} outs(%{{.*}} : memref<16x256xf32
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : memref<16x256xf32, {{.*}}>, memref<16x256xf32, {{.*}}>) outs(%{{.*}} : memref<16x256xf32
#row = affine_map<(i, j) -> (j)>
#id2 = affine_map<(i, j) -> (i, j)>
func.func private @fused__dispatch_0(%bias: memref<256xf32>, %a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %r: memref<256x256xf32>, %y: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.generic {indexing_maps = [#row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%bias : memref<256xf32>) outs(%c : memref<256x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%c, %r : memref<256x256xf32>, memref<256x256xf32>) outs(%y : memref<256x256xf32>) {
  ^bb0(%in: f32, %res: f32, %o: f32):
    %s = arith.addf %in, %res : f32
    linalg.yield %s : f32
  }
  return
}
// An op reading the matmul's output transposed would read other workgroups' rows: the
// dispatch stays one workgroup.
// CHECK-LABEL: func.func private @transposed__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 1, 1, 1>
// CHECK: linalg.matmul {{.*}} outs(%{{.*}} : memref<256x256xf32>)
#t2 = affine_map<(i, j) -> (j, i)>
func.func private @transposed__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %y: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  linalg.generic {indexing_maps = [#t2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<256x256xf32>) outs(%y : memref<256x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  return
}
func.func @fused(%bias: memref<256xf32>, %a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %r: memref<256x256xf32>, %y: memref<256x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @fused__dispatch_0(%bias, %a, %b, %c, %r, %y, %c0) {kiln.dispatch} : (memref<256xf32>, memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  call @transposed__dispatch_0(%a, %b, %c, %y, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}

// Neither 33 rows nor 77 columns split into whole register tiles: the rows split into 3
// workgroups of 11 (a full 8-row tile each), not 11 of 3 rows that are all remainder.
// CHECK-LABEL: func.func private @ragged__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 3, 1, 1>
// CHECK: linalg.matmul {{.*}} outs(%{{.*}} : memref<11x77xf32
func.func private @ragged__dispatch_0(%a: memref<33x1000xf32>, %b: memref<1000x77xf32>, %c: memref<33x77xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul ins(%a, %b : memref<33x1000xf32>, memref<1000x77xf32>) outs(%c : memref<33x77xf32>)
  return
}
func.func @ragged(%a: memref<33x1000xf32>, %b: memref<1000x77xf32>, %c: memref<33x77xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @ragged__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<33x1000xf32>, memref<1000x77xf32>, memref<33x77xf32>, index) -> ()
  return
}

// A product whose rows are two dims, 4 x 2: its register tile spans only the innermost (2
// rows), so codegen streams B row by row (few rows, codegen/product_class.h), and distribution
// must class it the same way: column slices of at least 1 KB, 4 workgroups of 256, not 16 of
// 64 as for a product of 8 rows.
// CHECK-LABEL: func.func private @rows4x2__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 4, 1, 1>
// CHECK: memref.subview %arg2[0, 0, %{{.*}}] [4, 2, 256] [1, 1, 1]
#a3 = affine_map<(i, j, n, k) -> (i, j, k)>
#b3 = affine_map<(i, j, n, k) -> (k, n)>
#c3 = affine_map<(i, j, n, k) -> (i, j, n)>
func.func private @rows4x2__dispatch_0(%a: memref<4x2x512xf32>, %b: memref<512x1024xf32>, %c: memref<4x2x1024xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.generic {indexing_maps = [#a3, #b3, #c3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<4x2x512xf32>, memref<512x1024xf32>) outs(%c : memref<4x2x1024xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
func.func @rows4x2(%a: memref<4x2x512xf32>, %b: memref<512x1024xf32>, %c: memref<4x2x1024xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @rows4x2__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<4x2x512xf32>, memref<512x1024xf32>, memref<4x2x1024xf32>, index) -> ()
  return
}

// Distribution applies the workgroup level it is given and chooses nothing: a split along
// the columns written by hand (4 workgroups of 64) is kept by the selection and applied.
// CHECK-LABEL: func.func private @given__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 4, 1, 1>
// CHECK: %[[OFF:.*]] = arith.muli %arg3, %c64
// CHECK: memref.subview %arg2[0, %[[OFF]]] [256, 64] [1, 1]
// CHECK: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [0, 64, 0]>} {{.*}} memref<256x64xf32
func.func private @given__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [0, 64, 0]>} ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
func.func @given(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @given__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}

// A body that reads a buffer of the dispatch at computed rows (a gather from what the
// dispatch's first op writes) may read any workgroup's slice: the dispatch stays one workgroup.
// CHECK-LABEL: func.func private @gather_written__dispatch_0
// CHECK-SAME: kiln.workgroup_count = array<i64: 1, 1, 1>
// CHECK-NOT: workgroup_tiles
// CHECK: return
func.func private @gather_written__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %t: memref<256x256xf32>, %ids: memref<256xindex>, %out: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%t : memref<256x256xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%ids : memref<256xindex>) outs(%out : memref<256x256xf32>) {
  ^bb0(%k: index, %o: f32):
    %j = linalg.index 1 : index
    %v = memref.load %t[%k, %j] : memref<256x256xf32>
    linalg.yield %v : f32
  }
  return
}
func.func @gather_written(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %t: memref<256x256xf32>, %ids: memref<256xindex>, %out: memref<256x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @gather_written__dispatch_0(%a, %b, %t, %ids, %out, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, memref<256xindex>, memref<256x256xf32>, index) -> ()
  return
}
