// kiln-normalize-reductions: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_NORMALIZEREDUCTIONS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// The multiply of a payload that is `yield out + x * y` (floats), or null.
mlir::arith::MulFOp MultiplyAccumulate(mlir::linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0 ||
      !op.hasPureTensorSemantics())
    return {};
  mlir::Block& body = op.getRegion().front();
  auto yield = llvm::cast<mlir::linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues().front().getDefiningOp<mlir::arith::AddFOp>();
  if (!add) return {};
  mlir::Value out = body.getArgument(2);
  mlir::Value product = add.getLhs() == out   ? add.getRhs()
                        : add.getRhs() == out ? add.getLhs()
                                              : nullptr;
  if (!product) return {};
  auto mul = product.getDefiningOp<mlir::arith::MulFOp>();
  if (!mul || mul->getBlock() != &body || !mul->hasOneUse() || !add->hasOneUse()) return {};
  return mul;
}

// The ops of the payload that compute `value` (an operand of `mul`) from input block argument
// `arg` and values from outside the op only, in order. Empty when `value` is `arg` itself or
// depends on anything else (the other input, the accumulator, linalg.index, ops with regions
// or effects), or when `arg` or a step is used by anything but the chain and `mul`'s `value`
// operand: after the move those users would read the transformed element as `arg`.
llvm::SmallVector<mlir::Operation*> InputTransform(mlir::Value value, mlir::BlockArgument arg,
                                                   mlir::arith::MulFOp mul, mlir::Block& body) {
  llvm::SmallVector<mlir::Operation*> chain;
  llvm::SmallVector<mlir::Value> work = {value};
  llvm::DenseSet<mlir::Operation*> seen;
  while (!work.empty()) {
    mlir::Value v = work.pop_back_val();
    if (v == arg) continue;
    if (auto block_arg = llvm::dyn_cast<mlir::BlockArgument>(v)) {
      if (block_arg.getOwner() == &body) return {};  // another input or the accumulator
      continue;
    }
    mlir::Operation* def = v.getDefiningOp();
    if (def->getBlock() != &body) continue;  // defined outside: in scope of a new op too
    if (def->getNumRegions() != 0 || !mlir::isMemoryEffectFree(def) ||
        llvm::isa<mlir::linalg::IndexOp>(def) || def->getNumResults() != 1)
      return {};
    if (!seen.insert(def).second) continue;
    chain.push_back(def);
    for (mlir::Value operand : def->getOperands()) work.push_back(operand);
  }
  if (chain.empty()) return {};
  // The multiply's other operand is neither `value` (x * x) nor computed by the chain.
  mlir::Value other = mul.getLhs() == value ? mul.getRhs() : mul.getLhs();
  if (other == value || (other.getDefiningOp() && seen.contains(other.getDefiningOp()))) return {};
  for (mlir::Operation* op : chain)
    for (mlir::Operation* user : op->getUsers())
      if (!seen.contains(user) && (user != mul.getOperation() || op->getResult(0) != value))
        return {};
  for (mlir::Operation* user : arg.getUsers())
    if (!seen.contains(user)) return {};
  llvm::sort(chain, [](mlir::Operation* a, mlir::Operation* b) { return a->isBeforeInBlock(b); });
  return chain;
}

// Moves the transform of input `index` out into an elementwise op over that input; the
// multiply then reads the input's element directly.
void HoistInputTransform(mlir::RewriterBase& rewriter, mlir::linalg::GenericOp op,
                         mlir::arith::MulFOp mul, unsigned index) {
  mlir::Block& body = op.getRegion().front();
  mlir::BlockArgument arg = body.getArgument(index);
  mlir::Value factor = mul.getLhs();
  bool lhs = true;
  auto chain = InputTransform(factor, arg, mul, body);
  if (chain.empty()) {
    factor = mul.getRhs();
    lhs = false;
    chain = InputTransform(factor, arg, mul, body);
  }
  if (chain.empty() || factor.getType() != arg.getType()) return;
  mlir::Value input = op.getDpsInputOperand(index)->get();
  auto type = llvm::cast<mlir::RankedTensorType>(input.getType());
  mlir::Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  mlir::Value empty =
      mlir::tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType());
  auto identity = rewriter.getMultiDimIdentityMap(type.getRank());
  llvm::SmallVector<mlir::utils::IteratorType> parallel(type.getRank(),
                                                        mlir::utils::IteratorType::parallel);
  auto transform = mlir::linalg::GenericOp::create(
      rewriter, loc, mlir::TypeRange{type}, mlir::ValueRange{input}, mlir::ValueRange{empty},
      llvm::ArrayRef<mlir::AffineMap>{identity, identity}, parallel,
      [&](mlir::OpBuilder& b, mlir::Location, mlir::ValueRange args) {
        mlir::IRMapping mapping;
        mapping.map(arg, args[0]);
        for (mlir::Operation* step : chain) b.clone(*step, mapping);
        mlir::linalg::YieldOp::create(b, loc, mapping.lookup(factor));
      });
  rewriter.modifyOpInPlace(op, [&] {
    op.getDpsInputOperand(index)->set(transform.getResult(0));
    mul->setOperand(lhs ? 0 : 1, arg);
  });
  for (mlir::Operation* step : llvm::reverse(chain))
    if (step->use_empty()) rewriter.eraseOp(step);
}

struct NormalizeReductionsPass : public impl::NormalizeReductionsBase<NormalizeReductionsPass> {
  using NormalizeReductionsBase::NormalizeReductionsBase;

  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    llvm::SmallVector<mlir::linalg::GenericOp> ops;
    getOperation()->walk([&](mlir::linalg::GenericOp op) {
      if (op.getNumReductionLoops() > 0 && op.hasPureTensorSemantics()) ops.push_back(op);
    });
    for (mlir::linalg::GenericOp op : ops) {
      for (unsigned index = 0; index < 2; ++index)
        if (mlir::arith::MulFOp mul = MultiplyAccumulate(op))
          HoistInputTransform(rewriter, op, mul, index);
      mlir::linalg::GenericOp current = op;
      rewriter.setInsertionPoint(op);
      auto dropped = mlir::linalg::dropUnitDims(rewriter, op, mlir::linalg::ControlDropUnitDims());
      if (mlir::succeeded(dropped)) {
        rewriter.replaceOp(op, dropped->replacements);
        current = llvm::cast<mlir::linalg::GenericOp>(dropped->resultOp.getOperation());
      }
      if (!mlir::linalg::isaContractionOpInterface(current)) continue;
      rewriter.setInsertionPoint(current);
      (void)mlir::linalg::specializeGenericOp(rewriter, current);  // else stays generic
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
