// kiln-guard-integer-division: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_GUARDINTEGERDIVISION
#include "compiler_service/transforms/Passes.h.inc"

namespace {

bool IsIntegerDivision(mlir::Operation* op) {
  return llvm::isa<mlir::arith::DivSIOp, mlir::arith::DivUIOp, mlir::arith::RemSIOp,
                   mlir::arith::RemUIOp, mlir::arith::FloorDivSIOp, mlir::arith::CeilDivSIOp,
                   mlir::arith::CeilDivUIOp>(op);
}

bool IsSigned(mlir::Operation* op) {
  return llvm::isa<mlir::arith::DivSIOp, mlir::arith::RemSIOp, mlir::arith::FloorDivSIOp,
                   mlir::arith::CeilDivSIOp>(op);
}

// The divisor values that trap: 0 always, -1 for the signed ops (with an INT_MIN dividend).
struct Hazards {
  bool zero = false;
  bool minus_one = false;
  bool Any() const { return zero || minus_one; }
};

Hazards DivisorHazards(mlir::Operation* op) {
  const bool is_signed = IsSigned(op);
  Hazards unknown{true, is_signed};
  mlir::Attribute attr;
  if (!mlir::matchPattern(op->getOperand(1), mlir::m_Constant(&attr))) return unknown;
  Hazards hazards;
  auto add = [&](const llvm::APInt& value) {
    hazards.zero |= value.isZero();
    hazards.minus_one |= is_signed && value.isAllOnes();
  };
  if (auto scalar = llvm::dyn_cast<mlir::IntegerAttr>(attr)) {
    add(scalar.getValue());
  } else if (auto dense = llvm::dyn_cast<mlir::DenseIntElementsAttr>(attr)) {
    if (dense.isSplat()) {
      add(dense.getSplatValue<llvm::APInt>());
    } else {
      for (const llvm::APInt& value : dense) add(value);
    }
  } else {
    return unknown;
  }
  return hazards;
}

bool NeedsGuard(mlir::Operation* op) { return IsIntegerDivision(op) && DivisorHazards(op).Any(); }

// A scalar, or a splat of a vector/tensor type (upstream's createScalarOrSplatConstant has no
// index case).
mlir::Value Constant(mlir::OpBuilder& builder, mlir::Location loc, mlir::Type type,
                     const llvm::APInt& value) {
  if (auto shaped = llvm::dyn_cast<mlir::ShapedType>(type))
    return mlir::arith::ConstantOp::create(builder, loc, shaped,
                                           mlir::SplatElementsAttr::get(shaped, value));
  return mlir::arith::ConstantOp::create(builder, loc, type, builder.getIntegerAttr(type, value));
}

// Replaces `op` by its guarded form (see Passes.td for the values chosen).
void Guard(mlir::Operation* op, mlir::IRRewriter& rewriter) {
  namespace arith = mlir::arith;
  const Hazards hazards = DivisorHazards(op);
  const mlir::Location loc = op->getLoc();
  const mlir::Value x = op->getOperand(0);
  const mlir::Value y = op->getOperand(1);
  const mlir::Type type = y.getType();
  const mlir::Type element = mlir::getElementTypeOrSelf(type);
  const unsigned width = element.isIndex() ? mlir::IndexType::kInternalStorageBitWidth
                                           : element.getIntOrFloatBitWidth();
  rewriter.setInsertionPoint(op);
  auto constant = [&](const llvm::APInt& value) { return Constant(rewriter, loc, type, value); };
  auto equal = [&](mlir::Value a, mlir::Value b) -> mlir::Value {
    return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, a, b);
  };
  const mlir::Value zero = constant(llvm::APInt::getZero(width));
  const mlir::Value one = constant(llvm::APInt(width, 1));

  mlir::Value is_zero, unsafe;
  if (hazards.zero) unsafe = is_zero = equal(y, zero);
  if (hazards.minus_one) {
    // Separate statements: the order of the ops must not depend on argument evaluation.
    mlir::Value x_is_min = equal(x, constant(llvm::APInt::getSignedMinValue(width)));
    mlir::Value y_is_minus_one = equal(y, constant(llvm::APInt::getAllOnes(width)));
    mlir::Value overflow = arith::AndIOp::create(rewriter, loc, x_is_min, y_is_minus_one);
    unsafe = unsafe ? arith::OrIOp::create(rewriter, loc, unsafe, overflow).getResult() : overflow;
  }
  // A divisor of 1 where the real one would trap: x / 1 = x is INT_MIN for INT_MIN / -1, and
  // x % 1 = 0 is INT_MIN % -1.
  const mlir::Value divisor = arith::SelectOp::create(rewriter, loc, unsafe, one, y);

  auto is_negative = [&](mlir::Value v) -> mlir::Value {
    return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::slt, v, zero);
  };
  auto nonzero = [&](mlir::Value v) -> mlir::Value {
    return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ne, v, zero);
  };
  mlir::Value result;
  bool remainder = false;
  if (llvm::isa<arith::DivSIOp>(op)) {
    result = arith::DivSIOp::create(rewriter, loc, x, divisor);
  } else if (llvm::isa<arith::DivUIOp>(op)) {
    result = arith::DivUIOp::create(rewriter, loc, x, divisor);
  } else if (llvm::isa<arith::RemSIOp>(op)) {
    result = arith::RemSIOp::create(rewriter, loc, x, divisor);
    remainder = true;
  } else if (llvm::isa<arith::RemUIOp>(op)) {
    result = arith::RemUIOp::create(rewriter, loc, x, divisor);
    remainder = true;
  } else if (llvm::isa<arith::CeilDivUIOp>(op)) {
    // Rounds up where the division leaves a remainder (q + 1 cannot overflow then).
    mlir::Value q = arith::DivUIOp::create(rewriter, loc, x, divisor);
    mlir::Value r = arith::RemUIOp::create(rewriter, loc, x, divisor);
    mlir::Value inexact = nonzero(r);
    mlir::Value up = arith::AddIOp::create(rewriter, loc, q, one);
    result = arith::SelectOp::create(rewriter, loc, inexact, up, q);
  } else {
    // floordivsi / ceildivsi from the truncating quotient: a nonzero remainder has the
    // dividend's sign, so the exact quotient is negative where the remainder's sign differs
    // from the divisor's (floor steps down) and positive where it matches (ceil steps up).
    mlir::Value q = arith::DivSIOp::create(rewriter, loc, x, divisor);
    mlir::Value r = arith::RemSIOp::create(rewriter, loc, x, divisor);
    mlir::Value r_negative = is_negative(r);
    mlir::Value divisor_negative = is_negative(divisor);
    mlir::Value signs_differ = arith::XOrIOp::create(rewriter, loc, r_negative, divisor_negative);
    if (llvm::isa<arith::FloorDivSIOp>(op)) {
      mlir::Value step = arith::AndIOp::create(rewriter, loc, nonzero(r), signs_differ);
      mlir::Value down = arith::SubIOp::create(rewriter, loc, q, one);
      result = arith::SelectOp::create(rewriter, loc, step, down, q);
    } else {
      mlir::Value same_sign =
          arith::XOrIOp::create(rewriter, loc, signs_differ,
                                Constant(rewriter, loc, signs_differ.getType(), llvm::APInt(1, 1)));
      mlir::Value step = arith::AndIOp::create(rewriter, loc, nonzero(r), same_sign);
      mlir::Value up = arith::AddIOp::create(rewriter, loc, q, one);
      result = arith::SelectOp::create(rewriter, loc, step, up, q);
    }
  }
  // x / 0 = 0 and x % 0 = x.
  if (is_zero)
    result = arith::SelectOp::create(rewriter, loc, is_zero, remainder ? x : zero, result);
  rewriter.replaceOp(op, result);
}

bool BodyNeedsGuard(mlir::linalg::LinalgOp op) {
  return op
      ->walk([](mlir::Operation* inner) {
        return NeedsGuard(inner) ? mlir::WalkResult::interrupt() : mlir::WalkResult::advance();
      })
      .wasInterrupted();
}

struct GuardIntegerDivisionPass : public impl::GuardIntegerDivisionBase<GuardIntegerDivisionPass> {
  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    // A named op's body is implicit (rebuilt from the op's name when printed or cloned), so
    // one that divides becomes a linalg.generic whose body can be rewritten.
    llvm::SmallVector<mlir::linalg::LinalgOp> named;
    getOperation()->walk([&](mlir::linalg::LinalgOp op) {
      if (!llvm::isa<mlir::linalg::GenericOp>(op) && BodyNeedsGuard(op)) named.push_back(op);
    });
    for (mlir::linalg::LinalgOp op : named) {
      rewriter.setInsertionPoint(op);
      if (mlir::failed(mlir::linalg::generalizeNamedOp(rewriter, op))) {
        op->emitError() << "cannot guard the integer division in '" << op->getName()
                        << "' against a zero divisor";
        return signalPassFailure();
      }
    }
    llvm::SmallVector<mlir::Operation*> divisions;
    getOperation()->walk([&](mlir::Operation* op) {
      if (NeedsGuard(op)) divisions.push_back(op);
    });
    for (mlir::Operation* op : divisions) Guard(op, rewriter);
  }
};

}  // namespace
}  // namespace kiln::compiler
