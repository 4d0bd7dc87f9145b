// kiln-verify-supported-input: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_VERIFYSUPPORTEDINPUT
#include "compiler_service/transforms/Passes.h.inc"

namespace {

bool IsSupportedDialect(llvm::StringRef ns) {
  return ns == "builtin" || ns == "func" || ns == "linalg" || ns == "tensor" || ns == "arith" ||
         ns == "math" || ns == "tosa";
}

bool IsSupportedElementType(mlir::Type type) {
  if (type.isF32() || type.isF64() || type.isF16() || type.isBF16()) return true;
  if (auto int_type = llvm::dyn_cast<mlir::IntegerType>(type))
    return int_type.isSignless() &&
           (int_type.getWidth() == 1 || int_type.getWidth() == 8 || int_type.getWidth() == 16 ||
            int_type.getWidth() == 32 || int_type.getWidth() == 64);
  return false;
}

// Returns an error message for a type kiln cannot handle, or an empty string.
std::string CheckValueType(mlir::Type type) {
  auto shaped = llvm::dyn_cast<mlir::ShapedType>(type);
  if (!shaped) return "";
  if (!shaped.hasRank()) return "unranked types are not supported";
  if (!shaped.hasStaticShape()) return "dynamic shapes are not supported";
  return "";
}

std::string TypeToString(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  return text;
}

struct VerifySupportedInputPass : public impl::VerifySupportedInputBase<VerifySupportedInputPass> {
  void runOnOperation() override {
    bool failed = false;
    int public_functions = 0;
    // Pre-order, so that skipping an unsupported op also skips its body (one error per op).
    getOperation()->walk<mlir::WalkOrder::PreOrder>([&](mlir::Operation* op) {
      llvm::StringRef ns = op->getName().getDialectNamespace();
      if (!IsSupportedDialect(ns)) {
        op->emitError() << "unsupported op '" << op->getName()
                        << "': kiln compiles func, linalg, tensor, arith, math and tosa ops";
        failed = true;
        return mlir::WalkResult::skip();
      }
      for (mlir::Type type : op->getResultTypes()) {
        std::string problem = CheckValueType(type);
        if (!problem.empty()) {
          op->emitError() << "op '" << op->getName() << "' has result type " << TypeToString(type)
                          << ": " << problem;
          failed = true;
          return mlir::WalkResult::skip();
        }
      }
      if (auto func = llvm::dyn_cast<mlir::func::FuncOp>(op)) {
        if (func.isExternal()) {
          func.emitError() << "function '" << func.getSymName()
                           << "' has no body: external functions are not supported";
          failed = true;
          return mlir::WalkResult::skip();
        }
        if (!func.isPublic()) return mlir::WalkResult::advance();  // inlined into callers
        ++public_functions;
        auto check_signature_type = [&](mlir::Type type, llvm::StringRef what) {
          auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(type);
          std::string problem;
          if (!tensor)
            problem = "must be a ranked tensor";
          else if (!tensor.hasStaticShape())
            problem = "dynamic shapes are not supported";
          else if (!IsSupportedElementType(tensor.getElementType()))
            problem =
                "element type is not supported (use f32, f64, f16, bf16, i1, i8, i16, i32 "
                "or i64)";
          if (problem.empty()) return true;
          func.emitError() << "function '" << func.getSymName() << "' " << what << " of type "
                           << TypeToString(type) << ": " << problem;
          return false;
        };
        // The first bad type of a signature is reported; the rest usually repeat it.
        bool signature_ok = true;
        for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
          if (signature_ok && !check_signature_type(type, ("argument #" + llvm::Twine(i)).str()))
            signature_ok = false;
        for (auto [i, type] : llvm::enumerate(func.getResultTypes()))
          if (signature_ok && !check_signature_type(type, ("result #" + llvm::Twine(i)).str()))
            signature_ok = false;
        if (!signature_ok) {
          failed = true;
          return mlir::WalkResult::skip();
        }
      }
      return mlir::WalkResult::advance();
    });
    if (!failed && public_functions == 0) {
      getOperation().emitError() << "module has no public function to export";
      failed = true;
    }
    if (failed) signalPassFailure();
  }
};

}  // namespace
}  // namespace kiln::compiler
