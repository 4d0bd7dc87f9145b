// kiln-tile-and-vectorize: see Passes.td.
#include "compiler_service/codegen/decompose_windowed.h"
#include "compiler_service/codegen/hoist_accumulators.h"
#include "compiler_service/codegen/pack_matmul_block.h"
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_TILEANDVECTORIZE
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// Carried on a tile between the tiling and vectorization phases of the pass.
constexpr char kVectorSizesAttr[] = "kiln.vector_sizes";
constexpr char kNamedContractionAttr[] = "kiln.named_contraction";
constexpr char kDecomposeAttr[] = "kiln.decompose_windowed";
constexpr char kPackAttr[] = "kiln.pack_b";  // [strip, rows]

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
    mlir::Builder builder(ctx);
    mlir::IRRewriter rewriter(ctx);

    // Phase 0: cache blocking. Ops whose strategy asks for it are tiled into cache-sized
    // blocks (ragged blocks peeled); each block then takes its own strategy below.
    std::vector<std::pair<mlir::linalg::LinalgOp, TileStrategy>> big_ops;
    func.walk([&](mlir::linalg::LinalgOp op) {
      TileStrategy strategy = ChooseStrategy(op, vectorBits);
      if (!strategy.cache_tile_sizes.empty()) big_ops.emplace_back(op, std::move(strategy));
    });
    for (auto& [op, strategy] : big_ops) {
      (void)TileAndPeel(rewriter, op, strategy.cache_tile_sizes, strategy.cache_interchange,
                        [&](mlir::Operation* block) {
                          if (strategy.pack_b_strip > 0) {
                            block->setAttr(kPackAttr, builder.getDenseI64ArrayAttr(
                                                          {strategy.pack_b_strip,
                                                           strategy.pack_b_rows}));
                          }
                        });
    }
    if (!big_ops.empty() && mlir::failed(Canonicalize(func))) return mlir::failure();
    // Blocks (the peeled edges included, once static) whose B is worth packing.
    llvm::SmallVector<mlir::linalg::MatmulOp> pack_blocks;
    func.walk([&](mlir::linalg::MatmulOp block) {
      if (block->hasAttr(kPackAttr)) pack_blocks.push_back(block);
    });
    for (mlir::linalg::MatmulOp block : pack_blocks) {
      auto pack = block->getAttrOfType<mlir::DenseI64ArrayAttr>(kPackAttr).asArrayRef();
      block->removeAttr(kPackAttr);
      (void)PackMatmulBlock(rewriter, block, pack[0], pack[1]);  // else: unpacked, still right
    }
    if (!pack_blocks.empty() && mlir::failed(Canonicalize(func))) return mlir::failure();

    llvm::SmallVector<mlir::linalg::LinalgOp> ops;
    func.walk([&](mlir::linalg::LinalgOp op) { ops.push_back(op); });

    // Phase 1: tile each op by its strategy and peel ragged loops. Each tile records the
    // vector sizes to use if it is still dynamic after simplification.
    for (mlir::linalg::LinalgOp op : ops) {
      TileStrategy strategy = ChooseStrategy(op, vectorBits);
      if (!strategy.vectorize) continue;
      // Stays whole when tiling fails: scalar loops later.
      (void)TileAndPeel(rewriter, op, strategy.tile_sizes, strategy.interchange,
                        [&](mlir::Operation* tile) {
                          tile->setAttr(kVectorSizesAttr,
                                        builder.getDenseI64ArrayAttr(strategy.vector_sizes));
                          if (strategy.decompose_windowed)
                            tile->setAttr(kDecomposeAttr, builder.getUnitAttr());
                          if (strategy.named_contraction)
                            tile->setAttr(kNamedContractionAttr, builder.getUnitAttr());
                        });
    }
    // Folds the peeled bounds into static subview shapes.
    if (mlir::failed(Canonicalize(func))) return mlir::failure();

    // Phase 2: vectorize every tile: static ones at their own size, dynamic ones masked.
    llvm::SmallVector<mlir::linalg::LinalgOp> tiles;
    func.walk([&](mlir::linalg::LinalgOp tile) {
      if (tile->hasAttr(kVectorSizesAttr)) tiles.push_back(tile);
    });
    for (mlir::linalg::LinalgOp tile : tiles) {
      if (tile->hasAttr(kDecomposeAttr)) {
        // Windowed ops vectorize only in their 1-D form, at their static tile shape.
        auto one_d = DecomposeWindowed2D(rewriter, tile);
        if (mlir::failed(one_d)) {
          tile->removeAttr(kVectorSizesAttr);
          tile->removeAttr(kDecomposeAttr);
          continue;  // a tile that kept dynamic extents: scalar loops
        }
        if (mlir::failed(mlir::linalg::vectorizeOpPrecondition(*one_d))) continue;
        rewriter.setInsertionPoint(*one_d);
        auto vectorized = mlir::linalg::vectorize(rewriter, *one_d);
        if (mlir::succeeded(vectorized)) rewriter.replaceOp(*one_d, vectorized->replacements);
        continue;
      }
      llvm::SmallVector<int64_t> sizes =
          tile.hasDynamicShape()
              ? llvm::to_vector(
                    tile->getAttrOfType<mlir::DenseI64ArrayAttr>(kVectorSizesAttr).asArrayRef())
              : tile.getStaticLoopRanges();
      bool named = tile->hasAttr(kNamedContractionAttr);
      tile->removeAttr(kVectorSizesAttr);
      tile->removeAttr(kNamedContractionAttr);
      llvm::SmallVector<bool> scalable(sizes.size(), false);
      if (mlir::failed(mlir::linalg::vectorizeOpPrecondition(tile, sizes, scalable))) continue;
      rewriter.setInsertionPoint(tile);
      auto vectorized = mlir::linalg::vectorize(
          rewriter, tile, sizes, scalable, /*vectorizeNDExtract=*/false,
          /*flatten1DDepthwiseConv=*/false, /*assumeDynamicDimsMatchVecSizes=*/false, named);
      if (mlir::succeeded(vectorized)) rewriter.replaceOp(tile, vectorized->replacements);
    }
    // Fold the tiling arithmetic, then keep accumulators in registers across reduction loops.
    if (mlir::failed(Canonicalize(func))) return mlir::failure();
    mlir::linalg::hoistRedundantVectorTransfers(func);
    HoistAccumulators(func);
    return mlir::success();
  }

  // Tiles `op` (buffer semantics: the tiles write the same buffers, so the op is erased), lets
  // `mark` annotate the tile, then peels every tile loop whose step does not divide its range
  // (innermost first, so an outer peel copies inner loops already peeled): the main loops then
  // hold only full static tiles (unmasked vector code) and the ragged edges get their own
  // static copies, which carry the tile's marks.
  static mlir::LogicalResult TileAndPeel(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp op,
                                         llvm::ArrayRef<int64_t> sizes,
                                         llvm::ArrayRef<int64_t> interchange,
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
        (void)mlir::scf::peelForLoopAndSimplifyBounds(rewriter, for_op, partial);
    }
    return mlir::success();
  }

  mlir::LogicalResult Canonicalize(mlir::func::FuncOp func) {
    mlir::MLIRContext* ctx = &getContext();
    mlir::RewritePatternSet patterns(ctx);
    for (mlir::RegisteredOperationName name : ctx->getRegisteredOperations())
      name.getCanonicalizationPatterns(patterns, ctx);
    return mlir::applyPatternsGreedily(func, std::move(patterns));
  }
};

}  // namespace
}  // namespace kiln::compiler
