// Internals of the ONNX importer shared by the op files (ops_*.cc): the value table, layouts,
// node access with validated attributes, and TOSA building helpers.
#ifndef KILN_COMPILER_SERVICE_IMPORT_ONNX_GRAPH_IMPORTER_H_
#define KILN_COMPILER_SERVICE_IMPORT_ONNX_GRAPH_IMPORTER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compiler_service/import/onnx/host_tensor.h"
#include "compiler_service/import/onnx/onnx_importer.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Builders.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, then includes onnx-ml.pb.h
#include "runtime_service/base/status_macros.h"

namespace kiln::compiler::onnx_import {

// Rank-4 image tensors are NCHW in ONNX and NHWC in TOSA's convolutions and pools. A value
// produced by one of those stays NHWC (kNhwc: the IR value holds the logical NCHW tensor
// permuted by {0,2,3,1}) through elementwise ops until an op needs the logical layout, so a
// CNN transposes once at each edge instead of around every convolution.
enum class Layout { kLogical, kNhwc };

struct Val {
  DType dtype = onnx::TensorProto_DataType_FLOAT;
  std::vector<int64_t> shape;              // logical (ONNX) shape, always static
  std::shared_ptr<const HostTensor> host;  // known at import time (then `value` is lazy)
  mlir::Value value;                       // the IR value, in `layout`
  Layout layout = Layout::kLogical;
  // Conversions made so far, so each value is transposed or materialized at most once.
  mlir::Value logical_cache;
  mlir::Value nhwc_cache;

  bool is_host() const { return host != nullptr; }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
};

class GraphImporter;

// One node being imported: its inputs, outputs and (type-checked) attributes.
class Node {
 public:
  Node(GraphImporter& g, const onnx::NodeProto& proto) : g_(g), proto_(proto) {}

  const std::string& op() const { return proto_.op_type(); }
  std::string Where() const;  // "node 'conv1' (Conv)"
  absl::Status Error(absl::string_view message) const;

  int num_inputs() const { return proto_.input_size(); }
  bool Has(int i) const { return i < proto_.input_size() && !proto_.input(i).empty(); }
  absl::StatusOr<Val*> In(int i);
  // Input `i`, which must be known at import time (`what` names it in the error).
  absl::StatusOr<const HostTensor*> ConstIn(int i, absl::string_view what);

  int num_outputs() const { return proto_.output_size(); }
  bool OutputUsed(int i) const;
  absl::Status Set(int i, Val value);
  absl::Status SetHost(int i, HostTensor t);
  // A runtime result: `value` holds `shape` (logical) in `layout`.
  absl::Status SetValue(int i, mlir::Value value, DType dtype, std::vector<int64_t> shape,
                        Layout layout = Layout::kLogical);

  bool HasAttr(const std::string& name) const;
  int64_t Int(const std::string& name, int64_t fallback) const;
  float Float(const std::string& name, float fallback) const;
  std::string Str(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> Ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> Floats(const std::string& name) const;
  const onnx::TensorProto* Tensor(const std::string& name) const;

  GraphImporter& g() { return g_; }
  const onnx::NodeProto& proto() const { return proto_; }

 private:
  const onnx::AttributeProto* Attr(const std::string& name) const;
  GraphImporter& g_;
  const onnx::NodeProto& proto_;
};

using OpHandler = std::function<absl::Status(Node&)>;
struct AttrSpec {
  const char* name;
  onnx::AttributeProto_AttributeType type;
};
struct OpSpec {
  OpHandler handler;
  std::vector<AttrSpec> attrs;  // every attribute the handler understands
};
using OpTable = std::unordered_map<std::string, OpSpec>;

// Each ops_*.cc adds its ops.
void AddElementwiseOps(OpTable& table);
void AddNnOps(OpTable& table);
void AddTensorOps(OpTable& table);
void AddReductionOps(OpTable& table);
void AddMatmulOps(OpTable& table);

// Numpy broadcast of shapes; nullopt when they are incompatible.
std::optional<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                                    const std::vector<int64_t>& b);
// "[1,3,224,224]", for messages.
std::string ShapeString(const std::vector<int64_t>& shape);
// Axis in [-rank, rank) → [0, rank); nullopt when out of range.
std::optional<int64_t> NormalizeAxis(int64_t axis, int64_t rank);

class GraphImporter {
 public:
  GraphImporter(mlir::MLIRContext& ctx, const ImportOptions& options, int64_t opset)
      : ctx_(ctx), b_(&ctx), loc_(mlir::UnknownLoc::get(&ctx)), options_(options), opset_(opset) {}

  mlir::MLIRContext& ctx() { return ctx_; }
  mlir::OpBuilder& b() { return b_; }
  mlir::Location loc() const { return loc_; }
  void set_loc(mlir::Location loc) { loc_ = loc; }
  int64_t opset() const { return opset_; }
  const ImportOptions& options() const { return options_; }
  std::unordered_map<std::string, Val>& values() { return values_; }
  std::unordered_map<std::string, int>& use_counts() { return use_counts_; }

  mlir::Type Elem(DType dtype) { return ElementType(ctx_, dtype); }
  mlir::RankedTensorType TensorType(llvm::ArrayRef<int64_t> shape, DType dtype) {
    return mlir::RankedTensorType::get(shape, Elem(dtype));
  }
  // Shape of `v` as the IR holds it (`shape`, or NHWC-permuted).
  static std::vector<int64_t> PhysicalShape(const Val& v);

  // ---- IR values of imported values.
  mlir::Value Const(const HostTensor& t) { return Const(t, t.shape); }
  mlir::Value Const(const HostTensor& t, const std::vector<int64_t>& shape);
  // A constant of `dtype` holding `value`, shaped [1]*rank (broadcasts against anything).
  mlir::Value Scalar(double value, DType dtype, int64_t rank);
  mlir::Value Logical(Val& v);  // the logical layout
  mlir::Value Nhwc(Val& v);     // rank 4 only: NHWC

  // ---- TOSA helpers: every result type static.
  mlir::Value ConstShape(llvm::ArrayRef<int64_t> dims);
  mlir::Value Reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape);
  mlir::Value Transpose(mlir::Value x, llvm::ArrayRef<int64_t> perm);
  mlir::Value Slice(mlir::Value x, llvm::ArrayRef<int64_t> start, llvm::ArrayRef<int64_t> size);
  mlir::Value Concat(llvm::ArrayRef<mlir::Value> parts, int64_t axis);
  mlir::Value Tile(mlir::Value x, llvm::ArrayRef<int64_t> multiples);
  mlir::Value Pad(mlir::Value x, llvm::ArrayRef<int64_t> interleaved, double pad_value);
  mlir::Value Cast(mlir::Value x, mlir::Type elem);
  // Elementwise TOSA ops over equal-rank operands; result shape = broadcast of theirs.
  mlir::Value Add(mlir::Value a, mlir::Value b);
  mlir::Value Sub(mlir::Value a, mlir::Value b);
  mlir::Value Mul(mlir::Value a, mlir::Value b);
  mlir::Value Max(mlir::Value a, mlir::Value b);
  mlir::Value Min(mlir::Value a, mlir::Value b);
  mlir::Value Select(mlir::Value pred, mlir::Value a, mlir::Value b);
  mlir::Value Compare(llvm::StringRef kind, mlir::Value a, mlir::Value b);  // equal/greater/ge
  mlir::Value Clamp(mlir::Value x, double lo, double hi);
  mlir::Value ReduceSum(mlir::Value x, int64_t axis);
  mlir::Value ReduceMax(mlir::Value x, int64_t axis);
  template <typename OpT>
  mlir::Value Unary(mlir::Value x) {
    return OpT::create(b_, loc_, x.getType(), x);
  }
  mlir::Value Reciprocal(mlir::Value x) { return Unary<mlir::tosa::ReciprocalOp>(x); }
  mlir::Value Exp(mlir::Value x) { return Unary<mlir::tosa::ExpOp>(x); }
  mlir::Value Log(mlir::Value x) { return Unary<mlir::tosa::LogOp>(x); }
  // `x` reshaped to `rank` with leading 1s.
  mlir::Value ExpandRank(mlir::Value x, int64_t rank);

  // Elementwise op over imported values with numpy broadcasting. Operands are brought to a
  // common rank and layout (NHWC when an image operand already is and the result is rank 4);
  // `build` gets them and the result type.
  using ElementwiseBuild =
      std::function<mlir::Value(mlir::RankedTensorType, llvm::ArrayRef<mlir::Value>)>;
  absl::Status Elementwise(Node& node, llvm::ArrayRef<Val*> operands, DType result_dtype,
                           const ElementwiseBuild& build, int output = 0);

 private:
  mlir::MLIRContext& ctx_;
  mlir::OpBuilder b_;
  mlir::Location loc_;
  const ImportOptions& options_;
  int64_t opset_;
  std::unordered_map<std::string, Val> values_;
  std::unordered_map<std::string, int> use_counts_;
};

}  // namespace kiln::compiler::onnx_import

#endif  // KILN_COMPILER_SERVICE_IMPORT_ONNX_GRAPH_IMPORTER_H_
