#include "compiler_service/import/onnx/onnx_importer.h"

#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler_service/import/onnx/graph_importer.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

namespace kiln::compiler::onnx_import {
namespace {

// kBatchAttrName of transforms/passes.h (the importer does not depend on the passes): marks the
// arguments and results whose first axis is the batch.
constexpr char kBatchAttrName[] = "kiln.batch";

using TP = onnx::TensorProto;
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 17;

const OpTable& Ops() {
  static const OpTable* table = [] {
    auto* t = new OpTable;
    AddElementwiseOps(*t);
    AddNnOps(*t);
    AddTensorOps(*t);
    AddReductionOps(*t);
    AddMatmulOps(*t);
    return t;
  }();
  return *table;
}

std::string AttrTypeName(int type) {
  return onnx::AttributeProto_AttributeType_IsValid(type)
             ? onnx::AttributeProto_AttributeType_Name(
                   static_cast<onnx::AttributeProto_AttributeType>(type))
             : absl::StrCat(type);
}

absl::Status CheckAttributes(const Node& node, const OpSpec& spec) {
  for (const onnx::AttributeProto& attr : node.proto().attribute()) {
    const AttrSpec* known = nullptr;
    for (const AttrSpec& s : spec.attrs)
      if (attr.name() == s.name) known = &s;
    if (known == nullptr)
      return node.Error(
          absl::StrCat("attribute '", attr.name(), "' is not supported by kiln's ONNX importer"));
    // Old exporters leave `type` unset; trust the field that is filled then.
    if (attr.type() != onnx::AttributeProto::UNDEFINED && attr.type() != known->type)
      return node.Error(absl::StrCat("attribute '", attr.name(), "' must be ",
                                     AttrTypeName(known->type), ", not ",
                                     AttrTypeName(attr.type())));
  }
  return absl::OkStatus();
}

// The graph input's static shape: declared dims, with dynamic ones from `options`. A dynamic
// first axis is the batch when options.batch_size is set (`batched` says so): it takes the
// batch, over a given shape's first dim too.
absl::StatusOr<std::vector<int64_t>> InputShape(const onnx::ValueInfoProto& input,
                                                const ImportOptions& options, bool& batched) {
  const auto& tensor_type = input.type().tensor_type();
  auto given = options.input_shapes.find(input.name());
  std::vector<int64_t> shape;
  std::vector<std::string> dynamic;
  batched = false;
  if (tensor_type.has_shape()) {
    for (int d = 0; d < tensor_type.shape().dim_size(); ++d) {
      const auto& dim = tensor_type.shape().dim(d);
      if (dim.has_dim_value() && dim.dim_value() >= 0) {
        shape.push_back(dim.dim_value());
      } else if (d == 0 && options.batch_size > 0) {
        shape.push_back(options.batch_size);
        batched = true;
      } else {
        shape.push_back(-1);
        dynamic.push_back(dim.has_dim_param() && !dim.dim_param().empty()
                              ? absl::StrCat(d, " ('", dim.dim_param(), "')")
                              : absl::StrCat(d));
      }
    }
  }
  if (given == options.input_shapes.end()) {
    if (!tensor_type.has_shape())
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", input.name(), "' has no declared shape; give it with --input-shape ",
          input.name(), "=D0xD1x... (config.json \"input_shapes\" in a model repository)"));
    if (!dynamic.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", input.name(), "' dim ", absl::StrJoin(dynamic, ", "), " of ",
          ShapeString(shape), " is dynamic; give its full shape with --input-shape ", input.name(),
          "=D0xD1x... (config.json \"input_shapes\" in a model repository)"));
    return shape;
  }
  std::vector<int64_t> dims = given->second;
  if (batched && !dims.empty()) dims[0] = options.batch_size;
  if (tensor_type.has_shape() && dims.size() != shape.size())
    return absl::InvalidArgumentError(absl::StrCat("input shape for '", input.name(), "' ",
                                                   ShapeString(dims), " has rank ", dims.size(),
                                                   "; the model declares ", ShapeString(shape)));
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] <= 0)
      return absl::InvalidArgumentError(absl::StrCat("input shape for '", input.name(), "' ",
                                                     ShapeString(dims), " has a dim below 1"));
    if (tensor_type.has_shape() && shape[d] >= 0 && shape[d] != dims[d])
      return absl::InvalidArgumentError(
          absl::StrCat("input shape for '", input.name(), "' ", ShapeString(dims),
                       " differs from the static dim ", d, " = ", shape[d], " the model declares"));
  }
  return dims;
}

absl::Status CheckDeclaredShape(const onnx::ValueInfoProto& info, const Val& v) {
  const auto& tensor_type = info.type().tensor_type();
  if (tensor_type.elem_type() != 0 && tensor_type.elem_type() != v.dtype)
    return absl::InvalidArgumentError(absl::StrCat("output '", info.name(), "' is declared ",
                                                   DTypeName(tensor_type.elem_type()),
                                                   " but the graph computes ", DTypeName(v.dtype)));
  if (!tensor_type.has_shape()) return absl::OkStatus();
  const auto& shape = tensor_type.shape();
  bool ok = shape.dim_size() == v.rank();
  for (int d = 0; ok && d < shape.dim_size(); ++d)
    ok = !shape.dim(d).has_dim_value() || shape.dim(d).dim_value() == v.shape[d];
  if (ok) return absl::OkStatus();
  std::vector<std::string> declared;
  for (const auto& dim : shape.dim())
    declared.push_back(dim.has_dim_value() ? absl::StrCat(dim.dim_value()) : "?");
  return absl::InvalidArgumentError(
      absl::StrCat("output '", info.name(), "' is declared [", absl::StrJoin(declared, ","),
                   "] but the graph computes ", ShapeString(v.shape)));
}

absl::StatusOr<int64_t> DefaultOpset(const onnx::ModelProto& model) {
  int64_t opset = -1;
  for (const auto& import : model.opset_import())
    if (import.domain().empty() || import.domain() == "ai.onnx") opset = import.version();
  if (opset < 0)
    return absl::InvalidArgumentError("the model imports no version of the default ONNX opset");
  if (opset < kMinOpset || opset > kMaxOpset)
    return absl::InvalidArgumentError(absl::StrCat("unknown opset ", opset,
                                                   ": kiln's ONNX importer supports opsets ",
                                                   kMinOpset, " to ", kMaxOpset));
  return opset;
}

absl::StatusOr<onnx::ModelProto> Parse(std::string_view bytes) {
  onnx::ModelProto model;
  if (bytes.empty() || bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return absl::InvalidArgumentError(
        "the input is not an ONNX model: it does not parse as an ONNX ModelProto (truncated or "
        "another format?)");
  if (!model.has_graph()) return absl::InvalidArgumentError("the ONNX model has no graph");
  return model;
}

class ModelImporter {
 public:
  ModelImporter(mlir::MLIRContext& ctx, const ImportOptions& options, int64_t opset)
      : g_(ctx, options, opset) {}

  absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> Import(const onnx::GraphProto& graph);

 private:
  absl::Status ImportNode(const onnx::NodeProto& proto);
  GraphImporter g_;
};

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> ModelImporter::Import(
    const onnx::GraphProto& graph) {
  mlir::MLIRContext& ctx = g_.ctx();
  const ImportOptions& options = g_.options();
  mlir::OpBuilder& b = g_.b();
  const auto file_loc = [&](int line) {
    return mlir::FileLineColLoc::get(&ctx, options.source_name, line, 0);
  };
  mlir::OwningOpRef<mlir::ModuleOp> module(mlir::ModuleOp::create(file_loc(0)));

  // Initializers are constants, also when an old exporter lists them as graph inputs too.
  std::unordered_set<std::string> initializers;
  for (const TP& init : graph.initializer()) {
    auto t = FromTensorProto(init, options.external_data_dir);
    if (!t.ok()) return t.status();
    Val v;
    v.dtype = t->dtype;
    v.shape = t->shape;
    v.host = std::make_shared<const HostTensor>(std::move(*t));
    g_.values()[init.name()] = std::move(v);
    initializers.insert(init.name());
  }
  if (graph.sparse_initializer_size() > 0)
    return absl::InvalidArgumentError("sparse initializers are not supported");

  std::vector<const onnx::ValueInfoProto*> inputs;
  std::unordered_set<std::string> input_names;
  for (const auto& input : graph.input())
    if (!initializers.count(input.name())) {
      inputs.push_back(&input);
      input_names.insert(input.name());
    }
  for (const auto& [name, dims] : options.input_shapes)
    if (!input_names.count(name)) {
      std::vector<std::string> names;
      names.reserve(inputs.size());
      for (const auto* in : inputs) names.push_back(absl::StrCat("'", in->name(), "'"));
      return absl::InvalidArgumentError(absl::StrCat(
          "an input shape is given for '", name,
          "', which is not an input of the graph (inputs: ", absl::StrJoin(names, ", "), ")"));
    }

  std::vector<mlir::Type> arg_types;
  std::vector<std::vector<int64_t>> arg_shapes;
  std::vector<bool> arg_batched;
  for (const auto* input : inputs) {
    if (!input->type().has_tensor_type())
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input->name(),
                       "' is not a tensor (sequences, maps and optionals "
                       "are not supported)"));
    const DType dtype = input->type().tensor_type().elem_type();
    if (!IsSupportedType(dtype))
      return absl::InvalidArgumentError(absl::StrCat("input '", input->name(),
                                                     "' has element type ", DTypeName(dtype),
                                                     ", which kiln does not support"));
    bool batched = false;
    auto shape = InputShape(*input, options, batched);
    if (!shape.ok()) return shape.status();
    arg_batched.push_back(batched);
    if (ElementCount(*shape) < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input->name(), "' shape ", ShapeString(*shape), " is too large"));
    arg_types.push_back(g_.TensorType(*shape, dtype));
    arg_shapes.push_back(*shape);
  }

  if (options.batch_size > 0 &&
      std::find(arg_batched.begin(), arg_batched.end(), true) == arg_batched.end())
    return absl::InvalidArgumentError(
        absl::StrCat("batch size ", options.batch_size,
                     " given, but no graph input has a dynamic first (batch) axis"));

  b.setInsertionPointToEnd(module->getBody());
  auto func = mlir::func::FuncOp::create(b, file_loc(0), "main", b.getFunctionType(arg_types, {}));
  mlir::Block* entry = func.addEntryBlock();
  for (size_t k = 0; k < inputs.size(); ++k) {
    func.setArgAttr(k, "kiln.name", b.getStringAttr(inputs[k]->name()));
    if (arg_batched[k]) func.setArgAttr(k, kBatchAttrName, b.getUnitAttr());
    Val v;
    v.dtype = inputs[k]->type().tensor_type().elem_type();
    v.shape = arg_shapes[k];
    v.value = entry->getArgument(k);
    g_.values()[inputs[k]->name()] = std::move(v);
  }
  b.setInsertionPointToEnd(entry);

  // Liveness: only nodes that reach a graph output are imported (drops shape-only chains and
  // unused outputs such as BatchNormalization's running statistics).
  if (graph.output_size() == 0) return absl::InvalidArgumentError("the graph has no outputs");
  std::unordered_set<std::string> needed;
  for (const auto& output : graph.output()) {
    needed.insert(output.name());
    ++g_.use_counts()[output.name()];
  }
  std::vector<bool> live(graph.node_size(), false);
  for (int n = graph.node_size() - 1; n >= 0; --n) {
    const onnx::NodeProto& node = graph.node(n);
    for (const std::string& out : node.output()) live[n] = live[n] || needed.count(out);
    if (!live[n]) continue;
    for (const std::string& in : node.input())
      if (!in.empty()) {
        needed.insert(in);
        ++g_.use_counts()[in];
      }
  }
  for (int n = 0; n < graph.node_size(); ++n) {
    if (!live[n]) continue;
    const onnx::NodeProto& node = graph.node(n);
    const std::string name =
        node.name().empty() ? absl::StrCat(node.op_type(), "_", n) : node.name();
    g_.set_loc(mlir::NameLoc::get(b.getStringAttr(name), file_loc(n + 1)));
    if (auto s = ImportNode(node); !s.ok()) return s;
  }

  std::vector<mlir::Value> results;
  std::vector<mlir::Type> result_types;
  g_.set_loc(file_loc(graph.node_size() + 1));
  for (const auto& output : graph.output()) {
    auto it = g_.values().find(output.name());
    if (it == g_.values().end())
      return absl::InvalidArgumentError(
          absl::StrCat("graph output '", output.name(), "' is not produced by any node"));
    Val& v = it->second;
    if (auto s = CheckDeclaredShape(output, v); !s.ok()) return s;
    mlir::Value value = g_.Logical(v);
    results.push_back(value);
    result_types.push_back(value.getType());
  }
  mlir::func::ReturnOp::create(b, g_.loc(), results);
  func.setFunctionType(b.getFunctionType(arg_types, result_types));
  for (int k = 0; k < graph.output_size(); ++k) {
    func.setResultAttr(k, "kiln.name", b.getStringAttr(graph.output(k).name()));
    // An output declared with a dynamic first axis is the batch's; it must come out so.
    const auto& declared = graph.output(k).type().tensor_type();
    if (options.batch_size <= 0 || !declared.has_shape() || declared.shape().dim_size() == 0 ||
        declared.shape().dim(0).has_dim_value())
      continue;
    auto type = llvm::cast<mlir::RankedTensorType>(result_types[k]);
    if (type.getDimSize(0) != options.batch_size)
      return absl::InvalidArgumentError(
          absl::StrCat("output '", graph.output(k).name(), "' has a dynamic first axis, but it is ",
                       type.getDimSize(0), " for batch ", options.batch_size,
                       ": a dynamic first axis of an output must be the batch"));
    func.setResultAttr(k, kBatchAttrName, b.getUnitAttr());
  }

  std::string errors;
  {
    mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic& diag) {
      absl::StrAppend(&errors, errors.empty() ? "" : "\n", diag.str());
      return mlir::success();
    });
    if (mlir::failed(mlir::verify(*module)))
      return absl::InternalError(absl::StrCat(
          "kiln's ONNX importer built IR that does not verify (a bug in kiln): ", errors));
  }
  return module;
}

absl::Status ModelImporter::ImportNode(const onnx::NodeProto& proto) {
  Node node(g_, proto);
  if (!proto.domain().empty() && proto.domain() != "ai.onnx")
    return node.Error(absl::StrCat("op domain '", proto.domain(),
                                   "' is not supported; kiln imports the default ONNX domain"));
  const auto& ops = Ops();
  auto it = ops.find(proto.op_type());
  if (it == ops.end())
    return node.Error(
        absl::StrCat("op type '", proto.op_type(), "' is not supported by kiln's ONNX importer"));
  if (auto s = CheckAttributes(node, it->second); !s.ok()) return s;
  for (int i = 0; i < proto.input_size(); ++i)
    if (!proto.input(i).empty() && !g_.values().count(proto.input(i)))
      return node.Error(absl::StrCat("input '", proto.input(i), "' is used before it is defined"));
  if (auto s = it->second.handler(node); !s.ok()) return s;
  for (int i = 0; i < proto.output_size(); ++i)
    if (node.OutputUsed(i) && !g_.values().count(proto.output(i)))
      return node.Error(absl::StrCat("output ", i, " ('", proto.output(i),
                                     "') is used but kiln does not compute it"));
  return absl::OkStatus();
}

}  // namespace

bool LooksLikeOnnx(std::string_view bytes) {
  // Every exporter writes ir_version (field 1, varint: tag 0x08) first.
  return !bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x08;
}

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> ImportOnnxModel(std::string_view bytes,
                                                                  const ImportOptions& options,
                                                                  mlir::MLIRContext& ctx) {
  auto model = Parse(bytes);
  if (!model.ok()) return model.status();
  auto opset = DefaultOpset(*model);
  if (!opset.ok()) return opset.status();
  // linalg: grouped convolutions, which TOSA has no op for.
  ctx.loadDialect<mlir::func::FuncDialect, mlir::tosa::TosaDialect, mlir::tensor::TensorDialect,
                  mlir::arith::ArithDialect, mlir::linalg::LinalgDialect>();
  ModelImporter importer(ctx, options, *opset);
  return importer.Import(model->graph());
}

absl::StatusOr<std::string> InlineExternalData(std::string_view bytes, const std::string& dir) {
  auto model = Parse(bytes);
  if (!model.ok()) return model.status();
  bool changed = false;
  auto inline_tensor = [&](TP& t) -> absl::Status {
    if (t.data_location() != TP::EXTERNAL) return absl::OkStatus();
    auto raw = ReadExternalData(t, dir);
    if (!raw.ok()) return raw.status();
    t.set_raw_data(std::move(*raw));
    t.clear_external_data();
    t.set_data_location(TP::DEFAULT);
    changed = true;
    return absl::OkStatus();
  };
  for (TP& t : *model->mutable_graph()->mutable_initializer())
    if (auto s = inline_tensor(t); !s.ok()) return s;
  for (auto& node : *model->mutable_graph()->mutable_node())
    for (auto& attr : *node.mutable_attribute())
      if (attr.has_t())
        if (auto s = inline_tensor(*attr.mutable_t()); !s.ok()) return s;
  if (!changed) return std::string(bytes);
  std::string out;
  if (!model->SerializeToString(&out))
    return absl::InvalidArgumentError(
        "the model with its external data inlined exceeds protobuf's 2 GiB limit");
  return out;
}

}  // namespace kiln::compiler::onnx_import
