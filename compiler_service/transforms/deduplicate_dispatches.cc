// kiln-deduplicate-dispatches: see Passes.td.
#include <string>
#include <utility>

#include "compiler_service/transforms/passes.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_DEDUPLICATEDISPATCHES
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// The dispatch as text without its name: equal keys, interchangeable functions. Printing in
// full (no elided constants) keeps dispatches that differ only in a constant apart.
std::string Key(mlir::func::FuncOp dispatch) {
  const mlir::StringAttr name = dispatch.getSymNameAttr();
  dispatch.setSymName("kiln_dispatch");
  std::string key;
  llvm::raw_string_ostream os(key);
  dispatch->print(os, mlir::OpPrintingFlags().useLocalScope());
  dispatch.setSymNameAttr(name);
  return key;
}

struct DeduplicateDispatchesPass
    : public impl::DeduplicateDispatchesBase<DeduplicateDispatchesPass> {
  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    llvm::StringMap<mlir::func::FuncOp> first;
    llvm::SmallVector<std::pair<mlir::func::FuncOp, mlir::func::FuncOp>> duplicates;
    for (auto dispatch : module.getOps<mlir::func::FuncOp>()) {
      if (!dispatch->hasAttr(kDispatchAttr)) continue;
      auto [it, inserted] = first.try_emplace(Key(dispatch), dispatch);
      if (!inserted) duplicates.emplace_back(dispatch, it->second);
    }
    for (auto [duplicate, kept] : duplicates) {
      if (mlir::failed(mlir::SymbolTable::replaceAllSymbolUses(duplicate.getSymNameAttr(),
                                                               kept.getSymNameAttr(), module))) {
        duplicate.emitError("could not redirect the calls of a duplicate dispatch");
        return signalPassFailure();
      }
      duplicate.erase();
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
