// kiln-block-for-cache: see Passes.td.
#include "compiler_service/codegen/pack_matmul_block.h"
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

// Carried on a block from tiling to packing (its config is the op's, whose pack_b it names).
constexpr char kPackAttr[] = "kiln.pack_b";  // [strip, rows]

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
                                       block->setAttr(kPackAttr,
                                                      builder.getDenseI64ArrayAttr(pack));
                                   }))) {
        mlir::emitRemark(loc) << "kiln-block-for-cache: could not tile into cache blocks " << config
                              << "; the op stays whole";
      }
    }
    if (mlir::failed(Canonicalize(func))) return signalPassFailure();
    // Blocks (the peeled edges included, once static) whose B is worth packing.
    llvm::SmallVector<mlir::linalg::MatmulOp> pack_blocks;
    func.walk([&](mlir::linalg::MatmulOp block) {
      if (block->hasAttr(kPackAttr)) pack_blocks.push_back(block);
    });
    for (mlir::linalg::MatmulOp block : pack_blocks) {
      auto pack = block->getAttrOfType<mlir::DenseI64ArrayAttr>(kPackAttr).asArrayRef();
      block->removeAttr(kPackAttr);
      mlir::Location loc = block.getLoc();
      if (mlir::failed(PackMatmulBlock(rewriter, block, pack[0], pack[1])))
        mlir::emitRemark(loc) << "kiln-block-for-cache: B of this block was not packed; it is "
                                 "read in place";
    }
    if (!pack_blocks.empty() && mlir::failed(Canonicalize(func))) return signalPassFailure();
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
