// kiln-tile-to-registers: see Passes.td.
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/codegen/tile_and_peel.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/IR/Dominance.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_TILETOREGISTERS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct TileToRegistersPass : public impl::TileToRegistersBase<TileToRegistersPass> {
  using TileToRegistersBase::TileToRegistersBase;

  mlir::LogicalResult initialize(mlir::MLIRContext* ctx) override {
    canonicalization_ = FreezeCanonicalization(ctx);
    return mlir::success();
  }

  // One dispatch function (a func.func pass: dispatches are tiled in parallel when the
  // context has threads).
  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    if (mlir::failed(Run(func))) return signalPassFailure();
  }

  mlir::LogicalResult Run(mlir::func::FuncOp func) {
    mlir::MLIRContext* ctx = &getContext();
    mlir::IRRewriter rewriter(ctx);
    // Workgroup distribution gives each op its own (equal) views of a shared buffer; merged,
    // a fill and the op that accumulates into its buffer are seen to share it (FusableFill).
    mlir::DominanceInfo dominance;
    mlir::eliminateCommonSubExpressions(rewriter, dominance, func);

    struct Plan {
      mlir::linalg::LinalgOp op;
      LoweringConfigAttr config;
      TileStrategy strategy;
      mlir::linalg::FillOp fill;  // moves into the op's tiles (FusableFill), or null
    };
    std::vector<Plan> plans;
    mlir::WalkResult walk = func.walk([&](mlir::linalg::LinalgOp op) {
      LoweringConfigAttr config = GetLoweringConfig(op);
      if (!config) {
        op.emitOpError("has no #kiln.lowering_config: run kiln-select-lowering-strategy first");
        return mlir::WalkResult::interrupt();
      }
      TileStrategy strategy = FromConfig(config);
      mlir::linalg::FillOp fill = FusableFill(op, strategy);
      plans.push_back({op, config, std::move(strategy), fill});
      return mlir::WalkResult::advance();
    });
    if (walk.wasInterrupted()) return mlir::failure();
    // From here only tiles carry a config (their op's, set by `mark`): what kiln-vectorize-tiles
    // vectorizes. An op left whole (no tiles, or tiling failed) becomes scalar loops.
    for (const Plan& plan : plans) plan.op->removeAttr(kLoweringConfigAttr);
    // Fills that move into their consumer's tiles are tiled with it, not on their own.
    llvm::DenseSet<mlir::Operation*> fused_fills;
    for (const Plan& plan : plans)
      if (plan.fill) fused_fills.insert(plan.fill);
    for (const Plan& plan : plans) {
      mlir::linalg::LinalgOp op = plan.op;
      const TileStrategy& strategy = plan.strategy;
      if (fused_fills.contains(op) || !strategy.vectorize) continue;
      auto mark = [&](mlir::Operation* tile) { tile->setAttr(kLoweringConfigAttr, plan.config); };
      // On failure nothing changed: the op is tiled alone below and the fill stays whole
      // (scalar loops, still correct).
      if (plan.fill && mlir::succeeded(TileWithFusedFill(rewriter, op, plan.fill, strategy, mark)))
        continue;
      mlir::Location loc = op.getLoc();
      if (mlir::failed(TileAndPeel(rewriter, op, strategy.tile_sizes, strategy.interchange, mark)))
        mlir::emitRemark(loc) << "kiln-tile-to-registers: could not tile '" << strategy.name
                              << "' into register tiles; the op stays scalar loops";
    }
    // Folds the peeled bounds into static subview shapes.
    if (mlir::failed(mlir::applyPatternsGreedily(func, *canonicalization_))) return mlir::failure();
    // Now static, the ragged edge tiles are cut into whole vectors and a remainder.
    bool split = false;
    llvm::SmallVector<mlir::linalg::LinalgOp> tiles;
    func.walk([&](mlir::linalg::LinalgOp tile) {
      if (LoweringConfigAttr config = GetLoweringConfig(tile);
          config && !config.getRaggedSplit().empty())
        tiles.push_back(tile);
    });
    for (mlir::linalg::LinalgOp tile : tiles) {
      LoweringConfigAttr config = GetLoweringConfig(tile);
      split |= SplitRaggedTile(rewriter, tile, config.getRaggedSplit(), [&](mlir::Operation* part) {
                 part->setAttr(kLoweringConfigAttr, config);
               }) > 1;
    }
    if (!split) return mlir::success();
    if (mlir::failed(mlir::applyPatternsGreedily(func, *canonicalization_))) return mlir::failure();
    // A cut fill and its cut consumer view the same parts through equal subviews; merged, the
    // fill forwards into the accumulator (ForwardSplatInits matches views by identity).
    mlir::eliminateCommonSubExpressions(rewriter, dominance, func);
    return mlir::success();
  }

  // The fill that initializes `op`'s accumulator, when it can move into `op`'s tiles: it
  // fills exactly `op`'s init buffer, before `op` with only pure ops (views) between, and
  // `op` reduces into that buffer with its reduction loops innermost in the tile order. Each
  // output tile then starts from the fill value in registers (the vector fill forwards into
  // the hoisted accumulator read, ForwardSplatInits) instead of a pass that writes the whole
  // output and a second that reads it back: depthwise convolution (memory-bound) went from
  // 0.80 to 1.10 x oneDNN with it.
  static mlir::linalg::FillOp FusableFill(mlir::linalg::LinalgOp op, const TileStrategy& strategy) {
    if (!strategy.vectorize || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0 ||
        !strategy.interchange.empty() || !op.hasPureBufferSemantics())
      return {};
    mlir::Value init = op.getDpsInitOperand(0)->get();
    mlir::Operation* prev = op->getPrevNode();
    while (prev && mlir::isMemoryEffectFree(prev)) prev = prev->getPrevNode();  // views
    auto fill = llvm::dyn_cast_or_null<mlir::linalg::FillOp>(prev);
    if (!fill || fill.getDpsInitOperand(0)->get() != init) return {};
    // Every output element must belong to exactly one tile: the init map is a permutation of
    // the parallel loops.
    mlir::AffineMap map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    if (!map.isProjectedPermutation() || map.getNumResults() != op.getNumParallelLoops()) return {};
    return fill;
  }

  // Tiles `op` in two levels: its parallel loops (each tile gets a copy of `fill` on its own
  // output tile), then the tile's reduction loops inside. Erases `fill`.
  static mlir::LogicalResult TileWithFusedFill(mlir::RewriterBase& rewriter,
                                               mlir::linalg::LinalgOp op, mlir::linalg::FillOp fill,
                                               const TileStrategy& strategy,
                                               llvm::function_ref<void(mlir::Operation*)> mark) {
    llvm::SmallVector<mlir::utils::IteratorType> iterators = op.getIteratorTypesArray();
    llvm::SmallVector<int64_t> parallel(strategy.tile_sizes), reduction(strategy.tile_sizes);
    for (unsigned i = 0; i < iterators.size(); ++i)
      (iterators[i] == mlir::utils::IteratorType::parallel ? reduction : parallel)[i] = 0;
    // The fill's loops are the output dimensions: their vector sizes, from the op's.
    mlir::AffineMap map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    llvm::SmallVector<int64_t> fill_sizes, fill_split;
    for (mlir::AffineExpr result : map.getResults()) {
      const unsigned loop = llvm::cast<mlir::AffineDimExpr>(result).getPosition();
      fill_sizes.push_back(strategy.vector_sizes[loop]);
      // The fill's tile is cut where its consumer's is, so the two keep matching shapes.
      if (!strategy.ragged_split.empty()) fill_split.push_back(strategy.ragged_split[loop]);
    }
    mlir::MLIRContext* ctx = op.getContext();
    constexpr char kFusedFillAttr[] = "kiln.fused_fill";
    if (mlir::failed(TileAndPeel(rewriter, op, parallel, {}, [&](mlir::Operation* tile) {
          tile->setAttr(kFusedFillAttr, mlir::UnitAttr::get(ctx));
        })))
      return mlir::failure();
    llvm::SmallVector<mlir::linalg::LinalgOp> tiles;
    mlir::Operation* scope = fill->getParentOp();
    scope->walk([&](mlir::linalg::LinalgOp tile) {
      if (tile->hasAttr(kFusedFillAttr)) tiles.push_back(tile);
    });
    mlir::Value value = fill.getDpsInputOperand(0)->get();
    for (mlir::linalg::LinalgOp tile : tiles) {
      tile->removeAttr(kFusedFillAttr);
      rewriter.setInsertionPoint(tile);
      auto tile_fill = mlir::linalg::FillOp::create(rewriter, fill.getLoc(), value,
                                                    tile.getDpsInitOperand(0)->get());
      // The fill's tile is its whole (output) tile: vectorized at these sizes.
      tile_fill->setAttr(
          kLoweringConfigAttr,
          LoweringConfigAttr::get(ctx, "fill fused into its consumer's tiles", {}, "none", {}, {},
                                  {}, fill_sizes, {}, fill_sizes, fill_split, 0, false, false));
      if (llvm::all_of(reduction, [](int64_t size) { return size == 0; })) {
        mark(tile);
        continue;
      }
      if (mlir::failed(TileAndPeel(rewriter, tile, reduction, {}, mark))) mark(tile);
    }
    rewriter.eraseOp(fill);
    return mlir::success();
  }

  std::shared_ptr<mlir::FrozenRewritePatternSet> canonicalization_;
};

}  // namespace
}  // namespace kiln::compiler
