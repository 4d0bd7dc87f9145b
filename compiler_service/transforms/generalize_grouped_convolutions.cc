// kiln-generalize-grouped-convolutions: see Passes.td.
#include "compiler_service/codegen/grouped_conv.h"
#include "compiler_service/transforms/passes.h"
#include "compiler_service/transforms/transpose_constant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_GENERALIZEGROUPEDCONVOLUTIONS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// [height, width] of a named convolution's strides or dilations.
std::array<int64_t, 2> Pair(mlir::DenseIntElementsAttr attr) {
  auto values = attr.getValues<int64_t>();
  return {*values.begin(), *(values.begin() + 1)};
}

void Generalize(mlir::RewriterBase& rewriter, mlir::linalg::Conv2DNhwgcGfhwcOp op) {
  if (!op.hasPureTensorSemantics()) return;
  mlir::Value input = op.getDpsInputOperand(0)->get(), filter = op.getDpsInputOperand(1)->get();
  mlir::Value init = op.getDpsInitOperand(0)->get();
  // Mixed element types need the named op's casts; they keep the named op (scalar loops).
  mlir::Type element = mlir::getElementTypeOrSelf(init.getType());
  if (mlir::getElementTypeOrSelf(input.getType()) != element ||
      mlir::getElementTypeOrSelf(filter.getType()) != element ||
      !(llvm::isa<mlir::FloatType>(element) || element.isSignlessInteger()))
    return;
  auto filter_type = llvm::dyn_cast<mlir::RankedTensorType>(filter.getType());
  if (!filter_type || !filter_type.hasStaticShape()) return;
  mlir::Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  // [G][F][KH][KW][C] → [G][KH][KW][C][F]
  const llvm::SmallVector<int64_t> perm = {0, 2, 3, 4, 1};
  llvm::SmallVector<int64_t> shape;
  for (int64_t d : perm) shape.push_back(filter_type.getDimSize(d));
  auto empty = mlir::tensor::EmptyOp::create(rewriter, loc, shape, element);
  auto transpose = mlir::linalg::TransposeOp::create(rewriter, loc, filter, empty, perm);
  ConvWindow window{Pair(op.getStrides()), Pair(op.getDilations())};
  auto grouped = BuildGroupedConv2D(rewriter, loc, input, transpose->getResult(0), init, window);
  rewriter.replaceOp(op, grouped->getResults());
  // Constant weights (the usual case) are transposed here, once, not on every call.
  FoldConstantTranspose(rewriter, transpose);
}

struct GeneralizeGroupedConvolutionsPass
    : public impl::GeneralizeGroupedConvolutionsBase<GeneralizeGroupedConvolutionsPass> {
  using GeneralizeGroupedConvolutionsBase::GeneralizeGroupedConvolutionsBase;

  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    llvm::SmallVector<mlir::linalg::Conv2DNhwgcGfhwcOp> convs;
    getOperation()->walk([&](mlir::linalg::Conv2DNhwgcGfhwcOp op) { convs.push_back(op); });
    for (mlir::linalg::Conv2DNhwgcGfhwcOp op : convs) Generalize(rewriter, op);
  }
};

}  // namespace
}  // namespace kiln::compiler
