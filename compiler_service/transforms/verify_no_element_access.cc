// kiln-verify-no-element-access: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_VERIFYNOELEMENTACCESS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct VerifyNoElementAccessPass
    : public impl::VerifyNoElementAccessBase<VerifyNoElementAccessPass> {
  void runOnOperation() override {
    bool failed = false;
    getOperation()->walk([&](mlir::Operation* op) {
      if (!llvm::isa<mlir::tensor::ExtractOp, mlir::tensor::InsertOp>(op)) return;
      if (op->getParentOfType<mlir::linalg::LinalgOp>()) return;  // a gather: in a dispatch
      op->emitError() << "'" << op->getName()
                      << "' accesses a single tensor element outside a linalg op, which kiln "
                         "cannot run: it compiles whole-tensor ops (index inside a "
                         "linalg.generic body, or use tosa.gather)";
      failed = true;
    });
    if (failed) signalPassFailure();
  }
};

}  // namespace
}  // namespace kiln::compiler
