// Elementwise ops: arithmetic, activations, comparisons, logic, Cast, Where, Clip. Every op
// folds on the host when all its inputs are known at import time (shape arithmetic).
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "compiler_service/import/onnx/graph_importer.h"

namespace kiln::compiler::onnx_import {
namespace {

using TP = onnx::TensorProto;
using AT = onnx::AttributeProto;
namespace tosa = mlir::tosa;
using Values = llvm::ArrayRef<mlir::Value>;
using Type = mlir::RankedTensorType;

constexpr int64_t kMaxFoldElements = int64_t{1} << 24;

using HostFn = std::function<absl::StatusOr<double>(llvm::ArrayRef<double>)>;

bool AllHost(Node& node) {
  for (int i = 0; i < node.num_inputs(); ++i) {
    if (!node.Has(i)) continue;
    auto v = node.In(i);
    if (!v.ok() || !(*v)->is_host()) return false;
  }
  return true;
}

// Folds an elementwise op whose inputs are all host tensors: numpy broadcasting, computed in
// double (exact for the int64 values of shape arithmetic), converted to `out_dtype`.
absl::Status FoldElementwise(Node& node, const std::vector<const HostTensor*>& ins, DType out_dtype,
                             const HostFn& fn) {
  std::vector<int64_t> shape;
  for (const HostTensor* t : ins) {
    auto s = BroadcastShapes(shape, t->shape);
    if (!s) return node.Error("operand shapes do not broadcast");
    shape = *s;
  }
  const int64_t n = ElementCount(shape);
  if (n < 0 || n > kMaxFoldElements)
    return node.Error("a constant result is too large to compute at compile time");
  std::vector<HostTensor> expanded;
  expanded.reserve(ins.size());
  for (const HostTensor* t : ins) expanded.push_back(BroadcastTo(*t, shape));
  std::vector<double> out(n);
  std::vector<double> args(ins.size());
  for (int64_t k = 0; k < n; ++k) {
    for (size_t a = 0; a < ins.size(); ++a) args[a] = expanded[a].AsDouble(k);
    auto v = fn(args);
    if (!v.ok()) return node.Error(v.status().message());
    out[k] = *v;
  }
  HostTensor result = HostTensor::OfFloats(TP::DOUBLE, shape, std::move(out));
  return node.SetHost(0, CastTo(result, out_dtype));
}

absl::StatusOr<std::vector<Val*>> Inputs(Node& node, int count) {
  std::vector<Val*> out;
  for (int i = 0; i < count; ++i) {
    KILN_ASSIGN_OR_RETURN(Val * v, node.In(i));
    out.push_back(v);
  }
  return out;
}

std::vector<const HostTensor*> HostInputs(const std::vector<Val*>& vals) {
  std::vector<const HostTensor*> out;
  out.reserve(vals.size());
  for (Val* v : vals) out.push_back(v->host.get());
  return out;
}

absl::Status RequireFloat(Node& node, const Val& v) {
  if (IsFloatType(v.dtype)) return absl::OkStatus();
  return node.Error(absl::StrCat("input of type ", DTypeName(v.dtype),
                                 " is not supported; this op takes floating-point tensors"));
}

absl::Status RequireSameTypes(Node& node, const std::vector<Val*>& vals) {
  for (Val* v : vals)
    if (v->dtype != vals[0]->dtype)
      return node.Error(absl::StrCat("inputs have different element types (",
                                     DTypeName(vals[0]->dtype), " and ", DTypeName(v->dtype), ")"));
  return absl::OkStatus();
}

int64_t RankOf(mlir::Value v) { return llvm::cast<Type>(v.getType()).getRank(); }

// ---- binary arithmetic

enum class Arith { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kSum, kMean, kMod };

absl::StatusOr<double> HostArith(Arith op, DType dtype, llvm::ArrayRef<double> a) {
  const bool is_int = !IsFloatType(dtype);
  switch (op) {
    case Arith::kAdd:
      return a[0] + a[1];
    case Arith::kSub:
      return a[0] - a[1];
    case Arith::kMul:
      return a[0] * a[1];
    case Arith::kDiv:
      if (is_int) {
        if (a[1] == 0) return absl::InvalidArgumentError("integer division by zero");
        return std::trunc(a[0] / a[1]);
      }
      return a[0] / a[1];
    case Arith::kMod:
      if (is_int) {
        if (a[1] == 0) return absl::InvalidArgumentError("integer modulo by zero");
        double r = std::fmod(a[0], a[1]);
        if (r != 0 && ((r < 0) != (a[1] < 0))) r += a[1];  // sign of the divisor (fmod=0)
        return r;
      }
      return std::fmod(a[0], a[1]);
    case Arith::kPow:
      return std::pow(a[0], a[1]);
    case Arith::kMax: {
      double m = a[0];
      for (double v : a) m = std::max(m, v);
      return m;
    }
    case Arith::kMin: {
      double m = a[0];
      for (double v : a) m = std::min(m, v);
      return m;
    }
    case Arith::kSum:
    case Arith::kMean: {
      double s = 0;
      for (double v : a) s += v;
      return op == Arith::kMean ? s / static_cast<double>(a.size()) : s;
    }
  }
  return 0.0;
}

OpHandler ArithHandler(Arith op, int arity) {
  return [op, arity](Node& node) -> absl::Status {
    const int count = arity > 0 ? arity : node.num_inputs();
    if (count < 1) return node.Error("needs at least one input");
    KILN_ASSIGN_OR_RETURN(std::vector<Val*> ins, Inputs(node, count));
    if (op != Arith::kPow) KILN_RETURN_IF_ERROR(RequireSameTypes(node, ins));
    const DType dtype = ins[0]->dtype;
    if (AllHost(node))
      return FoldElementwise(node, HostInputs(ins), dtype, [op, dtype](llvm::ArrayRef<double> a) {
        return HostArith(op, dtype, a);
      });
    GraphImporter& g = node.g();
    const bool is_float = IsFloatType(dtype);
    switch (op) {
      case Arith::kAdd:
        return g.Elementwise(node, ins, dtype, [&](Type t, Values v) -> mlir::Value {
          return tosa::AddOp::create(g.b(), g.loc(), t, v[0], v[1]);
        });
      case Arith::kSub:
        return g.Elementwise(node, ins, dtype, [&](Type t, Values v) -> mlir::Value {
          return tosa::SubOp::create(g.b(), g.loc(), t, v[0], v[1]);
        });
      case Arith::kMul:
        return g.Elementwise(node, ins, dtype, [&](Type, Values v) { return g.Mul(v[0], v[1]); });
      case Arith::kDiv: {
        if (!is_float)
          return g.Elementwise(node, ins, dtype, [&](Type t, Values v) -> mlir::Value {
            return tosa::IntDivOp::create(g.b(), g.loc(), t, v[0], v[1]);
          });
        // x / c → x * (1/c) with the reciprocal computed here (GELU's /sqrt(2), attention's
        // /sqrt(d)); within an ulp of the division.
        if (ins[1]->is_host()) {
          HostTensor r = *ins[1]->host;
          for (double& v : r.f) v = 1.0 / v;
          Val recip;
          recip.dtype = dtype;
          recip.shape = r.shape;
          recip.host = std::make_shared<const HostTensor>(CastTo(r, dtype));
          std::vector<Val*> operands = {ins[0], &recip};
          return g.Elementwise(node, operands, dtype,
                               [&](Type, Values v) { return g.Mul(v[0], v[1]); });
        }
        return g.Elementwise(node, ins, dtype,
                             [&](Type, Values v) { return g.Mul(v[0], g.Reciprocal(v[1])); });
      }
      case Arith::kPow: {
        if (!is_float) return node.Error("Pow of integer tensors is not supported");
        if (ins[1]->is_host() && ins[1]->host->size() == 1 && ElementCount(ins[1]->shape) == 1) {
          const double e = ins[1]->host->AsDouble(0);
          std::vector<Val*> base = {ins[0]};
          if (e == 1.0)
            return g.Elementwise(node, base, dtype, [&](Type, Values v) { return v[0]; });
          if (e == 2.0)
            return g.Elementwise(node, base, dtype,
                                 [&](Type, Values v) { return g.Mul(v[0], v[0]); });
          if (e == 3.0)
            return g.Elementwise(node, base, dtype,
                                 [&](Type, Values v) { return g.Mul(g.Mul(v[0], v[0]), v[0]); });
          if (e == 0.5)
            return g.Elementwise(node, base, dtype, [&](Type, Values v) {
              return g.Reciprocal(g.Unary<tosa::RsqrtOp>(v[0]));
            });
        }
        // tosa.pow wants both operands of the base's type.
        return g.Elementwise(node, ins, dtype, [&](Type t, Values v) -> mlir::Value {
          mlir::Value e = g.Cast(v[1], t.getElementType());
          return tosa::PowOp::create(g.b(), g.loc(), t, v[0], e);
        });
      }
      case Arith::kMax:
      case Arith::kMin:
        return g.Elementwise(node, ins, dtype, [&](Type, Values v) {
          mlir::Value acc = v[0];
          for (size_t k = 1; k < v.size(); ++k)
            acc = op == Arith::kMax ? g.Max(acc, v[k]) : g.Min(acc, v[k]);
          return acc;
        });
      case Arith::kSum:
      case Arith::kMean:
        if (op == Arith::kMean && !is_float) return node.Error("Mean of integers is not supported");
        return g.Elementwise(node, ins, dtype, [&](Type, Values v) {
          mlir::Value acc = v[0];
          for (size_t k = 1; k < v.size(); ++k) acc = g.Add(acc, v[k]);
          if (op == Arith::kMean)
            acc = g.Mul(acc, g.Scalar(1.0 / static_cast<double>(v.size()), dtype, RankOf(acc)));
          return acc;
        });
      case Arith::kMod:
        return node.Error("Mod of tensors computed at run time is not supported");
    }
    return absl::OkStatus();
  };
}

// ---- comparisons and logic

enum class Cmp { kEqual, kLess, kGreater, kLessEq, kGreaterEq, kAnd, kOr, kXor };

OpHandler CompareHandler(Cmp op) {
  return [op](Node& node) -> absl::Status {
    KILN_ASSIGN_OR_RETURN(std::vector<Val*> ins, Inputs(node, 2));
    KILN_RETURN_IF_ERROR(RequireSameTypes(node, ins));
    const bool logic = op == Cmp::kAnd || op == Cmp::kOr || op == Cmp::kXor;
    if (logic && ins[0]->dtype != TP::BOOL) return node.Error("inputs must be BOOL");
    if (AllHost(node))
      return FoldElementwise(node, HostInputs(ins), TP::BOOL,
                             [op](llvm::ArrayRef<double> a) -> absl::StatusOr<double> {
                               switch (op) {
                                 case Cmp::kEqual:
                                   return a[0] == a[1];
                                 case Cmp::kLess:
                                   return a[0] < a[1];
                                 case Cmp::kGreater:
                                   return a[0] > a[1];
                                 case Cmp::kLessEq:
                                   return a[0] <= a[1];
                                 case Cmp::kGreaterEq:
                                   return a[0] >= a[1];
                                 case Cmp::kAnd:
                                   return a[0] != 0 && a[1] != 0;
                                 case Cmp::kOr:
                                   return a[0] != 0 || a[1] != 0;
                                 case Cmp::kXor:
                                   return (a[0] != 0) != (a[1] != 0);
                               }
                               return 0.0;
                             });
    GraphImporter& g = node.g();
    return g.Elementwise(node, ins, TP::BOOL, [&](Type t, Values v) -> mlir::Value {
      switch (op) {
        case Cmp::kEqual:
          return g.Compare("equal", v[0], v[1]);
        case Cmp::kLess:
          return g.Compare("greater", v[1], v[0]);
        case Cmp::kGreater:
          return g.Compare("greater", v[0], v[1]);
        case Cmp::kLessEq:
          return g.Compare("greater_equal", v[1], v[0]);
        case Cmp::kGreaterEq:
          return g.Compare("greater_equal", v[0], v[1]);
        case Cmp::kAnd:
          return tosa::LogicalAndOp::create(g.b(), g.loc(), t, v[0], v[1]);
        case Cmp::kOr:
          return tosa::LogicalOrOp::create(g.b(), g.loc(), t, v[0], v[1]);
        case Cmp::kXor:
          return tosa::LogicalXorOp::create(g.b(), g.loc(), t, v[0], v[1]);
      }
      return v[0];
    });
  };
}

// ---- unary

enum class Un {
  kNeg,
  kAbs,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kErf,
  kTanh,
  kSigmoid,
  kRelu,
  kFloor,
  kCeil,
  kSin,
  kCos,
  kNot,
  kIdentity,
  kLeakyRelu,
  kElu,
  kSelu,
  kHardSigmoid,
  kHardSwish,
  kSoftplus,
  kSoftsign,
  kRound,
  kSign,
  kCelu,
  kThresholdedRelu
};

absl::StatusOr<double> HostUnary(Un op, llvm::ArrayRef<double> a) {
  const double x = a[0];
  switch (op) {
    case Un::kNeg:
      return -x;
    case Un::kAbs:
      return std::fabs(x);
    case Un::kFloor:
      return std::floor(x);
    case Un::kCeil:
      return std::ceil(x);
    case Un::kSqrt:
      return std::sqrt(x);
    case Un::kReciprocal:
      return 1.0 / x;
    case Un::kExp:
      return std::exp(x);
    case Un::kLog:
      return std::log(x);
    case Un::kRelu:
      return std::max(x, 0.0);
    case Un::kNot:
      return x == 0;
    case Un::kIdentity:
      return x;
    case Un::kSign:
      return static_cast<double>((x > 0) - (x < 0));
    default:
      return absl::InvalidArgumentError("cannot be computed at compile time");
  }
}

bool FoldsOnHost(Un op) {
  switch (op) {
    case Un::kNeg:
    case Un::kAbs:
    case Un::kFloor:
    case Un::kCeil:
    case Un::kSqrt:
    case Un::kReciprocal:
    case Un::kExp:
    case Un::kLog:
    case Un::kRelu:
    case Un::kNot:
    case Un::kIdentity:
    case Un::kSign:
      return true;
    default:
      return false;
  }
}

OpHandler UnaryHandler(Un op) {
  return [op](Node& node) -> absl::Status {
    KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
    const DType dtype = x->dtype;
    if (op == Un::kNot && dtype != TP::BOOL) return node.Error("input must be BOOL");
    const bool int_ok = op == Un::kNeg || op == Un::kAbs || op == Un::kRelu || op == Un::kNot ||
                        op == Un::kIdentity || op == Un::kSign;
    if (!int_ok) KILN_RETURN_IF_ERROR(RequireFloat(node, *x));
    if (x->is_host() && FoldsOnHost(op))
      return FoldElementwise(node, {x->host.get()}, dtype,
                             [op](llvm::ArrayRef<double> a) { return HostUnary(op, a); });
    if (op == Un::kIdentity) return node.Set(0, *x);
    GraphImporter& g = node.g();
    const double alpha = node.Float("alpha", op == Un::kLeakyRelu     ? 0.01F
                                             : op == Un::kHardSigmoid ? 0.2F
                                             : op == Un::kSelu        ? 1.67326319217681884765625F
                                                                      : 1.0F);
    const double beta = node.Float("beta", 0.5F);
    const double gamma = node.Float("gamma", 1.05070102214813232421875F);
    std::vector<Val*> ins = {x};
    return g.Elementwise(node, ins, dtype, [&](Type t, Values v) -> mlir::Value {
      mlir::Value x = v[0];
      const int64_t rank = t.getRank();
      auto c = [&](double value) { return g.Scalar(value, dtype, rank); };
      auto exp_m1_alpha = [&]() { return g.Mul(c(alpha), g.Sub(g.Exp(x), c(1.0))); };
      switch (op) {
        case Un::kNeg:
          return tosa::NegateOp::create(g.b(), g.loc(), t, x);
        case Un::kAbs:
          return g.Unary<tosa::AbsOp>(x);
        case Un::kExp:
          return g.Exp(x);
        case Un::kLog:
          return g.Log(x);
        case Un::kSqrt:
          // sqrt(0) = 1/rsqrt(0) = 1/inf = 0.
          return g.Reciprocal(g.Unary<tosa::RsqrtOp>(x));
        case Un::kReciprocal:
          return g.Reciprocal(x);
        case Un::kErf:
          return g.Unary<tosa::ErfOp>(x);
        case Un::kTanh:
          return g.Unary<tosa::TanhOp>(x);
        case Un::kSigmoid:
          return g.Unary<tosa::SigmoidOp>(x);
        case Un::kFloor:
          return g.Unary<tosa::FloorOp>(x);
        case Un::kCeil:
          return g.Unary<tosa::CeilOp>(x);
        case Un::kSin:
          return g.Unary<tosa::SinOp>(x);
        case Un::kCos:
          return g.Unary<tosa::CosOp>(x);
        case Un::kNot:
          return g.Unary<tosa::LogicalNotOp>(x);
        case Un::kRelu:
          return g.Clamp(x, 0.0, std::numeric_limits<double>::infinity());
        case Un::kLeakyRelu:
          return g.Select(g.Compare("greater_equal", x, c(0.0)), x, g.Mul(x, c(alpha)));
        case Un::kThresholdedRelu:
          return g.Select(g.Compare("greater", x, c(alpha)), x, c(0.0));
        case Un::kElu:
          return g.Select(g.Compare("greater", x, c(0.0)), x, exp_m1_alpha());
        case Un::kCelu:
          // max(0,x) + min(0, alpha*(exp(x/alpha)-1))
          return g.Select(g.Compare("greater", x, c(0.0)), x,
                          g.Mul(c(alpha), g.Sub(g.Exp(g.Mul(x, c(1.0 / alpha))), c(1.0))));
        case Un::kSelu:
          return g.Mul(c(gamma), g.Select(g.Compare("greater", x, c(0.0)), x, exp_m1_alpha()));
        case Un::kHardSigmoid:
          return g.Clamp(g.Add(g.Mul(x, c(alpha)), c(beta)), 0.0, 1.0);
        case Un::kHardSwish:
          return g.Mul(x, g.Clamp(g.Add(g.Mul(x, c(1.0 / 6.0)), c(0.5)), 0.0, 1.0));
        case Un::kSoftplus:
          // log(1 + exp(x)) overflows from x = 88; past 20 it equals x in f32.
          return g.Select(g.Compare("greater", x, c(20.0)), x, g.Log(g.Add(g.Exp(x), c(1.0))));
        case Un::kSoftsign:
          return g.Mul(x, g.Reciprocal(g.Add(g.Unary<tosa::AbsOp>(x), c(1.0))));
        case Un::kSign:
          return g.Sub(g.Cast(g.Compare("greater", x, c(0.0)), t.getElementType()),
                       g.Cast(g.Compare("greater", c(0.0), x), t.getElementType()));
        case Un::kRound: {
          // Round half to even, as ONNX defines it: tosa.cast f→i rounds so, but would
          // overflow i32 for large values; compute floor(x+0.5) and fix the ties.
          mlir::Value f = g.Unary<tosa::FloorOp>(g.Add(x, c(0.5)));
          mlir::Value tie = g.Compare("equal", g.Sub(f, x), c(0.5));
          mlir::Value half = g.Mul(f, c(0.5));
          mlir::Value odd =
              g.Compare("greater", g.Sub(half, g.Unary<tosa::FloorOp>(half)), c(0.25));
          return g.Select(tie, g.Select(odd, g.Sub(f, c(1.0)), f), f);
        }
        case Un::kIdentity:
          return x;
      }
      return x;
    });
  };
}

absl::Status HandlePRelu(Node& node) {
  KILN_ASSIGN_OR_RETURN(std::vector<Val*> ins, Inputs(node, 2));
  KILN_RETURN_IF_ERROR(RequireFloat(node, *ins[0]));
  GraphImporter& g = node.g();
  return g.Elementwise(node, ins, ins[0]->dtype, [&](Type t, Values v) {
    mlir::Value zero = g.Scalar(0.0, ins[0]->dtype, t.getRank());
    return g.Select(g.Compare("greater_equal", v[0], zero), v[0], g.Mul(v[0], v[1]));
  });
}

absl::Status HandleClip(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  const DType dtype = x->dtype;
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  std::vector<Val*> bounds(3, nullptr);
  if (node.g().opset() < 11) {
    lo = node.Float("min", -std::numeric_limits<float>::infinity());
    hi = node.Float("max", std::numeric_limits<float>::infinity());
  } else {
    for (int i = 1; i <= 2; ++i) {
      if (!node.Has(i)) continue;
      KILN_ASSIGN_OR_RETURN(Val * b, node.In(i));
      if (b->dtype != dtype) return node.Error("min and max must have the input's type");
      if (ElementCount(b->shape) != 1) return node.Error("min and max must be scalars");
      if (b->is_host())
        (i == 1 ? lo : hi) = b->host->AsDouble(0);
      else
        bounds[i] = b;
    }
  }
  if (x->is_host() && bounds[1] == nullptr && bounds[2] == nullptr)
    return FoldElementwise(node, {x->host.get()}, dtype, [lo, hi](llvm::ArrayRef<double> a) {
      return absl::StatusOr<double>(std::min(std::max(a[0], lo), hi));
    });
  GraphImporter& g = node.g();
  std::vector<Val*> ins = {x};
  for (Val* b : bounds)
    if (b) ins.push_back(b);
  return g.Elementwise(node, ins, dtype, [&](Type, Values v) {
    mlir::Value r = v[0];
    size_t next = 1;
    if (bounds[1]) r = g.Max(r, v[next++]);
    if (bounds[2]) r = g.Min(r, v[next++]);
    if (lo > -std::numeric_limits<double>::infinity() ||
        hi < std::numeric_limits<double>::infinity())
      r = g.Clamp(r, lo, hi);
    return r;
  });
}

absl::Status HandleWhere(Node& node) {
  KILN_ASSIGN_OR_RETURN(std::vector<Val*> ins, Inputs(node, 3));
  if (ins[0]->dtype != TP::BOOL) return node.Error("condition must be BOOL");
  if (ins[1]->dtype != ins[2]->dtype) return node.Error("X and Y must have the same type");
  if (AllHost(node))
    return FoldElementwise(node, HostInputs(ins), ins[1]->dtype, [](llvm::ArrayRef<double> a) {
      return absl::StatusOr<double>(a[0] != 0 ? a[1] : a[2]);
    });
  GraphImporter& g = node.g();
  return g.Elementwise(node, ins, ins[1]->dtype,
                       [&](Type, Values v) { return g.Select(v[0], v[1], v[2]); });
}

absl::Status HandleCast(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  const DType to = static_cast<DType>(node.Int("to", 0));
  if (!IsSupportedType(to))
    return node.Error(
        absl::StrCat("attribute 'to': casting to ", DTypeName(to), " is not supported"));
  if (x->is_host()) return node.SetHost(0, CastTo(*x->host, to));
  if (to == x->dtype) return node.Set(0, *x);
  GraphImporter& g = node.g();
  std::vector<Val*> ins = {x};
  return g.Elementwise(node, ins, to, [&](Type t, Values v) -> mlir::Value {
    mlir::Value in = v[0];
    if (to == TP::BOOL) {
      mlir::Value zero = g.Scalar(0.0, x->dtype, t.getRank());
      return g.Unary<tosa::LogicalNotOp>(g.Compare("equal", in, zero));
    }
    if (IsFloatType(x->dtype) && !IsFloatType(to)) {
      // ONNX truncates toward zero; tosa.cast rounds to nearest even.
      mlir::Value zero = g.Scalar(0.0, x->dtype, t.getRank());
      in = g.Select(g.Compare("greater", zero, in), g.Unary<tosa::CeilOp>(in),
                    g.Unary<tosa::FloorOp>(in));
    }
    return tosa::CastOp::create(g.b(), g.loc(), t, in);
  });
}

absl::Status HandleDropout(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  if (node.Has(2)) {
    KILN_ASSIGN_OR_RETURN(const HostTensor* training, node.ConstIn(2, "training_mode"));
    if (training->size() != 1 || training->AsInt(0) != 0)
      return node.Error("training_mode must be false: kiln runs inference");
  }
  if (node.OutputUsed(1)) return node.Error("output 'mask' is not supported");
  return node.Set(0, *x);
}

}  // namespace

void AddElementwiseOps(OpTable& t) {
  t["Add"] = {ArithHandler(Arith::kAdd, 2), {}};
  t["Sub"] = {ArithHandler(Arith::kSub, 2), {}};
  t["Mul"] = {ArithHandler(Arith::kMul, 2), {}};
  t["Div"] = {ArithHandler(Arith::kDiv, 2), {}};
  t["Pow"] = {ArithHandler(Arith::kPow, 2), {}};
  t["Mod"] = {ArithHandler(Arith::kMod, 2), {{"fmod", AT::INT}}};
  t["Max"] = {ArithHandler(Arith::kMax, 0), {}};
  t["Min"] = {ArithHandler(Arith::kMin, 0), {}};
  t["Sum"] = {ArithHandler(Arith::kSum, 0), {}};
  t["Mean"] = {ArithHandler(Arith::kMean, 0), {}};
  t["Equal"] = {CompareHandler(Cmp::kEqual), {}};
  t["Less"] = {CompareHandler(Cmp::kLess), {}};
  t["Greater"] = {CompareHandler(Cmp::kGreater), {}};
  t["LessOrEqual"] = {CompareHandler(Cmp::kLessEq), {}};
  t["GreaterOrEqual"] = {CompareHandler(Cmp::kGreaterEq), {}};
  t["And"] = {CompareHandler(Cmp::kAnd), {}};
  t["Or"] = {CompareHandler(Cmp::kOr), {}};
  t["Xor"] = {CompareHandler(Cmp::kXor), {}};
  t["Neg"] = {UnaryHandler(Un::kNeg), {}};
  t["Abs"] = {UnaryHandler(Un::kAbs), {}};
  t["Exp"] = {UnaryHandler(Un::kExp), {}};
  t["Log"] = {UnaryHandler(Un::kLog), {}};
  t["Sqrt"] = {UnaryHandler(Un::kSqrt), {}};
  t["Reciprocal"] = {UnaryHandler(Un::kReciprocal), {}};
  t["Erf"] = {UnaryHandler(Un::kErf), {}};
  t["Tanh"] = {UnaryHandler(Un::kTanh), {}};
  t["Sigmoid"] = {UnaryHandler(Un::kSigmoid), {}};
  t["Relu"] = {UnaryHandler(Un::kRelu), {}};
  t["Floor"] = {UnaryHandler(Un::kFloor), {}};
  t["Ceil"] = {UnaryHandler(Un::kCeil), {}};
  t["Round"] = {UnaryHandler(Un::kRound), {}};
  t["Sign"] = {UnaryHandler(Un::kSign), {}};
  t["Sin"] = {UnaryHandler(Un::kSin), {}};
  t["Cos"] = {UnaryHandler(Un::kCos), {}};
  t["Not"] = {UnaryHandler(Un::kNot), {}};
  t["Identity"] = {UnaryHandler(Un::kIdentity), {}};
  t["LeakyRelu"] = {UnaryHandler(Un::kLeakyRelu), {{"alpha", AT::FLOAT}}};
  t["ThresholdedRelu"] = {UnaryHandler(Un::kThresholdedRelu), {{"alpha", AT::FLOAT}}};
  t["Elu"] = {UnaryHandler(Un::kElu), {{"alpha", AT::FLOAT}}};
  t["Celu"] = {UnaryHandler(Un::kCelu), {{"alpha", AT::FLOAT}}};
  t["Selu"] = {UnaryHandler(Un::kSelu), {{"alpha", AT::FLOAT}, {"gamma", AT::FLOAT}}};
  t["HardSigmoid"] = {UnaryHandler(Un::kHardSigmoid), {{"alpha", AT::FLOAT}, {"beta", AT::FLOAT}}};
  t["HardSwish"] = {UnaryHandler(Un::kHardSwish), {}};
  t["Softplus"] = {UnaryHandler(Un::kSoftplus), {}};
  t["Softsign"] = {UnaryHandler(Un::kSoftsign), {}};
  t["PRelu"] = {HandlePRelu, {}};
  t["Clip"] = {HandleClip, {{"min", AT::FLOAT}, {"max", AT::FLOAT}}};
  t["Where"] = {HandleWhere, {}};
  t["Cast"] = {HandleCast, {{"to", AT::INT}, {"saturate", AT::INT}}};
  t["Dropout"] = {HandleDropout, {{"seed", AT::INT}, {"ratio", AT::FLOAT}, {"is_test", AT::INT}}};
}

}  // namespace kiln::compiler::onnx_import
