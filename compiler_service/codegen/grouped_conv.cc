#include "compiler_service/codegen/grouped_conv.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AffineExpr.h"

namespace kiln::compiler {
namespace {

llvm::SmallVector<mlir::AffineMap> GroupedMaps(mlir::MLIRContext* context,
                                               const ConvWindow& window) {
  auto d = [&](unsigned i) { return mlir::getAffineDimExpr(i, context); };
  // (n, oh, ow, g, f, kh, kw, c)
  mlir::AffineExpr h = d(1) * window.strides[0] + d(5) * window.dilations[0];
  mlir::AffineExpr w = d(2) * window.strides[1] + d(6) * window.dilations[1];
  return {mlir::AffineMap::get(kGroupedLoops, 0, {d(0), h, w, d(3), d(7)}, context),
          mlir::AffineMap::get(kGroupedLoops, 0, {d(3), d(5), d(6), d(7), d(4)}, context),
          mlir::AffineMap::get(kGroupedLoops, 0, {d(0), d(1), d(2), d(3), d(4)}, context)};
}

// The coefficient of dimension `dim` in the linear expression `expr` (no symbols).
std::optional<int64_t> Coefficient(mlir::AffineExpr expr, unsigned dim, unsigned dims) {
  mlir::MLIRContext* context = expr.getContext();
  llvm::SmallVector<mlir::AffineExpr> values(dims, mlir::getAffineConstantExpr(0, context));
  values[dim] = mlir::getAffineConstantExpr(1, context);
  auto constant = llvm::dyn_cast<mlir::AffineConstantExpr>(
      mlir::simplifyAffineExpr(expr.replaceDims(values), dims, 0));
  if (!constant) return std::nullopt;
  return constant.getValue();
}

// out + in * filter, in either operand order, float or integer.
bool IsMultiplyAccumulate(mlir::Block& body) {
  if (body.getNumArguments() != 3 || body.getOperations().size() != 3) return false;
  auto yield = llvm::dyn_cast<mlir::linalg::YieldOp>(body.getTerminator());
  if (!yield || yield.getNumOperands() != 1) return false;
  mlir::Operation* add = yield.getOperand(0).getDefiningOp();
  if (!add || !llvm::isa<mlir::arith::AddFOp, mlir::arith::AddIOp>(add)) return false;
  mlir::Value acc = body.getArgument(2);
  mlir::Value other = add->getOperand(0) == acc   ? add->getOperand(1)
                      : add->getOperand(1) == acc ? add->getOperand(0)
                                                  : mlir::Value();
  mlir::Operation* mul = other ? other.getDefiningOp() : nullptr;
  const bool float_add = llvm::isa<mlir::arith::AddFOp>(add);
  if (!mul ||
      (float_add ? !llvm::isa<mlir::arith::MulFOp>(mul) : !llvm::isa<mlir::arith::MulIOp>(mul)))
    return false;
  mlir::Value a = body.getArgument(0), b = body.getArgument(1);
  return (mul->getOperand(0) == a && mul->getOperand(1) == b) ||
         (mul->getOperand(0) == b && mul->getOperand(1) == a);
}

}  // namespace

mlir::linalg::GenericOp BuildGroupedConv2D(mlir::OpBuilder& builder, mlir::Location loc,
                                           mlir::Value input, mlir::Value filter, mlir::Value init,
                                           const ConvWindow& window) {
  using mlir::utils::IteratorType;
  llvm::SmallVector<IteratorType> iterators(5, IteratorType::parallel);
  iterators.append(3, IteratorType::reduction);
  llvm::SmallVector<mlir::Type> results;  // none on buffers
  if (llvm::isa<mlir::RankedTensorType>(init.getType())) results.push_back(init.getType());
  const bool is_float = llvm::isa<mlir::FloatType>(mlir::getElementTypeOrSelf(init.getType()));
  return mlir::linalg::GenericOp::create(
      builder, loc, results, mlir::ValueRange{input, filter}, mlir::ValueRange{init},
      GroupedMaps(builder.getContext(), window), iterators,
      [&](mlir::OpBuilder& b, mlir::Location l, mlir::ValueRange args) {
        mlir::Value product = is_float
                                  ? mlir::arith::MulFOp::create(b, l, args[0], args[1]).getResult()
                                  : mlir::arith::MulIOp::create(b, l, args[0], args[1]).getResult();
        mlir::Value sum = is_float
                              ? mlir::arith::AddFOp::create(b, l, args[2], product).getResult()
                              : mlir::arith::AddIOp::create(b, l, args[2], product).getResult();
        mlir::linalg::YieldOp::create(b, l, sum);
      });
}

std::optional<ConvWindow> MatchGroupedConv2D(mlir::Operation* op_in) {
  auto op = llvm::dyn_cast_or_null<mlir::linalg::GenericOp>(op_in);
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != kGroupedLoops)
    return std::nullopt;
  llvm::SmallVector<mlir::utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned i = 0; i < kGroupedLoops; ++i)
    if ((i < 5) != (iterators[i] == mlir::utils::IteratorType::parallel)) return std::nullopt;
  llvm::SmallVector<mlir::AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0].getNumResults() != 5) return std::nullopt;
  ConvWindow window;
  for (unsigned axis = 0; axis < 2; ++axis) {
    mlir::AffineExpr expr = maps[0].getResult(1 + axis);
    auto stride = Coefficient(expr, 1 + axis, kGroupedLoops);
    auto dilation = Coefficient(expr, 5 + axis, kGroupedLoops);
    if (!stride || !dilation || *stride < 1 || *dilation < 1) return std::nullopt;
    window.strides[axis] = *stride;
    window.dilations[axis] = *dilation;
  }
  // Every map exactly as built for that window (which also rules out other terms).
  llvm::SmallVector<mlir::AffineMap> expected = GroupedMaps(op.getContext(), window);
  for (unsigned i = 0; i < 3; ++i)
    if (mlir::simplifyAffineMap(maps[i]) != mlir::simplifyAffineMap(expected[i]))
      return std::nullopt;
  if (!IsMultiplyAccumulate(*op.getBlock())) return std::nullopt;
  return window;
}

}  // namespace kiln::compiler
