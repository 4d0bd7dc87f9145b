// kiln-vectorize-tiles: see Passes.td.
#include "compiler_service/codegen/decompose_windowed.h"
#include "compiler_service/codegen/tile_and_peel.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_VECTORIZETILES
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct VectorizeTilesPass : public impl::VectorizeTilesBase<VectorizeTilesPass> {
  using VectorizeTilesBase::VectorizeTilesBase;

  mlir::LogicalResult initialize(mlir::MLIRContext* ctx) override {
    canonicalization_ = FreezeCanonicalization(ctx);
    return mlir::success();
  }

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    mlir::IRRewriter rewriter(&getContext());
    // The tiles: every op kiln-tile-to-registers left a config on.
    llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, LoweringConfigAttr>> tiles;
    func.walk([&](mlir::linalg::LinalgOp tile) {
      if (LoweringConfigAttr config = GetLoweringConfig(tile)) tiles.emplace_back(tile, config);
    });
    for (auto [tile, config] : tiles) {
      tile->removeAttr(kLoweringConfigAttr);
      if (config.getDecomposeWindowed()) {
        // Windowed ops vectorize only in their 1-D form (kiln-decompose-windowed-tiles), at
        // their static tile shape; one still 2-D stays scalar loops.
        if (IsWindowed2D(tile) || mlir::failed(mlir::linalg::vectorizeOpPrecondition(tile)))
          continue;
        rewriter.setInsertionPoint(tile);
        auto vectorized = mlir::linalg::vectorize(rewriter, tile);
        if (mlir::succeeded(vectorized)) rewriter.replaceOp(tile, vectorized->replacements);
        continue;
      }
      // Static tiles at their own size, dynamic ones masked to the config's vector sizes.
      llvm::SmallVector<int64_t> sizes = tile.hasDynamicShape()
                                             ? llvm::to_vector(config.getVectorSizes())
                                             : tile.getStaticLoopRanges();
      llvm::SmallVector<bool> scalable(sizes.size(), false);
      if (mlir::failed(mlir::linalg::vectorizeOpPrecondition(tile, sizes, scalable))) continue;
      rewriter.setInsertionPoint(tile);
      auto vectorized = mlir::linalg::vectorize(
          rewriter, tile, sizes, scalable, /*vectorizeNDExtract=*/false,
          /*flatten1DDepthwiseConv=*/false, /*assumeDynamicDimsMatchVecSizes=*/false,
          config.getNamedContraction());
      if (mlir::succeeded(vectorized)) rewriter.replaceOp(tile, vectorized->replacements);
    }
    // Folds the tiling arithmetic.
    if (mlir::failed(mlir::applyPatternsGreedily(func, *canonicalization_)))
      return signalPassFailure();
  }

  std::shared_ptr<mlir::FrozenRewritePatternSet> canonicalization_;
};

}  // namespace
}  // namespace kiln::compiler
