// kiln-specialize-batch: see Passes.td.
#include <string>

#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_SPECIALIZEBATCH
#include "compiler_service/transforms/Passes.h.inc"

namespace {

std::string TypeText(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream(text) << type;
  return text;
}

// "argument #1 ('x')": how errors name a signature entry.
std::string Describe(llvm::StringRef what, unsigned index, mlir::DictionaryAttr attrs) {
  std::string text = (what + " #" + llvm::Twine(index)).str();
  auto name = attrs ? attrs.getAs<mlir::StringAttr>("kiln.name") : mlir::StringAttr();
  if (name) text += " ('" + name.getValue().str() + "')";
  return text;
}

bool DynamicLeadingDim(mlir::Type type) {
  auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(type);
  return tensor && tensor.getRank() > 0 && tensor.isDynamicDim(0);
}

struct SpecializeBatchPass : public impl::SpecializeBatchBase<SpecializeBatchPass> {
  using SpecializeBatchBase::SpecializeBatchBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    if (batchSize < 1) {
      module.emitError() << "batch size " << static_cast<int64_t>(batchSize)
                         << " must be at least 1";
      return signalPassFailure();
    }
    llvm::SmallVector<mlir::func::FuncOp> funcs;
    for (auto func : module.getOps<mlir::func::FuncOp>())
      if (func.isPublic() && !func.isExternal()) funcs.push_back(func);

    bool any = false;
    for (mlir::func::FuncOp func : funcs) {
      if (mlir::failed(SpecializeArguments(func, any))) return signalPassFailure();
      for (unsigned i = 0; i < func.getNumResults(); ++i)
        if (DynamicLeadingDim(func.getResultTypes()[i]))
          func.setResultAttr(i, kBatchAttrName, mlir::UnitAttr::get(&getContext()));
    }
    if (!any) {
      module.emitError() << "batch size " << static_cast<int64_t>(batchSize)
                         << " given, but no public function has an argument with a dynamic "
                            "leading (batch) dim such as tensor<?x...>";
      return signalPassFailure();
    }

    // Static shapes flow from the arguments: TOSA ops through shape inference, linalg and
    // tensor ops by folding the casts.
    mlir::OpPassManager pm(mlir::ModuleOp::getOperationName());
    pm.addNestedPass<mlir::func::FuncOp>(mlir::tosa::createTosaInferShapesPass());
    pm.addPass(mlir::createCanonicalizerPass());
    if (mlir::failed(runPipeline(pm, module))) return signalPassFailure();

    for (mlir::func::FuncOp func : funcs)
      if (mlir::failed(RefineResults(func))) return signalPassFailure();
  }

  mlir::LogicalResult SpecializeArguments(mlir::func::FuncOp func, bool& any) {
    mlir::Block& entry = func.front();
    mlir::OpBuilder builder = mlir::OpBuilder::atBlockBegin(&entry);
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      mlir::BlockArgument arg = entry.getArgument(i);
      if (!DynamicLeadingDim(arg.getType())) continue;
      auto type = llvm::cast<mlir::RankedTensorType>(arg.getType());
      for (int64_t d = 1; d < type.getRank(); ++d) {
        if (!type.isDynamicDim(d)) continue;
        return func.emitError() << "function '" << func.getSymName() << "' "
                                << Describe("argument", i, func.getArgAttrDict(i)) << " of type "
                                << TypeText(type) << ": dim " << d
                                << " is dynamic; only the leading (batch) dim may be";
      }
      llvm::SmallVector<int64_t> shape(type.getShape());
      shape[0] = batchSize;
      auto specialized = type.clone(shape);
      arg.setType(specialized);
      // Every user but TOSA's sees the type it was written for; canonicalization folds the cast.
      auto cast = mlir::tensor::CastOp::create(builder, arg.getLoc(), type, arg);
      arg.replaceUsesWithIf(cast.getResult(), [&](mlir::OpOperand& use) {
        mlir::Operation* user = use.getOwner();
        return user != cast.getOperation() &&
               !llvm::isa<mlir::tosa::TosaDialect>(user->getDialect());
      });
      func.setArgAttr(i, kBatchAttrName, mlir::UnitAttr::get(&getContext()));
      any = true;
    }
    func.setFunctionType(
        mlir::FunctionType::get(&getContext(), entry.getArgumentTypes(), func.getResultTypes()));
    return mlir::success();
  }

  // Each result takes the static type its value has now (a cast to the declared dynamic type
  // in front of the return is looked through).
  mlir::LogicalResult RefineResults(mlir::func::FuncOp func) {
    llvm::SmallVector<mlir::Type> results(func.getResultTypes());
    llvm::SmallVector<mlir::func::ReturnOp> returns;
    func.walk([&](mlir::func::ReturnOp ret) { returns.push_back(ret); });
    for (unsigned k = 0; k < results.size(); ++k) {
      if (llvm::cast<mlir::ShapedType>(results[k]).hasStaticShape()) continue;
      mlir::Type refined;
      for (mlir::func::ReturnOp ret : returns) {
        mlir::Value value = ret.getOperand(k);
        if (auto cast = value.getDefiningOp<mlir::tensor::CastOp>()) value = cast.getSource();
        auto type = llvm::dyn_cast<mlir::RankedTensorType>(value.getType());
        if (!type || !type.hasStaticShape() || (refined && refined != type)) {
          refined = {};
          break;
        }
        refined = type;
      }
      if (!refined) {
        return func.emitError() << "function '" << func.getSymName() << "' "
                                << Describe("result", k, func.getResultAttrDict(k)) << " of type "
                                << TypeText(results[k]) << " has no static shape for batch "
                                << static_cast<int64_t>(batchSize)
                                << ": only the batch may be dynamic, and results must follow "
                                   "from the arguments' shapes";
      }
      if (func.getResultAttr(k, kBatchAttrName) &&
          llvm::cast<mlir::RankedTensorType>(refined).getDimSize(0) != batchSize) {
        return func.emitError() << "function '" << func.getSymName() << "' "
                                << Describe("result", k, func.getResultAttrDict(k)) << " of type "
                                << TypeText(results[k]) << " is " << TypeText(refined)
                                << " for batch " << static_cast<int64_t>(batchSize)
                                << ": a dynamic leading dim of a result must be the batch";
      }
      for (mlir::func::ReturnOp ret : returns) {
        mlir::Value value = ret.getOperand(k);
        auto cast = value.getDefiningOp<mlir::tensor::CastOp>();
        if (!cast) continue;
        ret->setOperand(k, cast.getSource());
        if (cast->use_empty()) cast->erase();
      }
      results[k] = refined;
    }
    func.setFunctionType(mlir::FunctionType::get(&getContext(), func.getArgumentTypes(), results));
    return mlir::success();
  }
};

}  // namespace
}  // namespace kiln::compiler
