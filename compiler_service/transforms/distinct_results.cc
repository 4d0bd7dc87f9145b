// kiln-distinct-results: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "llvm/ADT/DenseSet.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_DISTINCTRESULTS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// Replaces each operand of `ret` that an earlier operand already returns by a copy of it.
void CopyRepeatedOperands(mlir::func::ReturnOp ret) {
  llvm::SmallDenseSet<mlir::Value> returned;
  mlir::OpBuilder builder(ret);
  for (mlir::OpOperand& operand : ret->getOpOperands()) {
    const mlir::Value value = operand.get();
    if (returned.insert(value).second) continue;
    // kiln-verify-supported-input admits static-shape tensors only.
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
    if (!type || !type.hasStaticShape()) continue;
    const mlir::Value empty = mlir::tensor::EmptyOp::create(builder, ret.getLoc(), type.getShape(),
                                                            type.getElementType());
    auto copy = mlir::linalg::CopyOp::create(builder, ret.getLoc(), value, empty);
    operand.set(copy.getResult(0));
  }
}

struct DistinctResultsPass : public impl::DistinctResultsBase<DistinctResultsPass> {
  void runOnOperation() override { getOperation()->walk(CopyRepeatedOperands); }
};

}  // namespace
}  // namespace kiln::compiler
