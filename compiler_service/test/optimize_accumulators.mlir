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
