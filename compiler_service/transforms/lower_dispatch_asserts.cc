// kiln-lower-dispatch-asserts: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "runtime_service/executable_abi.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_LOWERDISPATCHASSERTS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct LowerDispatchAssertsPass : public impl::LowerDispatchAssertsBase<LowerDispatchAssertsPass> {
  using LowerDispatchAssertsBase::LowerDispatchAssertsBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (!func->hasAttr(kDispatchAttr) || func.isExternal()) return;
    llvm::SmallVector<mlir::cf::AssertOp> asserts;
    func.walk([&](mlir::cf::AssertOp check) { asserts.push_back(check); });
    if (asserts.empty()) return;
    if (func.getNumResults() != 0) {
      func.emitError() << "kiln-lower-dispatch-asserts: a dispatch function must return nothing";
      return signalPassFailure();
    }
    mlir::OpBuilder b(&getContext());
    const mlir::Location loc = func.getLoc();
    mlir::Type i32 = b.getI32Type();
    // The status, in a stack slot LLVM keeps in a register: branch-free checks keep the loops
    // around them as they were.
    b.setInsertionPointToStart(&func.getBody().front());
    mlir::Value status = mlir::memref::AllocaOp::create(b, loc, mlir::MemRefType::get({}, i32));
    mlir::Value ok = mlir::arith::ConstantIntOp::create(b, loc, i32, KILN_DISPATCH_OK);
    mlir::memref::StoreOp::create(b, loc, ok, status, mlir::ValueRange{});
    mlir::Value failed =
        mlir::arith::ConstantIntOp::create(b, loc, i32, KILN_DISPATCH_INDEX_OUT_OF_RANGE);
    for (mlir::cf::AssertOp check : asserts) {
      b.setInsertionPoint(check);
      mlir::Value before =
          mlir::memref::LoadOp::create(b, check.getLoc(), status, mlir::ValueRange{});
      mlir::Value after =
          mlir::arith::SelectOp::create(b, check.getLoc(), check.getArg(), before, failed);
      mlir::memref::StoreOp::create(b, check.getLoc(), after, status, mlir::ValueRange{});
      check.erase();
    }
    func.walk([&](mlir::func::ReturnOp ret) {
      b.setInsertionPoint(ret);
      mlir::Value result =
          mlir::memref::LoadOp::create(b, ret.getLoc(), status, mlir::ValueRange{});
      mlir::func::ReturnOp::create(b, ret.getLoc(), result);
      ret.erase();
    });
    func.setType(b.getFunctionType(func.getArgumentTypes(), {i32}));
  }
};

}  // namespace
}  // namespace kiln::compiler
