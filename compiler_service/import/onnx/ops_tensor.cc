// Data movement and shape ops: Reshape/Flatten/Squeeze/Unsqueeze/Transpose, Concat/Split/
// Slice, Expand/Tile/Pad, Gather, and the ops that are always known at import time (Shape,
// Size, Constant, ConstantOfShape, Range).
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler_service/import/onnx/graph_importer.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::compiler::onnx_import {
namespace {

using TP = onnx::TensorProto;
using AT = onnx::AttributeProto;
namespace tosa = mlir::tosa;

constexpr int64_t kMaxFoldElements = int64_t{1} << 24;
// Logical NCHW axis → its position in the NHWC layout.
constexpr int64_t kNhwcAxis[4] = {0, 3, 1, 2};

absl::Status SetReshaped(Node& node, Val* x, std::vector<int64_t> shape) {
  if (ElementCount(shape) != ElementCount(x->shape))
    return node.Error(
        absl::StrCat("cannot reshape ", ShapeString(x->shape), " to ", ShapeString(shape)));
  if (x->is_host()) {
    HostTensor t = *x->host;
    t.shape = std::move(shape);
    return node.SetHost(0, std::move(t));
  }
  GraphImporter& g = node.g();
  return node.SetValue(0, g.Reshape(g.Logical(*x), shape), x->dtype, shape);
}

// Axes from input `index` (opset ≥ `input_since`) or the `axes` attribute.
absl::StatusOr<std::vector<int64_t>> AxesOf(Node& node, int index, int64_t input_since) {
  if (node.g().opset() >= input_since) {
    if (!node.Has(index)) return std::vector<int64_t>{};
    KILN_ASSIGN_OR_RETURN(const HostTensor* axes, node.ConstIn(index, "axes"));
    return axes->Ints();
  }
  return node.Ints("axes");
}

absl::Status HandleReshape(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  KILN_ASSIGN_OR_RETURN(const HostTensor* spec, node.ConstIn(1, "shape"));
  const bool allow_zero = node.Int("allowzero", 0) != 0;
  std::vector<int64_t> shape = spec->Ints();
  int64_t infer = -1;
  int64_t known = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && !allow_zero) {
      if (d >= x->shape.size())
        return node.Error(absl::StrCat("shape ", ShapeString(spec->Ints()), " copies dim ", d,
                                       " of a rank-", x->rank(), " input"));
      shape[d] = x->shape[d];
    }
    if (shape[d] == -1) {
      if (infer >= 0) return node.Error("shape has more than one -1");
      infer = static_cast<int64_t>(d);
      continue;
    }
    if (shape[d] < 0) return node.Error(absl::StrCat("shape has a negative dim ", shape[d]));
    known *= shape[d];
  }
  const int64_t total = ElementCount(x->shape);
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      return node.Error(absl::StrCat("cannot reshape ", ShapeString(x->shape), " to ",
                                     ShapeString(spec->Ints())));
    shape[infer] = total / known;
  }
  return SetReshaped(node, x, std::move(shape));
}

absl::Status HandleFlatten(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  int64_t axis = node.Int("axis", 1);
  if (axis < 0) axis += x->rank();
  if (axis < 0 || axis > x->rank()) return node.Error("attribute 'axis' is out of range");
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t d = 0; d < x->rank(); ++d) (d < axis ? outer : inner) *= x->shape[d];
  return SetReshaped(node, x, {outer, inner});
}

absl::Status HandleSqueeze(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(node, 1, 13));
  std::vector<bool> drop(x->rank(), false);
  if (axes.empty()) {
    for (int64_t d = 0; d < x->rank(); ++d) drop[d] = x->shape[d] == 1;
  }
  for (int64_t a : axes) {
    auto axis = NormalizeAxis(a, x->rank());
    if (!axis) return node.Error(absl::StrCat("axis ", a, " is out of range"));
    if (x->shape[*axis] != 1)
      return node.Error(absl::StrCat("cannot squeeze dim ", *axis, " of size ", x->shape[*axis]));
    drop[*axis] = true;
  }
  std::vector<int64_t> shape;
  for (int64_t d = 0; d < x->rank(); ++d)
    if (!drop[d]) shape.push_back(x->shape[d]);
  return SetReshaped(node, x, std::move(shape));
}

absl::Status HandleUnsqueeze(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(node, 1, 13));
  const int64_t rank = x->rank() + static_cast<int64_t>(axes.size());
  std::vector<bool> added(rank, false);
  for (int64_t a : axes) {
    auto axis = NormalizeAxis(a, rank);
    if (!axis || added[*axis]) return node.Error(absl::StrCat("axis ", a, " is invalid"));
    added[*axis] = true;
  }
  std::vector<int64_t> shape;
  shape.reserve(rank);
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) shape.push_back(added[d] ? 1 : x->shape[next++]);
  return SetReshaped(node, x, std::move(shape));
}

absl::Status HandleTranspose(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  std::vector<int64_t> perm = node.Ints("perm");
  if (perm.empty())
    for (int64_t d = x->rank() - 1; d >= 0; --d) perm.push_back(d);
  std::vector<bool> seen(x->rank(), false);
  if (static_cast<int64_t>(perm.size()) != x->rank())
    return node.Error("attribute 'perm' must list every dim once");
  for (int64_t p : perm) {
    if (p < 0 || p >= x->rank() || seen[p])
      return node.Error("attribute 'perm' must list every dim once");
    seen[p] = true;
  }
  std::vector<int64_t> shape;
  shape.reserve(perm.size());
  for (int64_t p : perm) shape.push_back(x->shape[p]);
  if (x->is_host()) return node.SetHost(0, Transpose(*x->host, perm));
  GraphImporter& g = node.g();
  // NCHW→NHWC of a value already held as NHWC: nothing to move.
  if (x->layout == Layout::kNhwc && perm == std::vector<int64_t>{0, 2, 3, 1})
    return node.SetValue(0, x->value, x->dtype, shape);
  return node.SetValue(0, g.Transpose(g.Logical(*x), perm), x->dtype, shape);
}

absl::Status HandleConcat(Node& node) {
  if (node.num_inputs() < 1) return node.Error("needs at least one input");
  std::vector<Val*> ins;
  for (int i = 0; i < node.num_inputs(); ++i) {
    KILN_ASSIGN_OR_RETURN(Val * v, node.In(i));
    ins.push_back(v);
  }
  const int64_t rank = ins[0]->rank();
  auto axis = NormalizeAxis(node.Int("axis", 0), rank);
  if (!axis) return node.Error("attribute 'axis' is out of range");
  std::vector<int64_t> shape = ins[0]->shape;
  shape[*axis] = 0;
  bool all_host = true;
  bool any_nhwc = false;
  for (Val* v : ins) {
    if (v->rank() != rank || v->dtype != ins[0]->dtype)
      return node.Error("inputs must have the same rank and element type");
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && v->shape[d] != ins[0]->shape[d])
        return node.Error(absl::StrCat("input shapes ", ShapeString(ins[0]->shape), " and ",
                                       ShapeString(v->shape), " differ outside axis ", *axis));
    shape[*axis] += v->shape[*axis];
    all_host &= v->is_host();
    any_nhwc |= !v->is_host() && v->layout == Layout::kNhwc;
  }
  if (all_host) {
    if (ElementCount(shape) > kMaxFoldElements) return node.Error("constant result too large");
    // Concatenate by walking the outer dims and copying each input's slab in turn.
    int64_t outer = 1;
    for (int64_t d = 0; d < *axis; ++d) outer *= shape[d];
    HostTensor out = HostTensor::Zeros(ins[0]->dtype, shape);
    int64_t pos = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (Val* v : ins) {
        const int64_t slab = ElementCount(v->shape) / std::max<int64_t>(outer, 1);
        for (int64_t k = 0; k < slab; ++k, ++pos) {
          if (out.is_float())
            out.f[pos] = v->host->f[o * slab + k];
          else
            out.i[pos] = v->host->i[o * slab + k];
        }
      }
    return node.SetHost(0, std::move(out));
  }
  GraphImporter& g = node.g();
  std::vector<mlir::Value> parts;
  const bool nhwc = any_nhwc && rank == 4;
  for (Val* v : ins)
    if (ElementCount(v->shape) > 0) parts.push_back(nhwc ? g.Nhwc(*v) : g.Logical(*v));
  return node.SetValue(0, g.Concat(parts, nhwc ? kNhwcAxis[*axis] : *axis), ins[0]->dtype, shape,
                       nhwc ? Layout::kNhwc : Layout::kLogical);
}

// A slice of `x` along logical `axis`, in x's layout.
absl::Status SetSlice(Node& node, int output, Val* x, int64_t axis, int64_t begin, int64_t size) {
  std::vector<int64_t> start(x->rank(), 0);
  std::vector<int64_t> sizes = x->shape;
  start[axis] = begin;
  sizes[axis] = size;
  if (x->is_host()) {
    Val v;
    v.dtype = x->dtype;
    v.shape = sizes;
    v.host = std::make_shared<const HostTensor>(
        SliceTensor(*x->host, start, sizes, std::vector<int64_t>(x->rank(), 1)));
    return node.Set(output, std::move(v));
  }
  GraphImporter& g = node.g();
  if (x->layout == Layout::kNhwc) {
    std::vector<int64_t> pstart(4);
    std::vector<int64_t> psize(4);
    for (int d = 0; d < 4; ++d) {
      pstart[kNhwcAxis[d]] = start[d];
      psize[kNhwcAxis[d]] = sizes[d];
    }
    return node.SetValue(output, g.Slice(x->value, pstart, psize), x->dtype, sizes, Layout::kNhwc);
  }
  return node.SetValue(output, g.Slice(g.Logical(*x), start, sizes), x->dtype, sizes);
}

absl::Status HandleSplit(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  auto axis = NormalizeAxis(node.Int("axis", 0), x->rank());
  if (!axis) return node.Error("attribute 'axis' is out of range");
  std::vector<int64_t> sizes;
  if (node.g().opset() >= 13 && node.Has(1)) {
    KILN_ASSIGN_OR_RETURN(const HostTensor* split, node.ConstIn(1, "split"));
    sizes = split->Ints();
  } else if (node.g().opset() < 13) {
    sizes = node.Ints("split");
  }
  const int64_t dim = x->shape[*axis];
  const int64_t outputs = node.num_outputs();
  if (sizes.empty()) {
    if (outputs < 1 || dim % outputs != 0)
      return node.Error(
          absl::StrCat("dim ", dim, " does not split evenly into ", outputs, " outputs"));
    sizes.assign(outputs, dim / outputs);
  }
  if (static_cast<int64_t>(sizes.size()) != outputs)
    return node.Error("'split' must give one size per output");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) return node.Error("'split' sizes must not be negative");
    sum += s;
  }
  if (sum != dim) return node.Error(absl::StrCat("'split' sizes add up to ", sum, ", not ", dim));
  int64_t begin = 0;
  for (int64_t o = 0; o < outputs; ++o) {
    if (node.OutputUsed(static_cast<int>(o)))
      KILN_RETURN_IF_ERROR(SetSlice(node, static_cast<int>(o), x, *axis, begin, sizes[o]));
    begin += sizes[o];
  }
  return absl::OkStatus();
}

absl::Status HandleSlice(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  std::vector<int64_t> starts, ends, axes, steps;
  if (node.g().opset() >= 10) {
    KILN_ASSIGN_OR_RETURN(const HostTensor* s, node.ConstIn(1, "starts"));
    KILN_ASSIGN_OR_RETURN(const HostTensor* e, node.ConstIn(2, "ends"));
    starts = s->Ints();
    ends = e->Ints();
    if (node.Has(3)) {
      KILN_ASSIGN_OR_RETURN(const HostTensor* a, node.ConstIn(3, "axes"));
      axes = a->Ints();
    }
    if (node.Has(4)) {
      KILN_ASSIGN_OR_RETURN(const HostTensor* st, node.ConstIn(4, "steps"));
      steps = st->Ints();
    }
  } else {
    starts = node.Ints("starts");
    ends = node.Ints("ends");
    axes = node.Ints("axes");
  }
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return node.Error("starts, ends, axes and steps must have the same length");
  const int64_t rank = x->rank();
  std::vector<int64_t> begin(rank, 0);
  std::vector<int64_t> size = x->shape;
  std::vector<int64_t> step(rank, 1);
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < starts.size(); ++k) {
    auto axis = NormalizeAxis(axes[k], rank);
    if (!axis || seen[*axis]) return node.Error(absl::StrCat("axis ", axes[k], " is invalid"));
    seen[*axis] = true;
    const int64_t dim = x->shape[*axis];
    const int64_t st = steps[k];
    if (st == 0) return node.Error("steps must not be 0");
    auto clamp = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
    int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
    int64_t e = ends[k] < 0 ? ends[k] + dim : ends[k];
    if (st > 0) {
      s = clamp(s, 0, dim);
      e = clamp(e, 0, dim);
      size[*axis] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = clamp(s, 0, dim - 1);
      e = clamp(e, -1, dim - 1);
      size[*axis] = s > e ? (s - e + (-st) - 1) / (-st) : 0;
    }
    begin[*axis] = s;
    step[*axis] = st;
  }
  if (x->is_host()) return node.SetHost(0, SliceTensor(*x->host, begin, size, step));
  GraphImporter& g = node.g();
  bool unit = true;
  for (int64_t st : step) unit &= st == 1;
  if (unit) {
    if (x->layout == Layout::kNhwc) {
      std::vector<int64_t> pb(4), ps(4);
      for (int d = 0; d < 4; ++d) {
        pb[kNhwcAxis[d]] = begin[d];
        ps[kNhwcAxis[d]] = size[d];
      }
      return node.SetValue(0, g.Slice(x->value, pb, ps), x->dtype, size, Layout::kNhwc);
    }
    return node.SetValue(0, g.Slice(g.Logical(*x), begin, size), x->dtype, size);
  }
  if (ElementCount(size) == 0) return node.Error("an empty strided slice is not supported");
  mlir::Value v = g.Logical(*x);
  // A negative step reads the reversed axis with a positive one.
  for (int64_t d = 0; d < rank; ++d)
    if (step[d] < 0) {
      v = tosa::ReverseOp::create(g.b(), g.loc(), v.getType(), v, static_cast<uint32_t>(d));
      begin[d] = x->shape[d] - 1 - begin[d];
      step[d] = -step[d];
    }
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  for (int64_t d = 0; d < rank; ++d) {
    offsets.push_back(g.b().getIndexAttr(begin[d]));
    sizes.push_back(g.b().getIndexAttr(size[d]));
    strides.push_back(g.b().getIndexAttr(step[d]));
  }
  auto type = g.TensorType(size, x->dtype);
  mlir::Value r =
      mlir::tensor::ExtractSliceOp::create(g.b(), g.loc(), type, v, offsets, sizes, strides);
  return node.SetValue(0, r, x->dtype, size);
}

absl::Status HandleExpand(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  KILN_ASSIGN_OR_RETURN(const HostTensor* spec, node.ConstIn(1, "shape"));
  auto shape = BroadcastShapes(x->shape, spec->Ints());
  if (!shape)
    return node.Error(
        absl::StrCat("cannot expand ", ShapeString(x->shape), " to ", ShapeString(spec->Ints())));
  if (x->is_host() && ElementCount(*shape) <= kMaxFoldElements)
    return node.SetHost(0, BroadcastTo(*x->host, *shape));
  GraphImporter& g = node.g();
  mlir::Value v = g.ExpandRank(g.Logical(*x), static_cast<int64_t>(shape->size()));
  auto in = llvm::cast<mlir::RankedTensorType>(v.getType()).getShape();
  std::vector<int64_t> multiples;
  multiples.reserve(shape->size());
  for (size_t d = 0; d < shape->size(); ++d) multiples.push_back((*shape)[d] / in[d]);
  return node.SetValue(0, g.Tile(v, multiples), x->dtype, *shape);
}

absl::Status HandleTile(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  KILN_ASSIGN_OR_RETURN(const HostTensor* reps, node.ConstIn(1, "repeats"));
  std::vector<int64_t> multiples = reps->Ints();
  if (static_cast<int64_t>(multiples.size()) != x->rank())
    return node.Error("'repeats' must have one entry per dim");
  std::vector<int64_t> shape = x->shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (multiples[d] < 0) return node.Error("'repeats' must not be negative");
    shape[d] *= multiples[d];
  }
  if (ElementCount(shape) < 0) return node.Error("the result is too large");
  if (x->is_host() && ElementCount(shape) <= kMaxFoldElements) {
    // Tile = broadcast of a [1,d0,1,d1,...]-shaped view, then merge pairs.
    std::vector<int64_t> view, big;
    for (size_t d = 0; d < shape.size(); ++d) {
      view.push_back(1);
      view.push_back(x->shape[d]);
      big.push_back(multiples[d]);
      big.push_back(x->shape[d]);
    }
    HostTensor t = *x->host;
    t.shape = view;
    HostTensor out = BroadcastTo(t, big);
    out.shape = shape;
    return node.SetHost(0, std::move(out));
  }
  GraphImporter& g = node.g();
  if (ElementCount(shape) == 0) return node.Error("an empty result is not supported");
  return node.SetValue(0, g.Tile(g.Logical(*x), multiples), x->dtype, shape);
}

absl::Status HandlePad(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  const std::string mode = node.Str("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    return node.Error(absl::StrCat("attribute 'mode': '", mode, "' is not supported"));
  std::vector<int64_t> pads;
  double value = 0;
  if (node.g().opset() >= 11) {
    KILN_ASSIGN_OR_RETURN(const HostTensor* p, node.ConstIn(1, "pads"));
    pads = p->Ints();
    if (node.Has(2)) {
      KILN_ASSIGN_OR_RETURN(const HostTensor* c, node.ConstIn(2, "constant_value"));
      if (c->size() != 1) return node.Error("'constant_value' must be a scalar");
      value = c->AsDouble(0);
    }
    if (node.Has(3)) return node.Error("input 'axes' is not supported");
  } else {
    pads = node.Ints("pads");
    value = node.Float("value", 0.0F);
  }
  const int64_t rank = x->rank();
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    return node.Error(absl::StrCat("'pads' must have ", 2 * rank, " entries"));
  GraphImporter& g = node.g();
  mlir::Value v = g.Logical(*x);
  std::vector<int64_t> shape = x->shape;
  // Negative pads crop.
  std::vector<int64_t> begin(rank, 0);
  std::vector<int64_t> size = x->shape;
  bool crop = false;
  for (int64_t d = 0; d < rank; ++d) {
    if (pads[d] < 0) {
      begin[d] = -pads[d];
      size[d] += pads[d];
      pads[d] = 0;
      crop = true;
    }
    if (pads[d + rank] < 0) {
      size[d] += pads[d + rank];
      pads[d + rank] = 0;
      crop = true;
    }
    if (size[d] < 0) return node.Error("negative pads remove more than the whole dim");
  }
  if (crop) v = g.Slice(v, begin, size);
  shape = size;
  if (mode == "constant") {
    std::vector<int64_t> interleaved;
    for (int64_t d = 0; d < rank; ++d) {
      interleaved.push_back(pads[d]);
      interleaved.push_back(pads[d + rank]);
      shape[d] += pads[d] + pads[d + rank];
    }
    return node.SetValue(0, g.Pad(v, interleaved, value), x->dtype, shape);
  }
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t lo = pads[d];
    const int64_t hi = pads[d + rank];
    if (lo == 0 && hi == 0) continue;
    const int64_t dim = shape[d];
    if (mode == "reflect" && (lo >= dim || hi >= dim))
      return node.Error(absl::StrCat("reflect pads must be smaller than the dim (", dim, ")"));
    if (dim == 0) return node.Error("cannot pad an empty dim by edge or reflection");
    auto slice = [&](int64_t b, int64_t n) {
      std::vector<int64_t> st(rank, 0);
      std::vector<int64_t> sz = shape;
      st[d] = b;
      sz[d] = n;
      return g.Slice(v, st, sz);
    };
    auto reverse = [&](mlir::Value p) -> mlir::Value {
      return tosa::ReverseOp::create(g.b(), g.loc(), p.getType(), p, static_cast<uint32_t>(d));
    };
    std::vector<mlir::Value> parts;
    std::vector<int64_t> reps(rank, 1);
    if (lo > 0) {
      if (mode == "reflect") {
        parts.push_back(reverse(slice(1, lo)));
      } else {
        reps[d] = lo;
        parts.push_back(g.Tile(slice(0, 1), reps));
      }
    }
    parts.push_back(v);
    if (hi > 0) {
      if (mode == "reflect") {
        parts.push_back(reverse(slice(dim - 1 - hi, hi)));
      } else {
        reps[d] = hi;
        parts.push_back(g.Tile(slice(dim - 1, 1), reps));
      }
    }
    v = g.Concat(parts, d);
    shape[d] += lo + hi;
  }
  return node.SetValue(0, v, x->dtype, shape);
}

absl::Status HandleGather(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * data, node.In(0));
  KILN_ASSIGN_OR_RETURN(Val * indices, node.In(1));
  if (data->rank() < 1) return node.Error("data must have rank 1 or more");
  auto axis_opt = NormalizeAxis(node.Int("axis", 0), data->rank());
  if (!axis_opt) return node.Error("attribute 'axis' is out of range");
  const int64_t axis = *axis_opt;
  if (indices->dtype != TP::INT64 && indices->dtype != TP::INT32)
    return node.Error("indices must be INT32 or INT64");
  const int64_t k = data->shape[axis];
  std::vector<int64_t> shape(data->shape.begin(), data->shape.begin() + axis);
  shape.insert(shape.end(), indices->shape.begin(), indices->shape.end());
  shape.insert(shape.end(), data->shape.begin() + axis + 1, data->shape.end());
  int64_t pre = 1;
  int64_t post = 1;
  for (int64_t d = 0; d < data->rank(); ++d)
    if (d < axis)
      pre *= data->shape[d];
    else if (d > axis)
      post *= data->shape[d];
  const int64_t w = ElementCount(indices->shape);
  std::vector<int64_t> ids;
  if (indices->is_host()) {
    ids = indices->host->Ints();
    for (int64_t& id : ids) {
      if (id < -k || id >= k)
        return node.Error(absl::StrCat("index ", id, " is out of range for a dim of size ", k));
      if (id < 0) id += k;
    }
  }
  if (data->is_host() && indices->is_host() && ElementCount(shape) <= kMaxFoldElements) {
    HostTensor out = HostTensor::Zeros(data->dtype, shape);
    int64_t pos = 0;
    for (int64_t p = 0; p < pre; ++p)
      for (int64_t i = 0; i < w; ++i)
        for (int64_t q = 0; q < post; ++q, ++pos) {
          const int64_t src = (p * k + ids[i]) * post + q;
          if (out.is_float())
            out.f[pos] = data->host->f[src];
          else
            out.i[pos] = data->host->i[src];
        }
    return node.SetHost(0, std::move(out));
  }
  GraphImporter& g = node.g();
  mlir::Value x = g.Logical(*data);
  // A single constant index (torch's `qkv[0]`, `x[:, 0]`) is a slice.
  if (indices->is_host() && w == 1) {
    std::vector<int64_t> begin(data->rank(), 0);
    std::vector<int64_t> size = data->shape;
    begin[axis] = ids[0];
    size[axis] = 1;
    return node.SetValue(0, g.Reshape(g.Slice(x, begin, size), shape), data->dtype, shape);
  }
  if (w == 0 || ElementCount(data->shape) == 0)
    return node.Error("gathering from or into an empty tensor is not supported");
  // tosa.gather: values [N,K,C], indices [N,W] → [N,W,C]. Bring the axis to the front:
  // [K, pre*post] as C, then restore the order.
  mlir::Value values;
  if (pre == 1) {
    values = g.Reshape(x, {1, k, post});
  } else {
    std::vector<int64_t> perm = {axis};
    for (int64_t d = 0; d < data->rank(); ++d)
      if (d != axis) perm.push_back(d);
    values = g.Reshape(g.Transpose(x, perm), {1, k, pre * post});
  }
  mlir::Value idx;
  if (indices->is_host()) {
    idx = g.Const(HostTensor::OfInts(TP::INT32, {1, w}, ids));
  } else {
    // Negative ids count from the end. An id still out of range is an error, as ONNX has it:
    // the lookup checks its indices (kiln-guard-element-reads) and the request fails with
    // INVALID_ARGUMENT. Clamped into [-1, k] first, so that an int64 id past int32
    // stays out of range through the cast instead of wrapping into it.
    idx = g.Reshape(g.Logical(*indices), {1, w});
    const DType it = indices->dtype;
    idx = g.Select(g.Compare("greater", g.Scalar(0, it, 2), idx), g.Add(idx, g.Scalar(k, it, 2)),
                   idx);
    idx = g.Clamp(idx, -1, static_cast<double>(k));
    idx = g.Cast(idx, g.b().getI32Type());
  }
  const int64_t c = pre == 1 ? post : pre * post;
  auto type = g.TensorType({1, w, c}, data->dtype);
  mlir::Value r = tosa::GatherOp::create(g.b(), g.loc(), type, values, idx);
  if (pre != 1) {
    // [1, W, pre*post] → [W, pre..., post...] → move W after the pre dims.
    std::vector<int64_t> split = {w};
    for (int64_t d = 0; d < data->rank(); ++d)
      if (d != axis) split.push_back(data->shape[d]);
    r = g.Reshape(r, split);
    std::vector<int64_t> perm;
    for (int64_t d = 1; d <= axis; ++d) perm.push_back(d);
    perm.push_back(0);
    for (int64_t d = axis + 1; d < data->rank(); ++d) perm.push_back(d);
    r = g.Transpose(r, perm);
  }
  return node.SetValue(0, g.Reshape(r, shape), data->dtype, shape);
}

absl::Status HandleShape(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  const int64_t rank = x->rank();
  int64_t start = node.Int("start", 0);
  int64_t end = node.Int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(x->shape[d]);
  const int64_t n = static_cast<int64_t>(dims.size());
  return node.SetHost(0, HostTensor::OfInts(TP::INT64, {n}, std::move(dims)));
}

absl::Status HandleSize(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  return node.SetHost(0, HostTensor::OfInts(TP::INT64, {}, {ElementCount(x->shape)}));
}

absl::Status HandleConstant(Node& node) {
  if (const onnx::TensorProto* t = node.Tensor("value")) {
    auto host = FromTensorProto(*t, node.g().options().external_data_dir);
    if (!host.ok()) return node.Error(host.status().message());
    return node.SetHost(0, std::move(*host));
  }
  if (node.HasAttr("value_float"))
    return node.SetHost(0, HostTensor::OfFloats(TP::FLOAT, {}, {node.Float("value_float", 0)}));
  if (node.HasAttr("value_int"))
    return node.SetHost(0, HostTensor::OfInts(TP::INT64, {}, {node.Int("value_int", 0)}));
  if (node.HasAttr("value_floats")) {
    std::vector<float> v = node.Floats("value_floats");
    return node.SetHost(0, HostTensor::OfFloats(TP::FLOAT, {static_cast<int64_t>(v.size())},
                                                std::vector<double>(v.begin(), v.end())));
  }
  if (node.HasAttr("value_ints")) {
    std::vector<int64_t> v = node.Ints("value_ints");
    const auto n = static_cast<int64_t>(v.size());
    return node.SetHost(0, HostTensor::OfInts(TP::INT64, {n}, std::move(v)));
  }
  return node.Error("has no value (value, value_float(s) or value_int(s))");
}

absl::Status HandleConstantOfShape(Node& node) {
  KILN_ASSIGN_OR_RETURN(const HostTensor* spec, node.ConstIn(0, "input"));
  std::vector<int64_t> shape = spec->Ints();
  const int64_t n = ElementCount(shape);
  if (n < 0 || n > kMaxFoldElements)
    return node.Error(absl::StrCat("shape ", ShapeString(shape), " is too large"));
  HostTensor value = HostTensor::OfFloats(TP::FLOAT, {1}, {0.0});
  if (const onnx::TensorProto* t = node.Tensor("value")) {
    auto host = FromTensorProto(*t, "");
    if (!host.ok()) return node.Error(host.status().message());
    if (host->size() != 1) return node.Error("attribute 'value' must hold one element");
    value = std::move(*host);
  }
  HostTensor one = value;
  one.shape = {};
  return node.SetHost(0, BroadcastTo(one, shape));
}

absl::Status HandleRange(Node& node) {
  KILN_ASSIGN_OR_RETURN(const HostTensor* start, node.ConstIn(0, "start"));
  KILN_ASSIGN_OR_RETURN(const HostTensor* limit, node.ConstIn(1, "limit"));
  KILN_ASSIGN_OR_RETURN(const HostTensor* delta, node.ConstIn(2, "delta"));
  if (start->size() != 1 || limit->size() != 1 || delta->size() != 1)
    return node.Error("start, limit and delta must be scalars");
  const double s = start->AsDouble(0);
  const double d = delta->AsDouble(0);
  if (d == 0) return node.Error("delta must not be 0");
  const double count = std::max(std::ceil((limit->AsDouble(0) - s) / d), 0.0);
  if (count > static_cast<double>(kMaxFoldElements)) return node.Error("the range is too long");
  const auto n = static_cast<int64_t>(count);
  std::vector<double> v(n);
  for (int64_t k = 0; k < n; ++k) v[k] = s + static_cast<double>(k) * d;
  return node.SetHost(0, CastTo(HostTensor::OfFloats(TP::DOUBLE, {n}, std::move(v)), start->dtype));
}

}  // namespace

void AddTensorOps(OpTable& t) {
  t["Reshape"] = {HandleReshape, {{"allowzero", AT::INT}}};
  t["Flatten"] = {HandleFlatten, {{"axis", AT::INT}}};
  t["Squeeze"] = {HandleSqueeze, {{"axes", AT::INTS}}};
  t["Unsqueeze"] = {HandleUnsqueeze, {{"axes", AT::INTS}}};
  t["Transpose"] = {HandleTranspose, {{"perm", AT::INTS}}};
  t["Concat"] = {HandleConcat, {{"axis", AT::INT}}};
  t["Split"] = {HandleSplit, {{"axis", AT::INT}, {"split", AT::INTS}}};
  t["Slice"] = {HandleSlice, {{"starts", AT::INTS}, {"ends", AT::INTS}, {"axes", AT::INTS}}};
  t["Expand"] = {HandleExpand, {}};
  t["Tile"] = {HandleTile, {}};
  t["Pad"] = {HandlePad, {{"mode", AT::STRING}, {"pads", AT::INTS}, {"value", AT::FLOAT}}};
  t["Gather"] = {HandleGather, {{"axis", AT::INT}}};
  t["Shape"] = {HandleShape, {{"start", AT::INT}, {"end", AT::INT}}};
  t["Size"] = {HandleSize, {}};
  t["Constant"] = {HandleConstant,
                   {{"value", AT::TENSOR},
                    {"value_float", AT::FLOAT},
                    {"value_floats", AT::FLOATS},
                    {"value_int", AT::INT},
                    {"value_ints", AT::INTS}}};
  t["ConstantOfShape"] = {HandleConstantOfShape, {{"value", AT::TENSOR}}};
  t["Range"] = {HandleRange, {}};
}

}  // namespace kiln::compiler::onnx_import
