// kiln-select-lowering-strategy: see Passes.td.
#include "compiler_service/codegen/strategy.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_SELECTLOWERINGSTRATEGY
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct SelectLoweringStrategyPass
    : public impl::SelectLoweringStrategyBase<SelectLoweringStrategyPass> {
  using SelectLoweringStrategyBase::SelectLoweringStrategyBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    const TargetInfo target{.vector_bits = vectorBits};
    func.walk([&](mlir::linalg::LinalgOp op) {
      if (GetLoweringConfig(op)) return;
      op->setAttr(kLoweringConfigAttr, ToConfig(&getContext(), ChooseStrategy(op, target)));
    });
  }
};

}  // namespace

}  // namespace kiln::compiler
