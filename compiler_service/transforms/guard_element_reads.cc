// kiln-guard-element-reads: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_GUARDELEMENTREADS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// Whether `index` is within [0, size) whatever the data: a constant in range, or the
// iteration index of a loop whose static range fits (an elementwise read of a table at the
// op's own position).
bool ProvablyInRange(mlir::Value index, int64_t size, mlir::linalg::LinalgOp op) {
  if (mlir::ShapedType::isDynamic(size)) return false;
  llvm::APInt constant;
  if (mlir::matchPattern(index, mlir::m_ConstantInt(&constant)))
    return constant.getSExtValue() >= 0 && constant.getSExtValue() < size;
  if (auto loop = index.getDefiningOp<mlir::linalg::IndexOp>()) {
    if (loop->getParentOp() != op.getOperation()) return false;
    const int64_t range = op.getStaticLoopRanges()[loop.getDim()];
    return !mlir::ShapedType::isDynamic(range) && range <= size;
  }
  return false;
}

struct GuardElementReadsPass : public impl::GuardElementReadsBase<GuardElementReadsPass> {
  using GuardElementReadsBase::GuardElementReadsBase;

  void runOnOperation() override {
    llvm::SmallVector<mlir::tensor::ExtractOp> reads;
    bool refused = false;
    getOperation().walk([&](mlir::Operation* op) {
      if (!op->getParentOfType<mlir::linalg::LinalgOp>()) return;
      if (auto read = llvm::dyn_cast<mlir::tensor::ExtractOp>(op)) {
        reads.push_back(read);
      } else if (llvm::isa<mlir::tensor::InsertOp, mlir::tensor::ExtractSliceOp,
                           mlir::tensor::InsertSliceOp>(op)) {
        // Slices and writes at offsets a body computes: no check covers them (an insert
        // becomes a store at a data-chosen address).
        op->emitError() << "'" << op->getName()
                        << "' inside a linalg op's body is not supported: a body may read "
                           "other tensors only element by element, with tensor.extract";
        refused = true;
      }
    });
    if (refused) return signalPassFailure();
    for (mlir::tensor::ExtractOp read : reads) Guard(read);
  }

  static void Guard(mlir::tensor::ExtractOp read) {
    auto op = read->getParentOfType<mlir::linalg::LinalgOp>();
    auto type = llvm::cast<mlir::RankedTensorType>(read.getTensor().getType());
    mlir::OpBuilder b(read);
    const mlir::Location loc = read.getLoc();
    if (type.hasStaticShape() && type.getNumElements() == 0) {
      // No element to fall back to: every read of an empty tensor is out of range. (The body
      // runs only if its op's loops are not empty.)
      mlir::Value never = mlir::arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
      mlir::cf::AssertOp::create(b, loc, never,
                                 "an index computed from the inputs is out of range");
      read.replaceAllUsesWith(
          mlir::arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()))
              .getResult());
      read.erase();
      return;
    }
    mlir::Value all_in_range;
    llvm::SmallVector<mlir::Value> safe;
    mlir::Value zero;
    for (auto [dim, index] : llvm::enumerate(read.getIndices())) {
      const int64_t size = type.getDimSize(dim);
      if (ProvablyInRange(index, size, op)) {
        safe.push_back(index);
        continue;
      }
      if (!zero) zero = mlir::arith::ConstantIndexOp::create(b, loc, 0);
      mlir::Value extent =
          mlir::ShapedType::isDynamic(size)
              ? mlir::tensor::DimOp::create(b, loc, read.getTensor(), dim).getResult()
              : mlir::arith::ConstantIndexOp::create(b, loc, size).getResult();
      // One statement each: the IR's order must not depend on argument evaluation order.
      mlir::Value at_least_zero =
          mlir::arith::CmpIOp::create(b, loc, mlir::arith::CmpIPredicate::sge, index, zero);
      mlir::Value below_extent =
          mlir::arith::CmpIOp::create(b, loc, mlir::arith::CmpIPredicate::slt, index, extent);
      mlir::Value in_range = mlir::arith::AndIOp::create(b, loc, at_least_zero, below_extent);
      all_in_range = all_in_range
                         ? mlir::arith::AndIOp::create(b, loc, all_in_range, in_range).getResult()
                         : in_range;
      safe.push_back(mlir::arith::SelectOp::create(b, loc, in_range, index, zero));
    }
    if (!all_in_range) return;
    // Lowered in the dispatch to its status (kiln-lower-dispatch-asserts): the caller sees
    // INVALID_ARGUMENT, and the read above stays inside the tensor.
    mlir::cf::AssertOp::create(b, loc, all_in_range,
                               "an index computed from the inputs is out of range");
    read.getIndicesMutable().assign(safe);
  }
};

}  // namespace
}  // namespace kiln::compiler
