// kiln-prefetch-rows: see Passes.td.
#include "compiler_service/codegen/prefetch_rows.h"

#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_PREFETCHROWS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct PrefetchRowsPass : public impl::PrefetchRowsBase<PrefetchRowsPass> {
  using PrefetchRowsBase::PrefetchRowsBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, int64_t>> tiles;
    func.walk([&](mlir::linalg::LinalgOp tile) {
      if (LoweringConfigAttr config = GetLoweringConfig(tile))
        if (config.getPrefetchBRows() > 0) tiles.emplace_back(tile, config.getPrefetchBRows());
    });
    mlir::IRRewriter rewriter(&getContext());
    for (auto [tile, rows] : tiles) PrefetchRowsAhead(rewriter, tile, rows);
  }
};

}  // namespace
}  // namespace kiln::compiler
