// kiln-decompose-windowed-tiles: see Passes.td.
#include "compiler_service/codegen/decompose_windowed.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_DECOMPOSEWINDOWEDTILES
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct DecomposeWindowedTilesPass
    : public impl::DecomposeWindowedTilesBase<DecomposeWindowedTilesPass> {
  using DecomposeWindowedTilesBase::DecomposeWindowedTilesBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, LoweringConfigAttr>> tiles;
    func.walk([&](mlir::linalg::LinalgOp tile) {
      LoweringConfigAttr config = GetLoweringConfig(tile);
      if (config && config.getDecomposeWindowed() && IsWindowed2D(tile))
        tiles.emplace_back(tile, config);
    });
    mlir::IRRewriter rewriter(&getContext());
    for (auto [tile, config] : tiles) {
      mlir::Location loc = tile.getLoc();
      auto one_d = DecomposeWindowed2D(rewriter, tile);
      if (mlir::failed(one_d)) {
        // Windowed ops vectorize only in their 1-D form: this tile stays scalar loops.
        tile->removeAttr(kLoweringConfigAttr);
        mlir::emitRemark(loc) << "kiln-decompose-windowed-tiles: this tile is not one output "
                                 "row by one window row; it stays scalar loops";
        continue;
      }
      (*one_d)->setAttr(kLoweringConfigAttr, config);
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
