// kiln-approximate-math: see Passes.td.
#include <cmath>
#include <limits>

#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_APPROXIMATEMATH
#include "compiler_service/transforms/Passes.h.inc"

namespace {

using mlir::arith::CmpFPredicate;

// The type the forms below compute `type` in: f32 also for f16/bf16 (as upstream's
// approximations do), f64 as itself (what they emit then goes to libm, which has no trouble
// with them); null for other types.
mlir::Type ComputeType(mlir::Type type) {
  mlir::Type element = mlir::getElementTypeOrSelf(type);
  if (element.isF64() || element.isF32()) return type;
  if (!element.isF16() && !element.isBF16()) return {};
  mlir::Type f32 = mlir::Float32Type::get(type.getContext());
  if (auto shaped = llvm::dyn_cast<mlir::ShapedType>(type)) return shaped.clone(f32);
  return f32;
}

// Emits arith/math ops on values of one float type (scalar or vector) at the builder's place.
struct Emitter {
  mlir::OpBuilder& b;
  mlir::Location loc;
  mlir::Type type;

  // `v` in this type, and back.
  mlir::Value Widen(mlir::Value v) {
    return v.getType() == type ? v : mlir::arith::ExtFOp::create(b, loc, type, v).getResult();
  }
  mlir::Value Narrow(mlir::Value v, mlir::Type to) {
    return to == type ? v : mlir::arith::TruncFOp::create(b, loc, to, v).getResult();
  }

  mlir::Value C(double value) {
    mlir::TypedAttr attr = b.getFloatAttr(mlir::getElementTypeOrSelf(type), value);
    if (auto shaped = llvm::dyn_cast<mlir::ShapedType>(type))
      attr = mlir::DenseElementsAttr::get(shaped, attr);
    return mlir::arith::ConstantOp::create(b, loc, attr);
  }
  mlir::Value Add(mlir::Value x, mlir::Value y) {
    return mlir::arith::AddFOp::create(b, loc, x, y);
  }
  mlir::Value Sub(mlir::Value x, mlir::Value y) {
    return mlir::arith::SubFOp::create(b, loc, x, y);
  }
  mlir::Value Mul(mlir::Value x, mlir::Value y) {
    return mlir::arith::MulFOp::create(b, loc, x, y);
  }
  mlir::Value Div(mlir::Value x, mlir::Value y) {
    return mlir::arith::DivFOp::create(b, loc, x, y);
  }
  mlir::Value Cmp(CmpFPredicate predicate, mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpFOp::create(b, loc, predicate, x, y);
  }
  mlir::Value And(mlir::Value x, mlir::Value y) {
    return mlir::arith::AndIOp::create(b, loc, x, y);
  }
  mlir::Value Or(mlir::Value x, mlir::Value y) { return mlir::arith::OrIOp::create(b, loc, x, y); }
  mlir::Value Select(mlir::Value condition, mlir::Value x, mlir::Value y) {
    return mlir::arith::SelectOp::create(b, loc, condition, x, y);
  }
  mlir::Value Neg(mlir::Value x) { return mlir::arith::NegFOp::create(b, loc, x); }
  mlir::Value Abs(mlir::Value x) { return mlir::math::AbsFOp::create(b, loc, x); }
  mlir::Value Floor(mlir::Value x) { return mlir::math::FloorOp::create(b, loc, x); }
  mlir::Value Sqrt(mlir::Value x) { return mlir::math::SqrtOp::create(b, loc, x); }
  mlir::Value Log(mlir::Value x) { return mlir::math::LogOp::create(b, loc, x); }
  mlir::Value Log1p(mlir::Value x) { return mlir::math::Log1pOp::create(b, loc, x); }
  mlir::Value Exp(mlir::Value x) { return mlir::math::ExpOp::create(b, loc, x); }
  mlir::Value CopySign(mlir::Value x, mlir::Value sign) {
    return mlir::math::CopySignOp::create(b, loc, x, sign);
  }
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The ops below replace upstream's forms that are wrong on part of their domain; what they
// emit (log, exp, ...) is approximated by the patterns afterwards.

// cbrt(x), except x itself for ±inf: upstream's form gives NaN there.
void GuardCbrt(mlir::math::CbrtOp op) {
  if (!ComputeType(op.getType())) return;
  mlir::OpBuilder b(op->getContext());
  b.setInsertionPointAfter(op);
  Emitter e{b, op.getLoc(), op.getType()};
  mlir::Value x = op.getOperand();
  mlir::Value result = e.Select(e.Cmp(CmpFPredicate::OEQ, e.Abs(x), e.C(kInf)), x, op.getResult());
  op.getResult().replaceAllUsesExcept(result, result.getDefiningOp());
}

// asinh(x) = copysign(log1p(a + a^2 / (1 + sqrt(a^2 + 1))), x) with a = |x|, and log(a) + ln 2
// for a > 2^12 (the same to float precision, without overflowing a^2). Upstream's
// log(x + sqrt(x^2 + 1)) cancels to log(0) = -inf below x = -4096 (NaN at -inf), overflows
// x^2 above 1.8e19, and loses most digits for small |x| (the log of a number near 1).
void ExpandAsinh(mlir::math::AsinhOp op) {
  mlir::Type type = ComputeType(op.getType());
  if (!type) return;
  mlir::OpBuilder b(op);
  Emitter e{b, op.getLoc(), type};
  mlir::Value x = e.Widen(op.getOperand());
  mlir::Value a = e.Abs(x);
  mlir::Value a2 = e.Mul(a, a);
  mlir::Value middle = e.Log1p(e.Add(a, e.Div(a2, e.Add(e.Sqrt(e.Add(a2, e.C(1))), e.C(1)))));
  mlir::Value large = e.Add(e.Log(a), e.C(std::log(2.0)));
  mlir::Value magnitude = e.Select(e.Cmp(CmpFPredicate::OGT, a, e.C(4096)), large, middle);
  op.getResult().replaceAllUsesWith(e.Narrow(e.CopySign(magnitude, x), op.getType()));
  op.erase();
}

// acosh(x) = log1p(t + sqrt(t (t + 2))) with t = x - 1, log(x) + ln 2 above 2^12, NaN below 1.
// Upstream's log(x + sqrt(x^2 - 1)) gives -inf instead of NaN below x = -4096, overflows x^2
// above 1.8e19, and loses digits near 1.
void ExpandAcosh(mlir::math::AcoshOp op) {
  mlir::Type type = ComputeType(op.getType());
  if (!type) return;
  mlir::OpBuilder b(op);
  Emitter e{b, op.getLoc(), type};
  mlir::Value x = e.Widen(op.getOperand());
  mlir::Value t = e.Sub(x, e.C(1));
  mlir::Value middle = e.Log1p(e.Add(t, e.Sqrt(e.Mul(t, e.Add(t, e.C(2))))));
  mlir::Value large = e.Add(e.Log(x), e.C(std::log(2.0)));
  mlir::Value value = e.Select(e.Cmp(CmpFPredicate::OGT, x, e.C(4096)), large, middle);
  mlir::Value result = e.Select(e.Cmp(CmpFPredicate::OLT, x, e.C(1)), e.C(kNaN), value);
  op.getResult().replaceAllUsesWith(e.Narrow(result, op.getType()));
  op.erase();
}

// x^n for an integer constant n, |n| <= 16: by squaring (at most 8 products and a division),
// exact for what a product is exact for, and right for every sign of x.
mlir::Value IntegerPower(Emitter& e, mlir::Value x, int64_t n) {
  mlir::Value result;
  mlir::Value square = x;
  for (uint64_t bits = n < 0 ? -n : n; bits != 0; bits >>= 1) {
    if (bits & 1) result = result ? e.Mul(result, square) : square;
    if (bits > 1) square = e.Mul(square, square);
  }
  if (!result) return e.C(1);
  return n < 0 ? e.Div(e.C(1), result) : result;
}

// powf(x, y) with C's special cases. Upstream's exp(y log x) is NaN for every negative x, even
// with an integer y (tosa.pow(x, 2.0) came out NaN for x < 0 unless the constant folded into
// x * x), and for pow(0, 0), pow(NaN, 0), pow(1, NaN) and pow(-1, ±inf), which are 1. Constant
// exponents that are not integers stay with upstream, which has fast forms for ±0.5 and the
// right NaN for negative x.
void ExpandPowf(mlir::math::PowFOp op) {
  mlir::Type type = ComputeType(op.getType());
  if (!type) return;
  mlir::OpBuilder b(op);
  Emitter e{b, op.getLoc(), type};
  mlir::Value y = op.getRhs();
  mlir::FloatAttr constant;
  mlir::SplatElementsAttr splat;
  if (mlir::matchPattern(y, mlir::m_Constant(&splat)))
    constant = llvm::dyn_cast<mlir::FloatAttr>(splat.getSplatValue<mlir::Attribute>());
  else
    mlir::matchPattern(y, mlir::m_Constant(&constant));
  if (constant) {
    const double n = constant.getValueAsDouble();
    if (n != std::floor(n) || std::isinf(n)) return;  // upstream's
    if (std::fabs(n) <= 16) {
      mlir::Value power = IntegerPower(e, e.Widen(op.getLhs()), static_cast<int64_t>(n));
      op.getResult().replaceAllUsesWith(e.Narrow(power, op.getType()));
      op.erase();
      return;
    }
  }
  mlir::Value x = e.Widen(op.getLhs());
  y = e.Widen(y);
  mlir::Value zero = e.C(0), one = e.C(1);
  mlir::Value a = e.Abs(x);
  mlir::Value magnitude = e.Exp(e.Mul(y, e.Log(a)));  // |x|^y
  // y is an integer (false for NaN), and an odd one (|y| < 2^24: larger floats are even).
  mlir::Value integer = e.Cmp(CmpFPredicate::OEQ, e.Floor(y), y);
  mlir::Value half = e.Mul(y, e.C(0.5));
  mlir::Value odd = e.And(integer, e.Cmp(CmpFPredicate::ONE, e.Floor(half), half));
  // Negative (or -0) x to an odd power is negative.
  mlir::Value sign_bit = e.Cmp(CmpFPredicate::OLT, e.CopySign(one, x), zero);
  mlir::Value signed_result = e.Select(e.And(sign_bit, odd), e.Neg(magnitude), magnitude);
  // A finite negative x to a non-integer power is NaN (-inf to one is |x|^y: inf or 0).
  mlir::Value negative_finite =
      e.And(e.Cmp(CmpFPredicate::OLT, x, zero), e.Cmp(CmpFPredicate::ONE, a, e.C(kInf)));
  mlir::Value result = e.Select(e.And(negative_finite, e.Cmp(CmpFPredicate::UNE, e.Floor(y), y)),
                                e.C(kNaN), signed_result);
  mlir::Value is_one = e.Or(
      e.Or(e.Cmp(CmpFPredicate::OEQ, y, zero), e.Cmp(CmpFPredicate::OEQ, x, one)),
      e.And(e.Cmp(CmpFPredicate::OEQ, a, one), e.Cmp(CmpFPredicate::OEQ, e.Abs(y), e.C(kInf))));
  op.getResult().replaceAllUsesWith(e.Narrow(e.Select(is_one, one, result), op.getType()));
  op.erase();
}

// fpowi(x, n) as powf(x, float(n)), so that it gets the forms above (upstream's expansion makes
// the same powf after they have run).
void ExpandFpowi(mlir::math::FPowIOp op) {
  if (!ComputeType(op.getType())) return;
  mlir::OpBuilder b(op);
  mlir::Value n = b.createOrFold<mlir::arith::SIToFPOp>(op.getLoc(), op.getType(), op.getRhs());
  auto powf = mlir::math::PowFOp::create(b, op.getLoc(), op.getLhs(), n);
  op.getResult().replaceAllUsesWith(powf.getResult());
  op.erase();
}

struct ApproximateMathPass : public impl::ApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    getOperation().walk(GuardCbrt);
    getOperation().walk(ExpandAsinh);
    getOperation().walk(ExpandAcosh);
    getOperation().walk(ExpandFpowi);
    getOperation().walk(ExpandPowf);
    mlir::RewritePatternSet patterns(&getContext());
    auto all = [](llvm::StringRef) { return true; };
    // Ops with no polynomial form of their own (sinh, powf, ...) are expanded into ones that
    // have one (exp, log, ...); f16/bf16 math runs in f32; every op with a polynomial form
    // gets it. The polynomial patterns outrank the expansions where both apply: tanh has both,
    // and its expansion (1 - exp(-2|x|)) / (1 + exp(-2|x|)) cancels near 0 (tanh(1e-8) came
    // out 0, and tanh(-0) +0), while the polynomial is within a few ulp everywhere.
    // Except rsqrt: upstream's pattern (for vectors of 8 x f32 and multiples) crashes the
    // pass, and outranking the expansion would pick it; 1 / sqrt(x) is within 2 ulp anyway.
    constexpr int kBeforeExpansions = 2;
    auto polynomial = [](llvm::StringRef op) { return op != "math.rsqrt"; };
    mlir::math::populateExpansionPatterns(patterns);
    mlir::populateMathF32ExpansionPatterns(patterns, all, kBeforeExpansions);
    mlir::populateMathPolynomialApproximationPatterns(patterns, polynomial, kBeforeExpansions);
    if (mlir::failed(mlir::applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

}  // namespace
}  // namespace kiln::compiler
