// The per-op codegen strategy: one readable table of how each kind of linalg op is tiled and
// vectorized. The codegen-performance work tunes it here.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_STRATEGY_H_
#define KILN_COMPILER_SERVICE_CODEGEN_STRATEGY_H_

#include <cstdint>
#include <string>

#include "llvm/ADT/SmallVector.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace kiln::compiler {

struct TileStrategy {
  std::string name;                         // for debugging output
  bool vectorize = false;                   // false: leave the op to scalar loops
  llvm::SmallVector<int64_t> tile_sizes;    // per loop; 0 = not tiled
  llvm::SmallVector<int64_t> vector_sizes;  // per loop; >= the tile (masked when larger)
  // Vectorize straight to vector.contract, lowered later to outer products (FMAs) with the
  // accumulator tile in registers.
  bool named_contraction = false;
  // Rewrite each (unit-height) tile of a 2-D windowed op into its 1-D form before vectorizing.
  bool decompose_windowed = false;
  // Loop order of the tiles (a permutation of the loops); empty = natural order.
  llvm::SmallVector<int64_t> interchange;
  // Cache blocking, applied first: the op is tiled by these sizes (0 = not tiled) in this loop
  // order, and each resulting block gets its own strategy (whose ranges then fit the cache).
  // Empty: no cache level.
  llvm::SmallVector<int64_t> cache_tile_sizes;
  llvm::SmallVector<int64_t> cache_interchange;
  // After cache blocking, pack each block's B operand into contiguous panels of this many
  // columns (codegen/pack_matmul_block.h); 0 = no packing.
  int64_t pack_b_strip = 0;
  int64_t pack_b_rows = 0;  // the row-group height of the packed block's matmuls
  // Prefetch B this many reduction steps ahead of each tile (codegen/prefetch_rows.h); 0 = no.
  int64_t prefetch_b_rows = 0;
};

// `vector_bits`: the target's native vector width (256 AVX2, 512 AVX-512).
TileStrategy ChooseStrategy(mlir::linalg::LinalgOp op, int64_t vector_bits);

// Columns of an f32 matmul register tile (two vectors): the panel width B is packed to.
int64_t RegisterTileColumns(int64_t vector_bits);
// Rows of an f32 matmul (and NHWC conv) register tile two vectors wide.
int64_t RegisterTileRows(int64_t vector_bits);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_STRATEGY_H_
