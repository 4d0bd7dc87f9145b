// RUN: kiln-opt %s --kiln-optimize-accumulators | FileCheck %s

// A vectorized register tile as kiln-vectorize-tiles leaves it: the 8x32 accumulator is read
// and written back at every step of the reduction loop. Hoisted, it is carried in registers
// through iter_args and written once after the loop; and since the loop is long (64 steps),
// it starts from zero and the output is added after it, its lines prefetched before, so the
// loop hides the latency of reading C.
// CHECK-LABEL: func.func private @acc
// CHECK: memref.prefetch %arg2
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8x32xf32>
// CHECK: %[[SUM:.*]] = scf.for {{.*}} iter_args(%[[IT:.*]] = %[[ZERO]]) -> (vector<8x32xf32>)
// CHECK-NOT: vector.transfer_write
// CHECK: vector.contract {{.*}} %[[IT]]
// CHECK: scf.yield
// CHECK: %[[C:.*]] = vector.transfer_read %arg2{{.*}} vector<8x32xf32>
// CHECK: %[[OUT:.*]] = arith.addf %[[C]], %[[SUM]]
// CHECK: vector.transfer_write %[[OUT]], %arg2
func.func private @acc(%arg0: memref<8x64xf32>, %arg1: memref<64x32xf32>, %arg2: memref<8x32xf32>, %arg3: index) attributes {kiln.dispatch} {
  %cst = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %c1 = arith.constant 1 : index
  scf.for %arg4 = %c0 to %c64 step %c1 {
    %subview = memref.subview %arg0[0, %arg4] [8, 1] [1, 1] : memref<8x64xf32> to memref<8x1xf32, strided<[64, 1], offset: ?>>
    %subview_0 = memref.subview %arg1[%arg4, 0] [1, 32] [1, 1] : memref<64x32xf32> to memref<1x32xf32, strided<[32, 1], offset: ?>>
    %0 = vector.transfer_read %subview[%c0, %c0], %cst {in_bounds = [true, true]} : memref<8x1xf32, strided<[64, 1], offset: ?>>, vector<8x1xf32>
    %1 = vector.transfer_read %subview_0[%c0, %c0], %cst {in_bounds = [true, true]} : memref<1x32xf32, strided<[32, 1], offset: ?>>, vector<1x32xf32>
    %2 = vector.transfer_read %arg2[%c0, %c0], %cst {in_bounds = [true, true]} : memref<8x32xf32>, vector<8x32xf32>
    %3 = vector.contract {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %0, %1, %2 : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
    vector.transfer_write %3, %arg2[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x32xf32>
  }
  return
}

// Only dispatch functions are code-generated: the same loop elsewhere stays as it is.
// CHECK-LABEL: func.func @not_a_dispatch
// CHECK: scf.for
// CHECK-NEXT: vector.transfer_read
func.func @not_a_dispatch(%c: memref<8x32xf32>, %x: vector<8x32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %cst = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c64 step %c1 {
    %r = vector.transfer_read %c[%c0, %c0], %cst {in_bounds = [true, true]} : memref<8x32xf32>, vector<8x32xf32>
    %s = arith.addf %r, %x : vector<8x32xf32>
    vector.transfer_write %s, %c[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x32xf32>
  }
  return
}


// A ragged edge cut into a whole vector and the rest (kiln-tile-to-registers, ragged_split):
// two tiles of one output side by side in one reduction loop, each filled before it. Their
// views share no column ([0, 16) and [16, 23)), so both accumulators stay in registers, both
// fills forward into them and go.
// CHECK-LABEL: func.func private @side_by_side
// CHECK-NOT: vector.transfer_write
// CHECK: %[[R:.*]]:2 = scf.for {{.*}} -> (vector<8x16xf32>, vector<8x7xf32>)
// CHECK-NOT: vector.transfer_write
// CHECK: scf.yield
// CHECK-DAG: vector.transfer_write %[[R]]#0, %[[WHOLE:.*]][
// CHECK-DAG: vector.transfer_write %[[R]]#1, %[[REST:.*]][
// CHECK: return
func.func private @side_by_side(%a: memref<8x4xf32>, %b: memref<4x23xf32>, %c: memref<8x23xf32>, %wg: index) attributes {kiln.dispatch} {
  %pad = arith.constant 0.000000e+00 : f32
  %z16 = arith.constant dense<0.000000e+00> : vector<8x16xf32>
  %z7 = arith.constant dense<0.000000e+00> : vector<8x7xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %whole = memref.subview %c[0, 0] [8, 16] [1, 1] : memref<8x23xf32> to memref<8x16xf32, strided<[23, 1]>>
  %rest = memref.subview %c[0, 16] [8, 7] [1, 1] : memref<8x23xf32> to memref<8x7xf32, strided<[23, 1], offset: 16>>
  vector.transfer_write %z16, %whole[%c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<8x16xf32, strided<[23, 1]>>
  vector.transfer_write %z7, %rest[%c0, %c0] {in_bounds = [true, true]} : vector<8x7xf32>, memref<8x7xf32, strided<[23, 1], offset: 16>>
  scf.for %k = %c0 to %c4 step %c1 {
    %ak = memref.subview %a[0, %k] [8, 1] [1, 1] : memref<8x4xf32> to memref<8x1xf32, strided<[4, 1], offset: ?>>
    %bk = memref.subview %b[%k, 0] [1, 23] [1, 1] : memref<4x23xf32> to memref<1x23xf32, strided<[23, 1], offset: ?>>
    %bw = memref.subview %bk[0, 0] [1, 16] [1, 1] : memref<1x23xf32, strided<[23, 1], offset: ?>> to memref<1x16xf32, strided<[23, 1], offset: ?>>
    %br = memref.subview %bk[0, 16] [1, 7] [1, 1] : memref<1x23xf32, strided<[23, 1], offset: ?>> to memref<1x7xf32, strided<[23, 1], offset: ?>>
    %0 = vector.transfer_read %ak[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x1xf32, strided<[4, 1], offset: ?>>, vector<8x1xf32>
    %1 = vector.transfer_read %bw[%c0, %c0], %pad {in_bounds = [true, true]} : memref<1x16xf32, strided<[23, 1], offset: ?>>, vector<1x16xf32>
    %2 = vector.transfer_read %whole[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x16xf32, strided<[23, 1]>>, vector<8x16xf32>
    %3 = vector.contract {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %0, %1, %2 : vector<8x1xf32>, vector<1x16xf32> into vector<8x16xf32>
    vector.transfer_write %3, %whole[%c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<8x16xf32, strided<[23, 1]>>
    %4 = vector.transfer_read %br[%c0, %c0], %pad {in_bounds = [true, true]} : memref<1x7xf32, strided<[23, 1], offset: ?>>, vector<1x7xf32>
    %5 = vector.transfer_read %rest[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x7xf32, strided<[23, 1], offset: 16>>, vector<8x7xf32>
    %6 = vector.contract {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %0, %4, %5 : vector<8x1xf32>, vector<1x7xf32> into vector<8x7xf32>
    vector.transfer_write %6, %rest[%c0, %c0] {in_bounds = [true, true]} : vector<8x7xf32>, memref<8x7xf32, strided<[23, 1], offset: 16>>
  }
  return
}


// The same with views that overlap (columns [0, 16) and [8, 15)): a write through one changes
// what the other reads, so neither accumulator leaves the loop.
// CHECK-LABEL: func.func private @overlapping
// CHECK: scf.for
// CHECK-NOT: iter_args
// CHECK-COUNT-2: vector.transfer_write
// CHECK: return
func.func private @overlapping(%a: memref<8x4xf32>, %b: memref<4x23xf32>, %c: memref<8x23xf32>, %wg: index) attributes {kiln.dispatch} {
  %pad = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %whole = memref.subview %c[0, 0] [8, 16] [1, 1] : memref<8x23xf32> to memref<8x16xf32, strided<[23, 1]>>
  %rest = memref.subview %c[0, 8] [8, 7] [1, 1] : memref<8x23xf32> to memref<8x7xf32, strided<[23, 1], offset: 8>>
  scf.for %k = %c0 to %c4 step %c1 {
    %ak = memref.subview %a[0, %k] [8, 1] [1, 1] : memref<8x4xf32> to memref<8x1xf32, strided<[4, 1], offset: ?>>
    %bk = memref.subview %b[%k, 0] [1, 23] [1, 1] : memref<4x23xf32> to memref<1x23xf32, strided<[23, 1], offset: ?>>
    %bw = memref.subview %bk[0, 0] [1, 16] [1, 1] : memref<1x23xf32, strided<[23, 1], offset: ?>> to memref<1x16xf32, strided<[23, 1], offset: ?>>
    %br = memref.subview %bk[0, 16] [1, 7] [1, 1] : memref<1x23xf32, strided<[23, 1], offset: ?>> to memref<1x7xf32, strided<[23, 1], offset: ?>>
    %0 = vector.transfer_read %ak[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x1xf32, strided<[4, 1], offset: ?>>, vector<8x1xf32>
    %1 = vector.transfer_read %bw[%c0, %c0], %pad {in_bounds = [true, true]} : memref<1x16xf32, strided<[23, 1], offset: ?>>, vector<1x16xf32>
    %2 = vector.transfer_read %whole[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x16xf32, strided<[23, 1]>>, vector<8x16xf32>
    %3 = vector.contract {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %0, %1, %2 : vector<8x1xf32>, vector<1x16xf32> into vector<8x16xf32>
    vector.transfer_write %3, %whole[%c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<8x16xf32, strided<[23, 1]>>
    %4 = vector.transfer_read %br[%c0, %c0], %pad {in_bounds = [true, true]} : memref<1x7xf32, strided<[23, 1], offset: ?>>, vector<1x7xf32>
    %5 = vector.transfer_read %rest[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x7xf32, strided<[23, 1], offset: 8>>, vector<8x7xf32>
    %6 = vector.contract {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %0, %4, %5 : vector<8x1xf32>, vector<1x7xf32> into vector<8x7xf32>
    vector.transfer_write %6, %rest[%c0, %c0] {in_bounds = [true, true]} : vector<8x7xf32>, memref<8x7xf32, strided<[23, 1], offset: 8>>
  }
  return
}
