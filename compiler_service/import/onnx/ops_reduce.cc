// Reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSumExp), ArgMax/ArgMin, Softmax,
// LogSoftmax and LayerNormalization, built from one-axis TOSA reductions (which keep the
// reduced dim as 1, so broadcasting back needs no reshape).
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "compiler_service/import/onnx/graph_importer.h"

namespace kiln::compiler::onnx_import {
namespace {

using TP = onnx::TensorProto;
using AT = onnx::AttributeProto;
namespace tosa = mlir::tosa;

constexpr int64_t kNhwcAxis[4] = {0, 3, 1, 2};

enum class Red { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSumExp };

std::vector<int64_t> ShapeOf(mlir::Value v) {
  auto s = llvm::cast<mlir::RankedTensorType>(v.getType()).getShape();
  return {s.begin(), s.end()};
}

// Host reduction of integer or float tensors (shape arithmetic: ReduceProd of a Shape).
HostTensor HostReduce(const HostTensor& x, const std::vector<bool>& reduce, Red op) {
  std::vector<int64_t> out_shape = x.shape;
  for (size_t d = 0; d < reduce.size(); ++d)
    if (reduce[d]) out_shape[d] = 1;
  const int64_t n = ElementCount(out_shape);
  const double init = op == Red::kProd  ? 1.0
                      : op == Red::kMax ? -std::numeric_limits<double>::infinity()
                      : op == Red::kMin ? std::numeric_limits<double>::infinity()
                                        : 0.0;
  std::vector<double> acc(n, init);
  std::vector<int64_t> count(n, 0);
  const std::vector<int64_t> out_strides = Strides(out_shape);
  std::vector<int64_t> idx(x.shape.size(), 0);
  for (int64_t k = 0; k < x.size(); ++k) {
    int64_t o = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      if (!reduce[d]) o += idx[d] * out_strides[d];
    const double v = x.AsDouble(k);
    switch (op) {
      case Red::kProd:
        acc[o] *= v;
        break;
      case Red::kMax:
        acc[o] = std::max(acc[o], v);
        break;
      case Red::kMin:
        acc[o] = std::min(acc[o], v);
        break;
      case Red::kL1:
        acc[o] += std::fabs(v);
        break;
      case Red::kL2:
      case Red::kSumSquare:
        acc[o] += v * v;
        break;
      default:
        acc[o] += v;
    }
    ++count[o];
    for (int64_t d = static_cast<int64_t>(idx.size()) - 1; d >= 0; --d) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  for (int64_t o = 0; o < n; ++o) {
    if (op == Red::kMean && count[o] > 0) acc[o] /= static_cast<double>(count[o]);
    if (op == Red::kL2) acc[o] = std::sqrt(acc[o]);
  }
  return CastTo(HostTensor::OfFloats(TP::DOUBLE, out_shape, std::move(acc)), x.dtype);
}

OpHandler ReduceHandler(Red op) {
  return [op](Node& node) -> absl::Status {
    KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
    const bool keep = node.Int("keepdims", 1) != 0;
    std::vector<int64_t> axes;
    // ReduceSum takes its axes as an input from opset 13 (the others from 18).
    if (op == Red::kSum && node.g().opset() >= 13) {
      if (node.Has(1)) {
        KILN_ASSIGN_OR_RETURN(const HostTensor* a, node.ConstIn(1, "axes"));
        axes = a->Ints();
      }
      if (axes.empty() && node.Int("noop_with_empty_axes", 0) != 0) return node.Set(0, *x);
    } else {
      axes = node.Ints("axes");
    }
    const int64_t rank = x->rank();
    std::vector<bool> reduce(rank, axes.empty());
    for (int64_t a : axes) {
      auto axis = NormalizeAxis(a, rank);
      if (!axis) return node.Error(absl::StrCat("axis ", a, " is out of range"));
      reduce[*axis] = true;
    }
    std::vector<int64_t> kept_shape = x->shape;
    std::vector<int64_t> out_shape;
    int64_t count = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (reduce[d]) {
        kept_shape[d] = 1;
        count *= x->shape[d];
      } else {
        out_shape.push_back(x->shape[d]);
      }
    }
    if (keep) out_shape = kept_shape;
    if (count == 0) return node.Error("reducing an empty tensor is not supported");
    if (x->is_host()) {
      HostTensor r = HostReduce(*x->host, reduce, op);
      r.shape = out_shape;
      return node.SetHost(0, std::move(r));
    }
    const bool is_float = IsFloatType(x->dtype);
    if (!is_float && op != Red::kSum && op != Red::kMax && op != Red::kMin && op != Red::kProd)
      return node.Error(
          absl::StrCat("this reduction of ", DTypeName(x->dtype), " is not supported"));
    GraphImporter& g = node.g();
    const bool nhwc = x->layout == Layout::kNhwc && keep;
    mlir::Value v = nhwc ? x->value : g.Logical(*x);
    auto axis_of = [&](int64_t d) { return nhwc ? kNhwcAxis[d] : d; };
    auto c = [&](double value) { return g.Scalar(value, x->dtype, rank); };
    auto each_axis = [&](mlir::Value in, auto&& fn) {
      for (int64_t d = 0; d < rank; ++d)
        if (reduce[d]) in = fn(in, axis_of(d));
      return in;
    };
    auto sum = [&](mlir::Value in) {
      return each_axis(in, [&](mlir::Value t, int64_t a) { return g.ReduceSum(t, a); });
    };
    mlir::Value r;
    switch (op) {
      case Red::kSum:
        r = sum(v);
        break;
      case Red::kMean:
        r = g.Mul(sum(v), c(1.0 / static_cast<double>(count)));
        break;
      case Red::kMax:
        r = each_axis(v, [&](mlir::Value t, int64_t a) { return g.ReduceMax(t, a); });
        break;
      case Red::kMin:
        r = each_axis(v, [&](mlir::Value t, int64_t a) -> mlir::Value {
          std::vector<int64_t> s = ShapeOf(t);
          s[a] = 1;
          return tosa::ReduceMinOp::create(g.b(), g.loc(), g.TensorType(s, x->dtype), t,
                                           static_cast<uint32_t>(a));
        });
        break;
      case Red::kProd:
        r = each_axis(v, [&](mlir::Value t, int64_t a) -> mlir::Value {
          std::vector<int64_t> s = ShapeOf(t);
          s[a] = 1;
          return tosa::ReduceProductOp::create(g.b(), g.loc(), g.TensorType(s, x->dtype), t,
                                               static_cast<uint32_t>(a));
        });
        break;
      case Red::kL1:
        r = sum(g.Unary<tosa::AbsOp>(v));
        break;
      case Red::kL2:
        r = g.Reciprocal(g.Unary<tosa::RsqrtOp>(sum(g.Mul(v, v))));
        break;
      case Red::kSumSquare:
        r = sum(g.Mul(v, v));
        break;
      case Red::kLogSumExp: {
        mlir::Value m = each_axis(v, [&](mlir::Value t, int64_t a) { return g.ReduceMax(t, a); });
        r = g.Add(g.Log(sum(g.Exp(g.Sub(v, m)))), m);
        break;
      }
    }
    if (nhwc) return node.SetValue(0, r, x->dtype, out_shape, Layout::kNhwc);
    return node.SetValue(0, g.Reshape(r, out_shape), x->dtype, out_shape);
  };
}

OpHandler ArgHandler(bool is_max) {
  return [is_max](Node& node) -> absl::Status {
    KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
    auto axis = NormalizeAxis(node.Int("axis", 0), x->rank());
    if (!axis) return node.Error("attribute 'axis' is out of range");
    const bool keep = node.Int("keepdims", 1) != 0;
    const bool last = node.Int("select_last_index", 0) != 0;
    const int64_t k = x->shape[*axis];
    if (k == 0) return node.Error("cannot take the arg-max of an empty dim");
    GraphImporter& g = node.g();
    mlir::Value v = g.Logical(*x);
    if (!is_max) {
      if (!IsFloatType(x->dtype)) return node.Error("ArgMin of integers is not supported");
      v = tosa::NegateOp::create(g.b(), g.loc(), v.getType(), v);
    }
    if (last)
      v = tosa::ReverseOp::create(g.b(), g.loc(), v.getType(), v, static_cast<uint32_t>(*axis));
    std::vector<int64_t> dropped;
    std::vector<int64_t> kept = x->shape;
    for (int64_t d = 0; d < x->rank(); ++d)
      if (d != *axis) dropped.push_back(x->shape[d]);
    kept[*axis] = 1;
    mlir::Value r = tosa::ArgMaxOp::create(g.b(), g.loc(), g.TensorType(dropped, TP::INT64), v,
                                           static_cast<uint32_t>(*axis));
    if (last)
      r = g.Sub(
          g.Scalar(static_cast<double>(k - 1), TP::INT64, static_cast<int64_t>(dropped.size())), r);
    std::vector<int64_t> shape = keep ? kept : dropped;
    return node.SetValue(0, g.Reshape(r, shape), TP::INT64, shape);
  };
}

OpHandler SoftmaxHandler(bool log) {
  return [log](Node& node) -> absl::Status {
    KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
    if (!IsFloatType(x->dtype)) return node.Error("input must be floating-point");
    const bool legacy = node.g().opset() < 13;
    auto axis = NormalizeAxis(node.Int("axis", legacy ? 1 : -1), x->rank());
    if (!axis) return node.Error("attribute 'axis' is out of range");
    GraphImporter& g = node.g();
    mlir::Value v;
    int64_t a = *axis;
    if (legacy) {
      // Before opset 13 the input is coerced to 2-D [prod(:axis), prod(axis:)].
      int64_t outer = 1;
      int64_t inner = 1;
      for (int64_t d = 0; d < x->rank(); ++d) (d < a ? outer : inner) *= x->shape[d];
      v = g.Reshape(g.Logical(*x), {outer, inner});
      a = 1;
    } else if (x->layout == Layout::kNhwc) {
      v = x->value;
      a = kNhwcAxis[a];
    } else {
      v = g.Logical(*x);
    }
    mlir::Value shifted = g.Sub(v, g.ReduceMax(v, a));
    mlir::Value e = g.Exp(shifted);
    mlir::Value s = g.ReduceSum(e, a);
    mlir::Value r = log ? g.Sub(shifted, g.Log(s)) : g.Mul(e, g.Reciprocal(s));
    if (legacy) return node.SetValue(0, g.Reshape(r, x->shape), x->dtype, x->shape);
    return node.SetValue(0, r, x->dtype, x->shape,
                         x->layout == Layout::kNhwc && !legacy ? Layout::kNhwc : Layout::kLogical);
  };
}

absl::Status HandleLayerNorm(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  KILN_ASSIGN_OR_RETURN(Val * scale, node.In(1));
  if (!IsFloatType(x->dtype)) return node.Error("input must be floating-point");
  if (node.OutputUsed(1) || node.OutputUsed(2))
    return node.Error("outputs 'Mean' and 'InvStdDev' are not supported");
  auto axis = NormalizeAxis(node.Int("axis", -1), x->rank());
  if (!axis) return node.Error("attribute 'axis' is out of range");
  const double eps = node.Float("epsilon", 1e-5F);
  const int64_t rank = x->rank();
  int64_t count = 1;
  for (int64_t d = *axis; d < rank; ++d) count *= x->shape[d];
  if (count == 0) return node.Error("normalizing over an empty dim is not supported");
  GraphImporter& g = node.g();
  mlir::Value v = g.Logical(*x);
  auto c = [&](double value) { return g.Scalar(value, x->dtype, rank); };
  auto mean = [&](mlir::Value t) {
    for (int64_t d = *axis; d < rank; ++d) t = g.ReduceSum(t, d);
    return g.Mul(t, c(1.0 / static_cast<double>(count)));
  };
  mlir::Value d = g.Sub(v, mean(v));
  mlir::Value r = g.Unary<tosa::RsqrtOp>(g.Add(mean(g.Mul(d, d)), c(eps)));
  mlir::Value y = g.Mul(d, r);
  auto operand = [&](Val* p) -> absl::StatusOr<mlir::Value> {
    auto b = BroadcastShapes(p->shape, x->shape);
    if (!b || *b != x->shape)
      return node.Error("Scale and B must broadcast to the normalized dims");
    return g.ExpandRank(g.Logical(*p), rank);
  };
  KILN_ASSIGN_OR_RETURN(mlir::Value s, operand(scale));
  y = g.Mul(y, s);
  if (node.Has(2)) {
    KILN_ASSIGN_OR_RETURN(Val * bias, node.In(2));
    KILN_ASSIGN_OR_RETURN(mlir::Value bv, operand(bias));
    y = g.Add(y, bv);
  }
  return node.SetValue(0, y, x->dtype, x->shape);
}

}  // namespace

void AddReductionOps(OpTable& t) {
  const std::vector<AttrSpec> reduce_attrs = {{"axes", AT::INTS}, {"keepdims", AT::INT}};
  t["ReduceSum"] = {ReduceHandler(Red::kSum),
                    {{"axes", AT::INTS}, {"keepdims", AT::INT}, {"noop_with_empty_axes", AT::INT}}};
  t["ReduceMean"] = {ReduceHandler(Red::kMean), reduce_attrs};
  t["ReduceMax"] = {ReduceHandler(Red::kMax), reduce_attrs};
  t["ReduceMin"] = {ReduceHandler(Red::kMin), reduce_attrs};
  t["ReduceProd"] = {ReduceHandler(Red::kProd), reduce_attrs};
  t["ReduceL1"] = {ReduceHandler(Red::kL1), reduce_attrs};
  t["ReduceL2"] = {ReduceHandler(Red::kL2), reduce_attrs};
  t["ReduceSumSquare"] = {ReduceHandler(Red::kSumSquare), reduce_attrs};
  t["ReduceLogSumExp"] = {ReduceHandler(Red::kLogSumExp), reduce_attrs};
  const std::vector<AttrSpec> arg_attrs = {
      {"axis", AT::INT}, {"keepdims", AT::INT}, {"select_last_index", AT::INT}};
  t["ArgMax"] = {ArgHandler(true), arg_attrs};
  t["ArgMin"] = {ArgHandler(false), arg_attrs};
  t["Softmax"] = {SoftmaxHandler(false), {{"axis", AT::INT}}};
  t["LogSoftmax"] = {SoftmaxHandler(true), {{"axis", AT::INT}}};
  t["LayerNormalization"] = {HandleLayerNorm,
                             {{"axis", AT::INT}, {"epsilon", AT::FLOAT}, {"stash_type", AT::INT}}};
}

}  // namespace kiln::compiler::onnx_import
