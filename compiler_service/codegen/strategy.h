// The per-op codegen strategy: one readable table of how each kind of linalg op is tiled and
// vectorized. The codegen-performance work tunes it here. kiln-select-lowering-strategy is its
// only caller: it records the choice as #kiln.lowering_config (ToConfig), and every later pass
// reads that (FromConfig) rather than choosing again.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_STRATEGY_H_
#define KILN_COMPILER_SERVICE_CODEGEN_STRATEGY_H_

#include <cstdint>
#include <string>

#include "compiler_service/codegen/product_class.h"
#include "compiler_service/codegen/target_info.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "llvm/ADT/SmallVector.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace kiln::compiler {

struct TileStrategy {
  std::string name;  // for debugging output and tests
  ProductClass product = ProductClass::kNone;
  // The workgroup level (codegen/workgroup_tiles.h), chosen before the rest and carried
  // through: per loop of the op before distribution; empty: one workgroup.
  llvm::SmallVector<int64_t> workgroup_tile_sizes;
  bool vectorize = false;                   // false: leave the op to scalar loops
  llvm::SmallVector<int64_t> tile_sizes;    // per loop; 0 = not tiled
  llvm::SmallVector<int64_t> vector_sizes;  // per loop; >= the tile (masked when larger)
  // Per loop (empty: none): a register tile whose extent is over this and not a multiple of it
  // is cut at the last multiple (the ragged edge of a multi-vector tile: whole vectors, then
  // one partial vector).
  llvm::SmallVector<int64_t> ragged_split;
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

TileStrategy ChooseStrategy(mlir::linalg::LinalgOp op, const TargetInfo& target);

// The strategy as the IR records it, and back. A strategy that vectorizes has tiles; one that
// does not has none.
LoweringConfigAttr ToConfig(mlir::MLIRContext* context, const TileStrategy& strategy);
TileStrategy FromConfig(LoweringConfigAttr config);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_STRATEGY_H_
