// kiln-block-for-cache: see Passes.td.
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/codegen/tile_and_peel.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/IR/Dominance.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_BLOCKFORCACHE
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct BlockForCachePass : public impl::BlockForCacheBase<BlockForCachePass> {
  using BlockForCacheBase::BlockForCacheBase;

  mlir::LogicalResult initialize(mlir::MLIRContext* ctx) override {
    canonicalization_ = FreezeCanonicalization(ctx);
    return mlir::success();
  }

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    mlir::MLIRContext* ctx = &getContext();
    mlir::Builder builder(ctx);
    mlir::IRRewriter rewriter(ctx);
    // Workgroup distribution gives each op its own (equal) views of a shared buffer; merged,
    // a fill and the op that accumulates into its buffer are seen to share it (FusableFill in
    // kiln-tile-to-registers).
    mlir::DominanceInfo dominance;
    mlir::eliminateCommonSubExpressions(rewriter, dominance, func);

    std::vector<std::pair<mlir::linalg::LinalgOp, LoweringConfigAttr>> big_ops;
    func.walk([&](mlir::linalg::LinalgOp op) {
      LoweringConfigAttr config = GetLoweringConfig(op);
      if (config && !config.getCacheTiles().empty()) big_ops.emplace_back(op, config);
    });
    if (big_ops.empty()) return;
    for (auto& [op, config] : big_ops) {
      llvm::ArrayRef<int64_t> pack = config.getPackB();
      mlir::Location loc = op.getLoc();
      if (mlir::failed(TileAndPeel(rewriter, op, config.getCacheTiles(), config.getCacheOrder(),
                                   [&](mlir::Operation* block) {
                                     if (!pack.empty())
                                       block->setAttr(kPackBlockAttr,
                                                      builder.getDenseI64ArrayAttr(pack));
                                   }))) {
        mlir::emitRemark(loc) << "kiln-block-for-cache: could not tile into cache blocks " << config
                              << "; the op stays whole";
      }
    }
    if (mlir::failed(Canonicalize(func))) return signalPassFailure();
    // The function changed: every op is chosen for again, on the IR as it is now.
    func.walk([&](mlir::linalg::LinalgOp op) { op->removeAttr(kLoweringConfigAttr); });
  }

  mlir::LogicalResult Canonicalize(mlir::func::FuncOp func) {
    return mlir::applyPatternsGreedily(func, *canonicalization_);
  }

  std::shared_ptr<mlir::FrozenRewritePatternSet> canonicalization_;
};

}  // namespace

}  // namespace kiln::compiler
