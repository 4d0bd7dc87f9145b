// RUN: kiln-opt %s --kiln-pack-cache-blocks --split-input-file --verify-diagnostics | FileCheck %s
// RUN: kiln-opt %s --kiln-block-for-cache --kiln-pack-cache-blocks --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=BLOCKED

// A block marked kiln.pack_b = [32, 8]: its B is copied into contiguous panels of 32 columns
// (a stack buffer), then the block multiplies 8-row groups of A by each panel.
// CHECK-LABEL: func.func private @block
// CHECK: memref.alloca() {{.*}} : memref<8x256x32xf32>
// CHECK: linalg.copy ins({{.*}} : memref<256x32xf32, strided<[512, 1]{{.*}}>) outs({{.*}} : memref<256x32xf32, strided<[32, 1]{{.*}}>)
// CHECK: scf.for {{.*}} step %c8
// CHECK: linalg.matmul ins({{.*}} : memref<8x256xf32, {{.*}}>, memref<256x32xf32, strided<[32, 1]{{.*}}>) outs({{.*}} : memref<8x32xf32, {{.*}}>)
// CHECK-NOT: kiln.pack_b
func.func private @block(%a: memref<64x256xf32, strided<[512, 1], offset: ?>>, %b: memref<256x256xf32, strided<[512, 1], offset: ?>>, %c: memref<64x256xf32, strided<[512, 1], offset: ?>>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.pack_b = array<i64: 32, 8>} ins(%a, %b : memref<64x256xf32, strided<[512, 1], offset: ?>>, memref<256x256xf32, strided<[512, 1], offset: ?>>) outs(%c : memref<64x256xf32, strided<[512, 1], offset: ?>>)
  return
}

// -----

// The whole cache level: an op blocked by its config (256 x 256 blocks of B), each block packed.
// BLOCKED-LABEL: func.func private @packed
// BLOCKED: scf.for {{.*}} step %c256
// BLOCKED: scf.for {{.*}} step %c256
// BLOCKED: linalg.copy ins({{.*}} : memref<256x32xf32, strided<[512, 1]{{.*}}>) outs({{.*}} : memref<256x32xf32, strided<[32, 1]{{.*}}>)
// BLOCKED: scf.for {{.*}} step %c8
// BLOCKED: linalg.matmul ins({{.*}} : memref<8x256xf32, {{.*}}>, memref<256x32xf32, strided<[32, 1]{{.*}}>) outs({{.*}} : memref<8x32xf32, {{.*}}>)
// BLOCKED-NOT: lowering_config
// BLOCKED-NOT: kiln.pack_b
func.func private @packed(%a: memref<64x512xf32>, %b: memref<512x512xf32>, %c: memref<64x512xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], pack_b = [32, 8], tiles = [8, 32, 1]>}
      ins(%a, %b : memref<64x512xf32>, memref<512x512xf32>) outs(%c : memref<64x512xf32>)
  return
}

// -----

// A block that cannot be packed (N = 40 is no whole number of 32-column panels) is read in
// place, and says so.
// CHECK-LABEL: func.func private @ragged_panels
// CHECK: linalg.matmul ins
// CHECK-NOT: kiln.pack_b
func.func private @ragged_panels(%a: memref<64x256xf32>, %b: memref<256x40xf32>, %c: memref<64x40xf32>, %wg: index) attributes {kiln.dispatch} {
  // expected-remark @+1 {{kiln-pack-cache-blocks: B of this block was not packed; it is read in place}}
  linalg.matmul {kiln.pack_b = array<i64: 32, 8>} ins(%a, %b : memref<64x256xf32>, memref<256x40xf32>) outs(%c : memref<64x40xf32>)
  return
}

// -----

// Only linalg.matmul blocks are packed.
// CHECK-LABEL: func.func private @not_a_matmul
// CHECK: linalg.batch_matmul ins
func.func private @not_a_matmul(%a: memref<1x64x256xf32>, %b: memref<1x256x256xf32>, %c: memref<1x64x256xf32>, %wg: index) attributes {kiln.dispatch} {
  // expected-remark @+1 {{kiln-pack-cache-blocks: only a linalg.matmul block with kiln.pack_b = [strip, rows] is packed; this block is read in place}}
  linalg.batch_matmul {kiln.pack_b = array<i64: 32, 8>} ins(%a, %b : memref<1x64x256xf32>, memref<1x256x256xf32>) outs(%c : memref<1x64x256xf32>)
  return
}
