// kiln-distribute-workgroups: see Passes.td.
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/TilingInterface.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_DISTRIBUTEWORKGROUPS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct DistributeWorkgroupsPass : public impl::DistributeWorkgroupsBase<DistributeWorkgroupsPass> {
  using DistributeWorkgroupsBase::DistributeWorkgroupsBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    mlir::SymbolTable symbols(module);
    llvm::SmallPtrSet<mlir::Operation*, 16> async_dispatches;
    for (auto host : module.getOps<mlir::func::FuncOp>()) {
      auto model = host->getAttrOfType<mlir::StringAttr>(kExecutionModelAttr);
      if (!model || model.getValue() != kAsyncModel) continue;
      host.walk([&](mlir::func::CallOp call) {
        if (call->hasAttr(kDispatchAttr))
          async_dispatches.insert(symbols.lookup<mlir::func::FuncOp>(call.getCallee()));
      });
    }
    for (auto dispatch : module.getOps<mlir::func::FuncOp>()) {
      if (!dispatch->hasAttr(kDispatchAttr)) continue;
      if (async_dispatches.contains(dispatch)) {
        if (mlir::failed(Distribute(dispatch))) return signalPassFailure();
      } else {
        DropWorkgroupLevel(dispatch);
      }
    }
  }

  // One workgroup: the ops keep only the levels chosen below the workgroup's.
  static void DropWorkgroupLevel(mlir::func::FuncOp dispatch) {
    dispatch.walk([&](mlir::linalg::LinalgOp op) {
      LoweringConfigAttr config = GetLoweringConfig(op);
      if (!config || config.getWorkgroupTiles().empty()) return;
      if (config.getStrategy().empty()) {
        op->removeAttr(kLoweringConfigAttr);
        return;
      }
      TileStrategy strategy = FromConfig(config);
      strategy.workgroup_tile_sizes.clear();
      op->setAttr(kLoweringConfigAttr, ToConfig(op.getContext(), strategy));
    });
  }

  mlir::LogicalResult Distribute(mlir::func::FuncOp dispatch) {
    llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, llvm::SmallVector<int64_t>>> ops;
    bool any = false;
    dispatch.walk([&](mlir::linalg::LinalgOp op) {
      LoweringConfigAttr config = GetLoweringConfig(op);
      llvm::ArrayRef<int64_t> tiles =
          config ? config.getWorkgroupTiles() : llvm::ArrayRef<int64_t>();
      any |= !tiles.empty();
      ops.emplace_back(op, llvm::SmallVector<int64_t>(tiles));
    });
    if (!any) return mlir::success();  // one workgroup

    // A one-dimensional grid: each op splits one loop, into as many tiles as every other op.
    int64_t count = 0;
    for (auto& [op, tiles] : ops) {
      llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      auto split_loops = llvm::make_filter_range(llvm::seq<size_t>(0, tiles.size()),
                                                 [&](size_t loop) { return tiles[loop] != 0; });
      const size_t split = split_loops.empty() ? 0 : *split_loops.begin();
      if (tiles.size() != ranges.size() || llvm::range_size(split_loops) != 1 ||
          mlir::ShapedType::isDynamic(ranges[split]) || ranges[split] % tiles[split] != 0)
        return op.emitError() << "kiln-distribute-workgroups: workgroup_tiles must split one "
                                 "static loop of every op of the dispatch into equal tiles";
      const int64_t op_count = ranges[split] / tiles[split];
      if (count != 0 && op_count != count)
        return op.emitError() << "kiln-distribute-workgroups: this op splits into " << op_count
                              << " workgroups, another op of its dispatch into " << count;
      count = op_count;
    }

    mlir::Value workgroup_id = dispatch.getArgument(dispatch.getNumArguments() - 1);
    for (auto& [op, tiles] : ops) {
      mlir::OpBuilder b(op);
      auto tiling = llvm::cast<mlir::TilingInterface>(op.getOperation());
      llvm::SmallVector<mlir::Range> domain = tiling.getIterationDomain(b);
      llvm::SmallVector<mlir::OpFoldResult> offsets, sizes;
      for (const mlir::Range& range : domain) {
        offsets.push_back(range.offset);
        sizes.push_back(range.size);
      }
      for (auto [loop, tile] : llvm::enumerate(tiles)) {
        if (tile == 0) continue;
        mlir::Value tile_value = mlir::arith::ConstantIndexOp::create(b, op.getLoc(), tile);
        offsets[loop] =
            mlir::arith::MulIOp::create(b, op.getLoc(), workgroup_id, tile_value).getResult();
        sizes[loop] = b.getIndexAttr(tile);
      }
      if (mlir::failed(tiling.getTiledImplementation(b, offsets, sizes)))
        return op.emitError() << "cannot split into workgroups";
      op->erase();
    }
    dispatch->setAttr(kWorkgroupCountAttr,
                      mlir::Builder(dispatch.getContext()).getDenseI64ArrayAttr({count, 1, 1}));
    return mlir::success();
  }
};

}  // namespace
}  // namespace kiln::compiler
