// Tiling with peeled edges, shared by the cache-blocking and register-tiling passes.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_TILE_AND_PEEL_H_
#define KILN_COMPILER_SERVICE_CODEGEN_TILE_AND_PEEL_H_

#include <memory>

#include "llvm/ADT/STLFunctionalExtras.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Rewrite/FrozenRewritePatternSet.h"

namespace kiln::compiler {

// Tiles `op` (buffer semantics: the tiles write the same buffers, so the op is erased) by
// `sizes` (0: not tiled) in loop order `interchange` (empty: natural), lets `mark` annotate the
// tile, then peels every tile loop whose step does not divide its range (innermost first, so an
// outer peel copies inner loops already peeled): the main loops then hold only full static
// tiles (unmasked vector code) and the ragged edges get their own static copies, which carry
// the tile's marks. On failure nothing changed.
mlir::LogicalResult TileAndPeel(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp op,
                                llvm::ArrayRef<int64_t> sizes, llvm::ArrayRef<int64_t> interchange,
                                llvm::function_ref<void(mlir::Operation*)> mark);

// Cuts `tile` (static loop ranges, buffer semantics) along each loop whose range is over
// `split[loop]` (0: never) and not a multiple of it, at the last multiple: one part holds whole
// multiples, the other the remainder. `mark` annotates every part; returns how many parts
// there are (1: nothing was cut).
int SplitRaggedTile(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp tile,
                    llvm::ArrayRef<int64_t> split, llvm::function_ref<void(mlir::Operation*)> mark);

// Every registered op's canonicalization patterns, frozen once per pass instance: building
// them for each of a model's dispatches was measurable.
std::shared_ptr<mlir::FrozenRewritePatternSet> FreezeCanonicalization(mlir::MLIRContext* ctx);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_TILE_AND_PEEL_H_
