// kiln-select-lowering-strategy: see Passes.td.
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/codegen/workgroup_tiles.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_SELECTLOWERINGSTRATEGY
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct SelectLoweringStrategyPass
    : public impl::SelectLoweringStrategyBase<SelectLoweringStrategyPass> {
  using SelectLoweringStrategyBase::SelectLoweringStrategyBase;

  mlir::LogicalResult initialize(mlir::MLIRContext* ctx) override {
    if (level != "workgroup" && level != "codegen")
      return mlir::emitError(mlir::UnknownLoc::get(ctx))
             << "kiln-select-lowering-strategy: level must be workgroup or codegen, not '" << level
             << "'";
    return mlir::success();
  }

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    const TargetInfo target{.vector_bits = vectorBits};
    mlir::MLIRContext* ctx = &getContext();
    if (level == "workgroup") {
      // A dispatch chosen for already (a test, or IR written by hand) keeps its split.
      bool chosen = false;
      func.walk([&](mlir::linalg::LinalgOp op) {
        if (LoweringConfigAttr config = GetLoweringConfig(op))
          chosen |= !config.getWorkgroupTiles().empty();
      });
      if (chosen) return;
      const WorkgroupOptions options{.target_workgroups = targetWorkgroups,
                                     .min_work_per_workgroup = minWorkPerWorkgroup};
      auto tiles = ChooseWorkgroupTiles(func, target, options);
      if (!tiles) return;
      for (auto& [op, sizes] : *tiles) {
        TileStrategy strategy;
        if (LoweringConfigAttr config = GetLoweringConfig(op)) strategy = FromConfig(config);
        strategy.workgroup_tile_sizes = sizes;
        op->setAttr(kLoweringConfigAttr, ToConfig(ctx, strategy));
      }
      return;
    }
    func.walk([&](mlir::linalg::LinalgOp op) {
      LoweringConfigAttr config = GetLoweringConfig(op);
      if (config && !config.getStrategy().empty()) return;
      TileStrategy strategy = ChooseStrategy(op, target);
      if (config)
        strategy.workgroup_tile_sizes.assign(config.getWorkgroupTiles().begin(),
                                             config.getWorkgroupTiles().end());
      op->setAttr(kLoweringConfigAttr, ToConfig(ctx, strategy));
    });
  }
};

}  // namespace

}  // namespace kiln::compiler
