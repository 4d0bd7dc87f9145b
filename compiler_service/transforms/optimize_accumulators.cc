// kiln-optimize-accumulators: see Passes.td.
#include "compiler_service/codegen/hoist_accumulators.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_OPTIMIZEACCUMULATORS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct OptimizeAccumulatorsPass : public impl::OptimizeAccumulatorsBase<OptimizeAccumulatorsPass> {
  using OptimizeAccumulatorsBase::OptimizeAccumulatorsBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr)) return;
    // Loop-invariant transfers out of the loops, then the accumulator rewrites of
    // codegen/hoist_accumulators.h, in this order: each works on what the one before left.
    mlir::linalg::hoistRedundantVectorTransfers(func);
    HoistAccumulators(func);
    ForwardSplatInits(func);
    DeferAccumulatorReads(func);
  }
};

}  // namespace
}  // namespace kiln::compiler
