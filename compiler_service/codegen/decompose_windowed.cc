#include "compiler_service/codegen/decompose_windowed.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace kiln::compiler {
namespace {

// A rank-reducing view of `value` without dimension `dim` (which must be a static 1).
mlir::FailureOr<mlir::Value> DropUnitDim(mlir::RewriterBase& rewriter, mlir::Location loc,
                                         mlir::Value value, unsigned dim) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(value.getType());
  if (!type || !type.hasStaticShape() || dim >= type.getRank() || type.getDimSize(dim) != 1)
    return mlir::failure();
  llvm::SmallVector<int64_t> shape;
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  for (unsigned i = 0; i < type.getRank(); ++i) {
    if (i != dim) shape.push_back(type.getDimSize(i));
    offsets.push_back(rewriter.getIndexAttr(0));
    sizes.push_back(rewriter.getIndexAttr(type.getDimSize(i)));
    strides.push_back(rewriter.getIndexAttr(1));
  }
  auto result_type =
      mlir::memref::SubViewOp::inferRankReducedResultType(shape, type, offsets, sizes, strides);
  return mlir::memref::SubViewOp::create(rewriter, loc, result_type, value, offsets, sizes, strides)
      .getResult();
}

// `drop`: the unit dimension of the input, the filter/window and the output.
template <typename From, typename To>
mlir::FailureOr<mlir::linalg::LinalgOp> Rewrite(mlir::RewriterBase& rewriter,
                                                mlir::linalg::LinalgOp op, unsigned input_dim,
                                                unsigned filter_dim, unsigned output_dim) {
  // The accessors fill in the defaults (1) when the attributes are absent.
  mlir::DenseIntElementsAttr strides = llvm::cast<From>(op.getOperation()).getStrides();
  mlir::DenseIntElementsAttr dilations = llvm::cast<From>(op.getOperation()).getDilations();
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1) return mlir::failure();
  // Check every operand first so that a failure leaves the op untouched.
  for (auto [value, dim] :
       {std::pair{op.getDpsInputs()[0], input_dim}, std::pair{op.getDpsInputs()[1], filter_dim},
        std::pair{op.getDpsInits()[0], output_dim}}) {
    auto type = llvm::dyn_cast<mlir::MemRefType>(value.getType());
    if (!type || !type.hasStaticShape() || type.getDimSize(dim) != 1) return mlir::failure();
  }
  mlir::Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  mlir::Value input = *DropUnitDim(rewriter, loc, op.getDpsInputs()[0], input_dim);
  mlir::Value filter = *DropUnitDim(rewriter, loc, op.getDpsInputs()[1], filter_dim);
  mlir::Value output = *DropUnitDim(rewriter, loc, op.getDpsInits()[0], output_dim);
  // The width components of the 2-D strides and dilations (index 1: [height, width]).
  auto width = [&](mlir::DenseIntElementsAttr attr) {
    return rewriter.getI64TensorAttr({(*(attr.getValues<int64_t>().begin() + 1))});
  };
  auto one_d = To::create(rewriter, loc, mlir::TypeRange{}, mlir::ValueRange{input, filter},
                          mlir::ValueRange{output}, width(strides), width(dilations));
  rewriter.eraseOp(op);
  return llvm::cast<mlir::linalg::LinalgOp>(one_d.getOperation());
}

}  // namespace

bool IsWindowed2D(mlir::Operation* op) {
  return llvm::isa<mlir::linalg::Conv2DNhwcHwcfOp, mlir::linalg::Conv2DNchwFchwOp,
                   mlir::linalg::DepthwiseConv2DNhwcHwcOp, mlir::linalg::PoolingNhwcMaxOp,
                   mlir::linalg::PoolingNhwcSumOp>(op);
}

mlir::FailureOr<mlir::linalg::LinalgOp> DecomposeWindowed2D(mlir::RewriterBase& rewriter,
                                                            mlir::linalg::LinalgOp op) {
  mlir::Operation* raw = op.getOperation();
  if (llvm::isa<mlir::linalg::Conv2DNhwcHwcfOp>(raw))
    return Rewrite<mlir::linalg::Conv2DNhwcHwcfOp, mlir::linalg::Conv1DNwcWcfOp>(rewriter, op, 1, 0,
                                                                                 1);
  if (llvm::isa<mlir::linalg::Conv2DNchwFchwOp>(raw))
    return Rewrite<mlir::linalg::Conv2DNchwFchwOp, mlir::linalg::Conv1DNcwFcwOp>(rewriter, op, 2, 2,
                                                                                 2);
  if (llvm::isa<mlir::linalg::DepthwiseConv2DNhwcHwcOp>(raw))
    return Rewrite<mlir::linalg::DepthwiseConv2DNhwcHwcOp, mlir::linalg::DepthwiseConv1DNwcWcOp>(
        rewriter, op, 1, 0, 1);
  if (llvm::isa<mlir::linalg::PoolingNhwcMaxOp>(raw))
    return Rewrite<mlir::linalg::PoolingNhwcMaxOp, mlir::linalg::PoolingNwcMaxOp>(rewriter, op, 1,
                                                                                  0, 1);
  if (llvm::isa<mlir::linalg::PoolingNhwcSumOp>(raw))
    return Rewrite<mlir::linalg::PoolingNhwcSumOp, mlir::linalg::PoolingNwcSumOp>(rewriter, op, 1,
                                                                                  0, 1);
  return mlir::failure();
}

}  // namespace kiln::compiler
