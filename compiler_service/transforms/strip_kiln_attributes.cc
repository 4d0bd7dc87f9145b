// kiln-strip-attributes: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_STRIPKILNATTRIBUTES
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct StripKilnAttributesPass : public impl::StripKilnAttributesBase<StripKilnAttributesPass> {
  void runOnOperation() override {
    getOperation()->walk([](mlir::func::FuncOp func) {
      auto strip = [](mlir::DictionaryAttr attrs) {
        llvm::SmallVector<mlir::NamedAttribute> kept;
        if (!attrs) return kept;
        for (const mlir::NamedAttribute& attr : attrs.getValue())
          if (!attr.getName().getValue().starts_with("kiln.")) kept.push_back(attr);
        return kept;
      };
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        func.setArgAttrs(i, strip(func.getArgAttrDict(i)));
      for (unsigned i = 0; i < func.getNumResults(); ++i)
        func.setResultAttrs(i, strip(func.getResultAttrDict(i)));
    });
  }
};

}  // namespace
}  // namespace kiln::compiler
