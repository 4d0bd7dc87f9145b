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

// `value` (a static tensor) with its dims permuted (result dim i = source dim perm[i]).
mlir::linalg::TransposeOp Transpose(mlir::RewriterBase& rewriter, mlir::Location loc,
                                    mlir::Value value, llvm::ArrayRef<int64_t> perm) {
  auto type = llvm::cast<mlir::RankedTensorType>(value.getType());
  llvm::SmallVector<int64_t> shape;
  for (int64_t d : perm) shape.push_back(type.getDimSize(d));
  auto empty = mlir::tensor::EmptyOp::create(rewriter, loc, shape, type.getElementType());
  return mlir::linalg::TransposeOp::create(rewriter, loc, value, empty, perm);
}

// A grouped convolution in one of upstream's layouts: which permutation of each operand gives
// kiln's (input NHWGC, filter GHWCF, output NHWGF); empty: already in it.
struct Layout {
  llvm::SmallVector<int64_t> input, filter, output;
};

void Generalize(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp op,
                mlir::DenseIntElementsAttr strides, mlir::DenseIntElementsAttr dilations,
                const Layout& layout) {
  if (!op.hasPureTensorSemantics()) return;
  mlir::Value input = op.getDpsInputOperand(0)->get(), filter = op.getDpsInputOperand(1)->get();
  mlir::Value init = op.getDpsInitOperand(0)->get();
  // Mixed element types need the named op's casts; they keep the named op (scalar loops).
  mlir::Type element = mlir::getElementTypeOrSelf(init.getType());
  if (mlir::getElementTypeOrSelf(input.getType()) != element ||
      mlir::getElementTypeOrSelf(filter.getType()) != element ||
      !(llvm::isa<mlir::FloatType>(element) || element.isSignlessInteger()))
    return;
  for (mlir::Value v : {input, filter, init}) {
    auto type = llvm::dyn_cast<mlir::RankedTensorType>(v.getType());
    if (!type || !type.hasStaticShape()) return;
  }
  mlir::Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  auto filter_transpose = Transpose(rewriter, loc, filter, layout.filter);
  if (!layout.input.empty()) input = Transpose(rewriter, loc, input, layout.input)->getResult(0);
  // (A transpose of a filled init folds into a fill: canonicalization.)
  if (!layout.output.empty()) init = Transpose(rewriter, loc, init, layout.output)->getResult(0);
  ConvWindow window{Pair(strides), Pair(dilations)};
  mlir::Value result =
      BuildGroupedConv2D(rewriter, loc, input, filter_transpose->getResult(0), init, window)
          ->getResult(0);
  if (!layout.output.empty()) {
    // Back from NHWGF: the inverse permutation.
    llvm::SmallVector<int64_t> inverse(layout.output.size());
    for (size_t i = 0; i < layout.output.size(); ++i) inverse[layout.output[i]] = int64_t(i);
    result = Transpose(rewriter, loc, result, inverse)->getResult(0);
  }
  rewriter.replaceOp(op, result);
  // Constant weights (the usual case) are transposed here, once, not on every call.
  FoldConstantTranspose(rewriter, filter_transpose);
}

struct GeneralizeGroupedConvolutionsPass
    : public impl::GeneralizeGroupedConvolutionsBase<GeneralizeGroupedConvolutionsPass> {
  using GeneralizeGroupedConvolutionsBase::GeneralizeGroupedConvolutionsBase;

  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    llvm::SmallVector<mlir::linalg::LinalgOp> convs;
    getOperation()->walk([&](mlir::linalg::LinalgOp op) {
      if (llvm::isa<mlir::linalg::Conv2DNhwgcGfhwcOp, mlir::linalg::Conv2DNgchwGfchwOp,
                    mlir::linalg::Conv2DNgchwFgchwOp>(op.getOperation()))
        convs.push_back(op);
    });
    for (mlir::linalg::LinalgOp op : convs) {
      if (auto nhwgc = llvm::dyn_cast<mlir::linalg::Conv2DNhwgcGfhwcOp>(op.getOperation())) {
        // Filter [G][F][KH][KW][C].
        Generalize(rewriter, op, nhwgc.getStrides(), nhwgc.getDilations(),
                   {{}, {0, 2, 3, 4, 1}, {}});
      } else if (auto gf = llvm::dyn_cast<mlir::linalg::Conv2DNgchwGfchwOp>(op.getOperation())) {
        // What torch-mlir makes of a grouped convolution: input [N][G][C][H][W], filter
        // [G][F][C][KH][KW], output [N][G][F][OH][OW]. Transposing the activations costs two
        // passes over them; the scalar loops of the named op cost 50x the convolution.
        Generalize(rewriter, op, gf.getStrides(), gf.getDilations(),
                   {{0, 3, 4, 1, 2}, {0, 3, 4, 2, 1}, {0, 3, 4, 1, 2}});
      } else if (auto fg = llvm::dyn_cast<mlir::linalg::Conv2DNgchwFgchwOp>(op.getOperation())) {
        // As above with the filter [F][G][C][KH][KW].
        Generalize(rewriter, op, fg.getStrides(), fg.getDilations(),
                   {{0, 3, 4, 1, 2}, {1, 3, 4, 2, 0}, {0, 3, 4, 1, 2}});
      }
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
