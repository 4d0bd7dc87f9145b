// kiln-tile-and-vectorize: see Passes.td.
#include "compiler_service/codegen/hoist_accumulators.h"
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_TILEANDVECTORIZE
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct TileAndVectorizePass : public impl::TileAndVectorizeBase<TileAndVectorizePass> {
  using TileAndVectorizeBase::TileAndVectorizeBase;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<mlir::func::FuncOp>()) {
      if (!func->hasAttr(kDispatchAttr)) continue;
      if (mlir::failed(Run(func))) return signalPassFailure();
    }
  }

  mlir::LogicalResult Run(mlir::func::FuncOp func) {
    mlir::MLIRContext* ctx = &getContext();
    llvm::SmallVector<mlir::linalg::LinalgOp> ops;
    func.walk([&](mlir::linalg::LinalgOp op) { ops.push_back(op); });
    mlir::IRRewriter rewriter(ctx);
    for (mlir::linalg::LinalgOp op : ops) {
      TileStrategy strategy = ChooseStrategy(op, vectorBits);
      if (!strategy.vectorize) continue;
      rewriter.setInsertionPoint(op);
      mlir::scf::SCFTilingOptions options;
      options.setTileSizes(mlir::getAsIndexOpFoldResult(ctx, strategy.tile_sizes));
      auto tiled = mlir::scf::tileUsingSCF(
          rewriter, llvm::cast<mlir::TilingInterface>(op.getOperation()), options);
      if (mlir::failed(tiled)) continue;  // stays whole: scalar loops later
      rewriter.eraseOp(op);  // buffer semantics: the tiles write the same buffers
      mlir::Operation* tile = tiled->tiledOps.back();
      llvm::SmallVector<bool> scalable(strategy.vector_sizes.size(), false);
      if (mlir::failed(
              mlir::linalg::vectorizeOpPrecondition(tile, strategy.vector_sizes, scalable)))
        continue;
      auto vectorized = mlir::linalg::vectorize(
          rewriter, tile, strategy.vector_sizes, scalable, /*vectorizeNDExtract=*/false,
          /*flatten1DDepthwiseConv=*/false, /*assumeDynamicDimsMatchVecSizes=*/false,
          strategy.named_contraction);
      if (mlir::succeeded(vectorized)) rewriter.replaceOp(tile, vectorized->replacements);
    }
    // Fold the tiling arithmetic, then keep accumulators in registers across reduction loops.
    mlir::RewritePatternSet patterns(ctx);
    for (mlir::RegisteredOperationName name : ctx->getRegisteredOperations())
      name.getCanonicalizationPatterns(patterns, ctx);
    if (mlir::failed(mlir::applyPatternsGreedily(func, std::move(patterns))))
      return mlir::failure();
    mlir::linalg::hoistRedundantVectorTransfers(func);
    HoistAccumulators(func);
    return mlir::success();
  }
};

}  // namespace
}  // namespace kiln::compiler
