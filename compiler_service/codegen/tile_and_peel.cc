#include "compiler_service/codegen/tile_and_peel.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace kiln::compiler {

mlir::LogicalResult TileAndPeel(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp op,
                                llvm::ArrayRef<int64_t> sizes, llvm::ArrayRef<int64_t> interchange,
                                llvm::function_ref<void(mlir::Operation*)> mark) {
  rewriter.setInsertionPoint(op);
  mlir::scf::SCFTilingOptions options;
  options.setTileSizes(mlir::getAsIndexOpFoldResult(op.getContext(), sizes));
  if (!interchange.empty()) options.setInterchange(interchange);
  auto tiled = mlir::scf::tileUsingSCF(
      rewriter, llvm::cast<mlir::TilingInterface>(op.getOperation()), options);
  if (mlir::failed(tiled)) return mlir::failure();
  rewriter.eraseOp(op);
  mark(tiled->tiledOps.back());
  for (mlir::LoopLikeOpInterface loop : llvm::reverse(tiled->loops)) {
    mlir::scf::ForOp partial;
    if (auto for_op = llvm::dyn_cast<mlir::scf::ForOp>(loop.getOperation()))
      (void)mlir::scf::peelForLoopAndSimplifyBounds(rewriter, for_op, partial);  // else: no peel
  }
  return mlir::success();
}

std::shared_ptr<mlir::FrozenRewritePatternSet> FreezeCanonicalization(mlir::MLIRContext* ctx) {
  mlir::RewritePatternSet patterns(ctx);
  for (mlir::RegisteredOperationName name : ctx->getRegisteredOperations())
    name.getCanonicalizationPatterns(patterns, ctx);
  return std::make_shared<mlir::FrozenRewritePatternSet>(std::move(patterns));
}

}  // namespace kiln::compiler
