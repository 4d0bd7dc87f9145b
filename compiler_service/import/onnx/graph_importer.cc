#include "compiler_service/import/onnx/graph_importer.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace kiln::compiler::onnx_import {

namespace {
using TP = onnx::TensorProto;
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};
const std::vector<int64_t> kToNchw = {0, 3, 1, 2};

std::vector<int64_t> Permuted(const std::vector<int64_t>& shape, llvm::ArrayRef<int64_t> perm) {
  std::vector<int64_t> out;
  out.reserve(perm.size());
  for (int64_t p : perm) out.push_back(shape[p]);
  return out;
}
}  // namespace

std::optional<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                                    const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[k] = da == 1 ? db : da;
  }
  return out;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::optional<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

// ---- Node

std::string Node::Where() const {
  return absl::StrCat("node '", proto_.name(), "' (", proto_.op_type(), ")");
}

absl::Status Node::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(Where(), ": ", message));
}

absl::StatusOr<Val*> Node::In(int i) {
  if (!Has(i)) return Error(absl::StrCat("input ", i, " is required"));
  auto it = g_.values().find(proto_.input(i));
  if (it == g_.values().end())
    return Error(absl::StrCat("input '", proto_.input(i), "' is used before it is defined"));
  return &it->second;
}

absl::StatusOr<const HostTensor*> Node::ConstIn(int i, absl::string_view what) {
  KILN_ASSIGN_OR_RETURN(Val * v, In(i));
  if (!v->is_host())
    return Error(absl::StrCat("input '", what, "' ('", proto_.input(i),
                              "') must be known at compile time (a constant or computed from "
                              "shapes), but it depends on the model's inputs"));
  return v->host.get();
}

bool Node::OutputUsed(int i) const {
  if (i >= proto_.output_size() || proto_.output(i).empty()) return false;
  auto it = g_.use_counts().find(proto_.output(i));
  return it != g_.use_counts().end() && it->second > 0;
}

absl::Status Node::Set(int i, Val value) {
  if (i >= proto_.output_size())
    return Error(absl::StrCat("has ", proto_.output_size(), " outputs; output ", i, " is needed"));
  if (proto_.output(i).empty()) return absl::OkStatus();
  g_.values()[proto_.output(i)] = std::move(value);
  return absl::OkStatus();
}

absl::Status Node::SetHost(int i, HostTensor t) {
  Val v;
  v.dtype = t.dtype;
  v.shape = t.shape;
  v.host = std::make_shared<const HostTensor>(std::move(t));
  return Set(i, std::move(v));
}

absl::Status Node::SetValue(int i, mlir::Value value, DType dtype, std::vector<int64_t> shape,
                            Layout layout) {
  Val v;
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.value = value;
  v.layout = layout;
  return Set(i, std::move(v));
}

const onnx::AttributeProto* Node::Attr(const std::string& name) const {
  for (const auto& attr : proto_.attribute())
    if (attr.name() == name) return &attr;
  return nullptr;
}

bool Node::HasAttr(const std::string& name) const { return Attr(name) != nullptr; }

int64_t Node::Int(const std::string& name, int64_t fallback) const {
  const auto* a = Attr(name);
  return a ? a->i() : fallback;
}

float Node::Float(const std::string& name, float fallback) const {
  const auto* a = Attr(name);
  return a ? a->f() : fallback;
}

std::string Node::Str(const std::string& name, const std::string& fallback) const {
  const auto* a = Attr(name);
  return a ? a->s() : fallback;
}

std::vector<int64_t> Node::Ints(const std::string& name, std::vector<int64_t> fallback) const {
  const auto* a = Attr(name);
  if (!a) return fallback;
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> Node::Floats(const std::string& name) const {
  const auto* a = Attr(name);
  if (!a) return {};
  return {a->floats().begin(), a->floats().end()};
}

const onnx::TensorProto* Node::Tensor(const std::string& name) const {
  const auto* a = Attr(name);
  return a ? &a->t() : nullptr;
}

// ---- GraphImporter: values

std::vector<int64_t> GraphImporter::PhysicalShape(const Val& v) {
  return v.layout == Layout::kNhwc ? Permuted(v.shape, kToNhwc) : v.shape;
}

mlir::Value GraphImporter::Const(const HostTensor& t, const std::vector<int64_t>& shape) {
  mlir::DenseElementsAttr attr = ToElementsAttr(ctx_, t, shape);
  return mlir::tosa::ConstOp::create(b_, loc_, attr.getType(), attr);
}

mlir::Value GraphImporter::Scalar(double value, DType dtype, int64_t rank) {
  HostTensor t = IsFloatType(dtype) ? HostTensor::OfFloats(dtype, {}, {value})
                                    : HostTensor::OfInts(dtype, {}, {static_cast<int64_t>(value)});
  return Const(t, std::vector<int64_t>(rank, 1));
}

mlir::Value GraphImporter::Logical(Val& v) {
  if (v.layout == Layout::kLogical && v.value) return v.value;
  if (v.logical_cache) return v.logical_cache;
  if (v.is_host())
    v.logical_cache = Const(*v.host);
  else
    v.logical_cache = Transpose(v.value, kToNchw);
  return v.logical_cache;
}

mlir::Value GraphImporter::Nhwc(Val& v) {
  if (v.layout == Layout::kNhwc) return v.value;
  if (v.nhwc_cache) return v.nhwc_cache;
  if (v.is_host())
    v.nhwc_cache = Const(onnx_import::Transpose(*v.host, kToNhwc));
  else
    v.nhwc_cache = Transpose(Logical(v), kToNhwc);
  return v.nhwc_cache;
}

// ---- GraphImporter: TOSA helpers

mlir::Value GraphImporter::ConstShape(llvm::ArrayRef<int64_t> dims) {
  mlir::ImplicitLocOpBuilder ib(loc_, b_);
  return mlir::tosa::getTosaConstShape(ib, dims);
}

static llvm::ArrayRef<int64_t> ShapeOf(mlir::Value x) {
  return llvm::cast<mlir::RankedTensorType>(x.getType()).getShape();
}
static mlir::Type ElemOf(mlir::Value x) {
  return llvm::cast<mlir::RankedTensorType>(x.getType()).getElementType();
}

mlir::Value GraphImporter::Reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape) {
  if (ShapeOf(x) == shape) return x;
  auto type = mlir::RankedTensorType::get(shape, ElemOf(x));
  return mlir::tosa::ReshapeOp::create(b_, loc_, type, x, ConstShape(shape));
}

mlir::Value GraphImporter::Transpose(mlir::Value x, llvm::ArrayRef<int64_t> perm) {
  llvm::ArrayRef<int64_t> in = ShapeOf(x);
  std::vector<int64_t> out;
  bool identity = true;
  int64_t last = -1;
  bool only_unit_dims_move = true;
  for (size_t d = 0; d < perm.size(); ++d) {
    out.push_back(in[perm[d]]);
    identity &= perm[d] == static_cast<int64_t>(d);
    if (in[perm[d]] != 1) {
      only_unit_dims_move &= perm[d] > last;
      last = perm[d];
    }
  }
  if (identity) return x;
  // Moving only dims of size 1 keeps the memory order: a reshape, which costs nothing.
  if (only_unit_dims_move) return Reshape(x, out);
  std::vector<int32_t> perm32(perm.begin(), perm.end());
  auto type = mlir::RankedTensorType::get(out, ElemOf(x));
  return mlir::tosa::TransposeOp::create(b_, loc_, type, x, perm32);
}

mlir::Value GraphImporter::Slice(mlir::Value x, llvm::ArrayRef<int64_t> start,
                                 llvm::ArrayRef<int64_t> size) {
  if (ShapeOf(x) == size) return x;
  auto type = mlir::RankedTensorType::get(size, ElemOf(x));
  return mlir::tosa::SliceOp::create(b_, loc_, type, x, ConstShape(start), ConstShape(size));
}

mlir::Value GraphImporter::Concat(llvm::ArrayRef<mlir::Value> parts, int64_t axis) {
  if (parts.size() == 1) return parts[0];
  std::vector<int64_t> shape(ShapeOf(parts[0]).begin(), ShapeOf(parts[0]).end());
  shape[axis] = 0;
  for (mlir::Value p : parts) shape[axis] += ShapeOf(p)[axis];
  auto type = mlir::RankedTensorType::get(shape, ElemOf(parts[0]));
  return mlir::tosa::ConcatOp::create(b_, loc_, type, parts, static_cast<uint32_t>(axis));
}

mlir::Value GraphImporter::Tile(mlir::Value x, llvm::ArrayRef<int64_t> multiples) {
  std::vector<int64_t> shape(ShapeOf(x).begin(), ShapeOf(x).end());
  bool trivial = true;
  for (size_t d = 0; d < shape.size(); ++d) {
    shape[d] *= multiples[d];
    trivial &= multiples[d] == 1;
  }
  if (trivial) return x;
  auto type = mlir::RankedTensorType::get(shape, ElemOf(x));
  return mlir::tosa::TileOp::create(b_, loc_, type, x, ConstShape(multiples));
}

mlir::Value GraphImporter::Pad(mlir::Value x, llvm::ArrayRef<int64_t> interleaved,
                               double pad_value) {
  std::vector<int64_t> shape(ShapeOf(x).begin(), ShapeOf(x).end());
  bool trivial = true;
  for (size_t d = 0; d < shape.size(); ++d) {
    shape[d] += interleaved[2 * d] + interleaved[2 * d + 1];
    trivial &= interleaved[2 * d] == 0 && interleaved[2 * d + 1] == 0;
  }
  if (trivial) return x;
  mlir::Type elem = ElemOf(x);
  auto one = mlir::RankedTensorType::get({1}, elem);
  mlir::Attribute value;
  if (llvm::isa<mlir::FloatType>(elem))
    value = b_.getFloatAttr(elem, pad_value);
  else
    value = b_.getIntegerAttr(elem, static_cast<int64_t>(pad_value));
  mlir::Value pad_const =
      mlir::tosa::ConstOp::create(b_, loc_, one, mlir::DenseElementsAttr::get(one, value));
  auto type = mlir::RankedTensorType::get(shape, elem);
  return mlir::tosa::PadOp::create(b_, loc_, type, x, ConstShape(interleaved), pad_const);
}

mlir::Value GraphImporter::Cast(mlir::Value x, mlir::Type elem) {
  if (ElemOf(x) == elem) return x;
  auto type = mlir::RankedTensorType::get(ShapeOf(x), elem);
  return mlir::tosa::CastOp::create(b_, loc_, type, x);
}

static std::vector<int64_t> BroadcastOf(mlir::Value a, mlir::Value b) {
  return *BroadcastShapes({ShapeOf(a).begin(), ShapeOf(a).end()},
                          {ShapeOf(b).begin(), ShapeOf(b).end()});
}

mlir::Value GraphImporter::Add(mlir::Value a, mlir::Value b) {
  auto type = mlir::RankedTensorType::get(BroadcastOf(a, b), ElemOf(a));
  return mlir::tosa::AddOp::create(b_, loc_, type, a, b);
}
mlir::Value GraphImporter::Sub(mlir::Value a, mlir::Value b) {
  auto type = mlir::RankedTensorType::get(BroadcastOf(a, b), ElemOf(a));
  return mlir::tosa::SubOp::create(b_, loc_, type, a, b);
}
mlir::Value GraphImporter::Mul(mlir::Value a, mlir::Value b) {
  auto type = mlir::RankedTensorType::get(BroadcastOf(a, b), ElemOf(a));
  auto shift_type = mlir::RankedTensorType::get({1}, b_.getI8Type());
  mlir::Value shift = mlir::tosa::ConstOp::create(
      b_, loc_, shift_type, mlir::DenseElementsAttr::get(shift_type, b_.getI8IntegerAttr(0)));
  return mlir::tosa::MulOp::create(b_, loc_, type, a, b, shift);
}
mlir::Value GraphImporter::Max(mlir::Value a, mlir::Value b) {
  auto type = mlir::RankedTensorType::get(BroadcastOf(a, b), ElemOf(a));
  return mlir::tosa::MaximumOp::create(b_, loc_, type, a, b);
}
mlir::Value GraphImporter::Min(mlir::Value a, mlir::Value b) {
  auto type = mlir::RankedTensorType::get(BroadcastOf(a, b), ElemOf(a));
  return mlir::tosa::MinimumOp::create(b_, loc_, type, a, b);
}
mlir::Value GraphImporter::Select(mlir::Value pred, mlir::Value a, mlir::Value b) {
  std::vector<int64_t> shape = BroadcastOf(a, b);
  shape = *BroadcastShapes(shape, {ShapeOf(pred).begin(), ShapeOf(pred).end()});
  auto type = mlir::RankedTensorType::get(shape, ElemOf(a));
  return mlir::tosa::SelectOp::create(b_, loc_, type, pred, a, b);
}
mlir::Value GraphImporter::Compare(llvm::StringRef kind, mlir::Value a, mlir::Value b) {
  auto type = mlir::RankedTensorType::get(BroadcastOf(a, b), b_.getI1Type());
  if (kind == "equal") return mlir::tosa::EqualOp::create(b_, loc_, type, a, b);
  if (kind == "greater") return mlir::tosa::GreaterOp::create(b_, loc_, type, a, b);
  return mlir::tosa::GreaterEqualOp::create(b_, loc_, type, a, b);
}

mlir::Value GraphImporter::Clamp(mlir::Value x, double lo, double hi) {
  mlir::Type elem = ElemOf(x);
  mlir::Attribute min_attr;
  mlir::Attribute max_attr;
  if (auto ft = llvm::dyn_cast<mlir::FloatType>(elem)) {
    // The verifier wants finite bounds of the element type: ±inf become its largest value.
    auto bound = [&](double v) {
      if (std::isinf(v)) return llvm::APFloat::getLargest(ft.getFloatSemantics(), v < 0);
      llvm::APFloat value(v);
      bool loses = false;
      value.convert(ft.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven, &loses);
      return value;
    };
    min_attr = b_.getFloatAttr(elem, bound(lo));
    max_attr = b_.getFloatAttr(elem, bound(hi));
  } else {
    const unsigned width = elem.getIntOrFloatBitWidth();
    const double type_min = -std::ldexp(1.0, static_cast<int>(width) - 1);
    const double type_max = std::ldexp(1.0, static_cast<int>(width) - 1) - 1;
    min_attr = b_.getIntegerAttr(elem, static_cast<int64_t>(std::max(lo, type_min)));
    max_attr = b_.getIntegerAttr(elem, static_cast<int64_t>(std::min(hi, type_max)));
  }
  return mlir::tosa::ClampOp::create(b_, loc_, x.getType(), x, min_attr, max_attr);
}

mlir::Value GraphImporter::ReduceSum(mlir::Value x, int64_t axis) {
  std::vector<int64_t> shape(ShapeOf(x).begin(), ShapeOf(x).end());
  shape[axis] = 1;
  auto type = mlir::RankedTensorType::get(shape, ElemOf(x));
  return mlir::tosa::ReduceSumOp::create(b_, loc_, type, x, static_cast<uint32_t>(axis));
}

mlir::Value GraphImporter::ReduceMax(mlir::Value x, int64_t axis) {
  std::vector<int64_t> shape(ShapeOf(x).begin(), ShapeOf(x).end());
  shape[axis] = 1;
  auto type = mlir::RankedTensorType::get(shape, ElemOf(x));
  return mlir::tosa::ReduceMaxOp::create(b_, loc_, type, x, static_cast<uint32_t>(axis));
}

mlir::Value GraphImporter::ExpandRank(mlir::Value x, int64_t rank) {
  llvm::ArrayRef<int64_t> in = ShapeOf(x);
  if (static_cast<int64_t>(in.size()) >= rank) return x;
  std::vector<int64_t> shape(rank - in.size(), 1);
  shape.insert(shape.end(), in.begin(), in.end());
  return Reshape(x, shape);
}

absl::Status GraphImporter::Elementwise(Node& node, llvm::ArrayRef<Val*> operands,
                                        DType result_dtype, const ElementwiseBuild& build,
                                        int output) {
  std::vector<int64_t> shape;
  for (Val* v : operands) {
    auto s = BroadcastShapes(shape, v->shape);
    if (!s) {
      std::vector<std::string> shapes;
      for (Val* o : operands)
        shapes.push_back(absl::StrCat("[", absl::StrJoin(o->shape, ","), "]"));
      return node.Error(
          absl::StrCat("operand shapes ", absl::StrJoin(shapes, ", "), " do not broadcast"));
    }
    shape = std::move(*s);
  }
  const int64_t rank = static_cast<int64_t>(shape.size());
  bool nhwc = false;
  if (rank == 4)
    for (Val* v : operands) nhwc |= !v->is_host() && v->layout == Layout::kNhwc;
  std::vector<mlir::Value> values;
  for (Val* v : operands) {
    std::vector<int64_t> expanded(rank - v->rank(), 1);
    expanded.insert(expanded.end(), v->shape.begin(), v->shape.end());
    if (v->is_host()) {
      HostTensor t = *v->host;
      t.shape = expanded;
      if (nhwc) t = onnx_import::Transpose(t, kToNhwc);
      values.push_back(Const(t));
    } else if (nhwc && v->layout == Layout::kNhwc) {
      values.push_back(v->value);
    } else if (nhwc) {
      values.push_back(Transpose(ExpandRank(Logical(*v), rank), kToNhwc));
    } else {
      values.push_back(ExpandRank(Logical(*v), rank));
    }
  }
  const std::vector<int64_t> physical = nhwc ? Permuted(shape, kToNhwc) : shape;
  mlir::Value result = build(TensorType(physical, result_dtype), values);
  return node.SetValue(output, result, result_dtype, shape,
                       nhwc ? Layout::kNhwc : Layout::kLogical);
}

}  // namespace kiln::compiler::onnx_import
