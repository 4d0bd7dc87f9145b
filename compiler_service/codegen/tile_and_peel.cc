#include "compiler_service/codegen/tile_and_peel.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
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

int SplitRaggedTile(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp tile,
                    llvm::ArrayRef<int64_t> split,
                    llvm::function_ref<void(mlir::Operation*)> mark) {
  llvm::SmallVector<mlir::linalg::LinalgOp> parts = {tile};
  for (unsigned loop = 0; loop < split.size(); ++loop) {
    if (split[loop] <= 0) continue;
    llvm::SmallVector<mlir::linalg::LinalgOp> next;
    for (mlir::linalg::LinalgOp part : parts) {
      llvm::SmallVector<int64_t> ranges = part.getStaticLoopRanges();
      const int64_t range = loop < ranges.size() ? ranges[loop] : mlir::ShapedType::kDynamic;
      if (mlir::ShapedType::isDynamic(range) || range <= split[loop] || range % split[loop] == 0) {
        next.push_back(part);
        continue;
      }
      rewriter.setInsertionPoint(part);
      auto [whole, rest] =
          mlir::linalg::splitOp(rewriter, llvm::cast<mlir::TilingInterface>(part.getOperation()),
                                loop, rewriter.getIndexAttr(range - range % split[loop]));
      if (!whole || !rest) {  // not cut (the op is unchanged): one odd tile, still correct
        next.push_back(part);
        continue;
      }
      next.push_back(llvm::cast<mlir::linalg::LinalgOp>(whole.getOperation()));
      next.push_back(llvm::cast<mlir::linalg::LinalgOp>(rest.getOperation()));
    }
    parts = std::move(next);
  }
  for (mlir::linalg::LinalgOp part : parts) mark(part);
  return static_cast<int>(parts.size());
}

std::shared_ptr<mlir::FrozenRewritePatternSet> FreezeCanonicalization(mlir::MLIRContext* ctx) {
  mlir::RewritePatternSet patterns(ctx);
  for (mlir::RegisteredOperationName name : ctx->getRegisteredOperations())
    name.getCanonicalizationPatterns(patterns, ctx);
  return std::make_shared<mlir::FrozenRewritePatternSet>(std::move(patterns));
}

}  // namespace kiln::compiler
