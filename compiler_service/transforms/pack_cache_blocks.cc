// kiln-pack-cache-blocks: see Passes.td.
#include "compiler_service/codegen/pack_matmul_block.h"
#include "compiler_service/codegen/tile_and_peel.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_PACKCACHEBLOCKS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct PackCacheBlocksPass : public impl::PackCacheBlocksBase<PackCacheBlocksPass> {
  using PackCacheBlocksBase::PackCacheBlocksBase;

  mlir::LogicalResult initialize(mlir::MLIRContext* ctx) override {
    canonicalization_ = FreezeCanonicalization(ctx);
    return mlir::success();
  }

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    // The blocks kiln-block-for-cache marked (the peeled edges included, once static).
    llvm::SmallVector<mlir::linalg::LinalgOp> blocks;
    func.walk([&](mlir::linalg::LinalgOp block) {
      if (block->hasAttr(kPackBlockAttr)) blocks.push_back(block);
    });
    if (blocks.empty()) return;
    mlir::IRRewriter rewriter(&getContext());
    for (mlir::linalg::LinalgOp block : blocks) {
      auto pack = block->getAttrOfType<mlir::DenseI64ArrayAttr>(kPackBlockAttr);
      block->removeAttr(kPackBlockAttr);
      auto matmul = llvm::dyn_cast<mlir::linalg::MatmulOp>(block.getOperation());
      if (!pack || pack.size() != 2 || !matmul) {
        // Only the blocks of linalg.matmul are packed (codegen/pack_matmul_block.h).
        mlir::emitRemark(block.getLoc())
            << "kiln-pack-cache-blocks: only a linalg.matmul block with kiln.pack_b = [strip, "
               "rows] is packed; this block is read in place";
        continue;
      }
      mlir::Location loc = block.getLoc();
      if (mlir::failed(PackMatmulBlock(rewriter, matmul, pack[0], pack[1])))
        mlir::emitRemark(loc) << "kiln-pack-cache-blocks: B of this block was not packed; it is "
                                 "read in place";
    }
    if (mlir::failed(mlir::applyPatternsGreedily(func, *canonicalization_)))
      return signalPassFailure();
  }

  std::shared_ptr<mlir::FrozenRewritePatternSet> canonicalization_;
};

}  // namespace
}  // namespace kiln::compiler
