// kiln-verify-supported-input: see Passes.td.
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compiler_service/transforms/passes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
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

// Bytes a tensor of `type` takes in memory (i1 as one byte), or nullopt past INT64_MAX or for
// an element type without a fixed size.
std::optional<int64_t> ByteSize(mlir::ShapedType type) {
  mlir::Type element = type.getElementType();
  int64_t bytes = 8;  // index
  if (element.isIntOrFloat())
    bytes = (element.getIntOrFloatBitWidth() + 7) / 8;
  else if (!element.isIndex())
    return std::nullopt;
  for (int64_t dim : type.getShape()) {
    if (dim < 0) return std::nullopt;
    if (dim != 0 && bytes > std::numeric_limits<int64_t>::max() / dim) return std::nullopt;
    bytes *= dim;
  }
  return bytes;
}

// Checks the size of every tensor literal `op` carries (arith.constant, tosa.const).
bool CheckConstantSizes(mlir::Operation* op, int64_t limit) {
  for (const mlir::NamedAttribute& attr : op->getAttrs()) {
    auto elements = llvm::dyn_cast<mlir::ElementsAttr>(attr.getValue());
    if (!elements) continue;
    mlir::ShapedType type = elements.getShapedType();
    std::optional<int64_t> bytes = ByteSize(type);
    if (bytes && *bytes <= limit) continue;
    auto diag = op->emitError() << "constant of type " << TypeToString(type) << " takes ";
    if (bytes)
      diag << *bytes << " bytes";
    else
      diag << "more than 2^63 bytes";
    diag << "; the limit for one constant is " << limit << " bytes";
    if (limit == int64_t{2} << 30) diag << " (2 GiB)";
    return false;
  }
  return true;
}

// Reports every call that closes a cycle of calls (func.call, or a func.constant naming a
// function), with the cycle. The walk is iterative: a long chain of calls must not overflow
// the stack.
bool CheckNoRecursion(mlir::ModuleOp module) {
  struct Call {
    llvm::StringRef callee;
    mlir::Operation* op;
  };
  llvm::MapVector<llvm::StringRef, llvm::SmallVector<Call>> calls;
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    auto& out = calls[func.getSymName()];
    func.walk([&](mlir::Operation* op) {
      if (auto call = llvm::dyn_cast<mlir::func::CallOp>(op))
        out.push_back({call.getCallee(), op});
      else if (auto constant = llvm::dyn_cast<mlir::func::ConstantOp>(op))
        out.push_back({constant.getValue(), op});
    });
  }
  enum class State : uint8_t { kOnPath, kDone };
  llvm::DenseMap<llvm::StringRef, State> state;
  std::vector<std::pair<llvm::StringRef, size_t>> path;  // function, next call to follow
  bool ok = true;
  for (const auto& entry : calls) {
    if (state.contains(entry.first)) continue;
    state[entry.first] = State::kOnPath;
    path.emplace_back(entry.first, 0);
    while (!path.empty()) {
      const llvm::StringRef caller = path.back().first;
      const auto& out = calls.find(caller)->second;
      if (path.back().second == out.size()) {
        state[caller] = State::kDone;
        path.pop_back();
        continue;
      }
      const Call& call = out[path.back().second++];
      if (!calls.contains(call.callee)) continue;
      auto it = state.find(call.callee);
      if (it == state.end()) {
        state[call.callee] = State::kOnPath;
        path.emplace_back(call.callee, 0);
      } else if (it->second == State::kOnPath) {
        std::string cycle;
        bool in_cycle = false;
        for (const auto& step : path) {
          in_cycle = in_cycle || step.first == call.callee;
          if (in_cycle) cycle += "'" + step.first.str() + "' -> ";
        }
        cycle += "'" + call.callee.str() + "'";
        call.op->emitError() << "recursive call: " << cycle
                             << ": kiln inlines every call, so recursion is not supported";
        ok = false;
      }
    }
  }
  return ok;
}

struct VerifySupportedInputPass : public impl::VerifySupportedInputBase<VerifySupportedInputPass> {
  using VerifySupportedInputBase::VerifySupportedInputBase;

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
      if (!CheckConstantSizes(op, maxConstantBytes)) {
        failed = true;
        return mlir::WalkResult::skip();
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
            problem = tensor.getNumDynamicDims() == 1 && tensor.isDynamicDim(0)
                          ? "a dynamic leading (batch) dim needs a batch size to compile for "
                            "(config.json \"max_batch_size\" in a model repository, kiln "
                            "compile --batch-size)"
                          : "dynamic shapes are not supported";
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
    if (!CheckNoRecursion(getOperation())) failed = true;
    if (!failed && public_functions == 0) {
      getOperation().emitError() << "module has no public function to export";
      failed = true;
    }
    if (failed) signalPassFailure();
  }
};

}  // namespace
}  // namespace kiln::compiler
