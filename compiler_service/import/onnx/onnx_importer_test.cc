// The importer's contract in C++: errors users read (exact text), shapes from the request,
// external data confinement, host folding and the NHWC layout plan (counted in the IR).
#include "compiler_service/import/onnx/onnx_importer.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "onnx/onnx_pb.h"

namespace kiln::compiler::onnx_import {
namespace {

using ::testing::HasSubstr;
using TP = onnx::TensorProto;

class OnnxImporterTest : public ::testing::Test {
 protected:
  OnnxImporterTest() {
    model_.set_ir_version(8);
    auto* opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(13);
    graph_ = model_.mutable_graph();
    graph_->set_name("g");
  }

  void Input(const std::string& name, const std::vector<int64_t>& dims, int dtype = TP::FLOAT,
             const std::string& dynamic = "") {
    auto* in = graph_->add_input();
    in->set_name(name);
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(dtype);
    for (int64_t d : dims) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d < 0)
        dim->set_dim_param(dynamic);
      else
        dim->set_dim_value(d);
    }
  }
  void Output(const std::string& name) { graph_->add_output()->set_name(name); }
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs, const std::string& name) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
  }
  static void IntsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  TP* Init(const std::string& name, const std::vector<int64_t>& dims, float value) {
    TP* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(TP::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t k = 0; k < n; ++k) t->add_float_data(value);
    return t;
  }
  TP* InitInts(const std::string& name, const std::vector<int64_t>& values) {
    TP* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(TP::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return t;
  }

  absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> Import(const ImportOptions& options = {}) {
    std::string bytes;
    model_.SerializeToString(&bytes);
    return ImportOnnxModel(bytes, options, ctx_);
  }
  std::string ImportError(const ImportOptions& options = {}) {
    auto r = Import(options);
    EXPECT_FALSE(r.ok());
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    return std::string(r.status().message());
  }
  template <typename OpT>
  static int Count(mlir::ModuleOp module) {
    int n = 0;
    module.walk([&](OpT) { ++n; });
    return n;
  }

  mlir::MLIRContext ctx_;
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
};

TEST_F(OnnxImporterTest, NotOnnxAndTruncated) {
  ImportOptions options;
  mlir::MLIRContext ctx;
  auto r = ImportOnnxModel("func.func @main() { return }", options, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("the input is not an ONNX model"));
  Input("x", {2});
  Node("Relu", {"x"}, {"y"}, "relu");
  Output("y");
  std::string bytes;
  model_.SerializeToString(&bytes);
  auto cut = ImportOnnxModel(std::string_view(bytes).substr(0, bytes.size() - 3), options, ctx);
  ASSERT_FALSE(cut.ok());
  EXPECT_THAT(cut.status().message(), HasSubstr("does not parse as an ONNX ModelProto"));
  EXPECT_TRUE(LooksLikeOnnx(bytes));
  EXPECT_FALSE(LooksLikeOnnx("func.func"));
}

TEST_F(OnnxImporterTest, UnknownOpset) {
  model_.mutable_opset_import(0)->set_version(99);
  Input("x", {2});
  Output("x");
  EXPECT_EQ(ImportError(), "unknown opset 99: kiln's ONNX importer supports opsets 7 to 17");
}

TEST_F(OnnxImporterTest, UnsupportedOpNamesTypeAndNode) {
  Input("x", {2});
  Node("NonMaxSuppression", {"x"}, {"y"}, "nms_1");
  Output("y");
  EXPECT_EQ(ImportError(),
            "node 'nms_1' (NonMaxSuppression): op type 'NonMaxSuppression' is not supported by "
            "kiln's ONNX importer");
}

TEST_F(OnnxImporterTest, UnsupportedAttributeAndValue) {
  Input("x", {1, 1, 4, 4});
  auto* n = Node("Relu", {"x"}, {"y"}, "r");
  auto* a = n->add_attribute();
  a->set_name("beta");
  a->set_type(onnx::AttributeProto::FLOAT);
  Output("y");
  EXPECT_EQ(ImportError(),
            "node 'r' (Relu): attribute 'beta' is not supported by kiln's ONNX importer");
  n->clear_attribute();
  n->set_op_type("Resize");
  n->set_name("up");
  n->add_input("");
  n->add_input("scales");
  auto* mode = n->add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("cubic");
  Init("scales", {4}, 2.0F);
  EXPECT_EQ(ImportError(),
            "node 'up' (Resize): attribute 'mode': 'cubic' is not supported (nearest and linear "
            "are)");
}

TEST_F(OnnxImporterTest, DynamicDimNeedsAShape) {
  Input("x", {-1, 3}, TP::FLOAT, "batch");
  Node("Relu", {"x"}, {"y"}, "r");
  Output("y");
  EXPECT_EQ(ImportError(),
            "input 'x' dim 0 ('batch') of [-1,3] is dynamic; give its full shape with "
            "--input-shape x=D0xD1x... (config.json \"input_shapes\" in a model repository)");
  ImportOptions options;
  options.input_shapes["x"] = {5, 3};
  auto module = Import(options);
  ASSERT_TRUE(module.ok()) << module.status();
  auto func = *(*module)->getOps<mlir::func::FuncOp>().begin();
  EXPECT_EQ(func.getFunctionType().getInput(0),
            mlir::RankedTensorType::get({5, 3}, mlir::Float32Type::get(&ctx_)));
  options.input_shapes["x"] = {5, 4};
  EXPECT_THAT(ImportError(options), HasSubstr("differs from the static dim 1 = 3"));
  options.input_shapes = {{"z", {1}}};
  EXPECT_THAT(ImportError(options),
              HasSubstr("an input shape is given for 'z', which is not an input of the graph"));
}

TEST_F(OnnxImporterTest, ShapeSubgraphFoldsToAStaticReshape) {
  // torch's dynamic-batch Reshape: Shape → Gather(0) → Unsqueeze → Concat(-1) → Reshape.
  Input("x", {-1, 4, 6}, TP::FLOAT, "batch");
  Node("Shape", {"x"}, {"s"}, "shape");
  InitInts("zero", {0});
  Node("Gather", {"s", "zero"}, {"b"}, "gather");
  InitInts("minus_one", {-1});
  Node("Concat", {"b", "minus_one"}, {"spec"}, "concat");
  IntsAttr(graph_->mutable_node(2), "axis", {});
  graph_->mutable_node(2)->mutable_attribute(0)->set_type(onnx::AttributeProto::INT);
  graph_->mutable_node(2)->mutable_attribute(0)->set_i(0);
  Node("Reshape", {"x", "spec"}, {"y"}, "reshape");
  Output("y");
  ImportOptions options;
  options.input_shapes["x"] = {3, 4, 6};
  auto module = Import(options);
  ASSERT_TRUE(module.ok()) << module.status();
  auto func = *(*module)->getOps<mlir::func::FuncOp>().begin();
  EXPECT_EQ(func.getFunctionType().getResult(0),
            mlir::RankedTensorType::get({3, 24}, mlir::Float32Type::get(&ctx_)));
  EXPECT_EQ(Count<mlir::tosa::ReshapeOp>(**module), 1);
  EXPECT_EQ(Count<mlir::tosa::GatherOp>(**module), 0);
  EXPECT_EQ(Count<mlir::tosa::ConcatOp>(**module), 0);
}

TEST_F(OnnxImporterTest, ConvChainTransposesOnceAtEachEdge) {
  Input("x", {1, 3, 8, 8});
  Init("w1", {4, 3, 3, 3}, 0.1F);
  Init("w2", {4, 4, 1, 1}, 0.2F);
  Init("bias", {1, 4, 1, 1}, 0.5F);
  auto* c1 = Node("Conv", {"x", "w1"}, {"c1"}, "conv1");
  IntsAttr(c1, "pads", {1, 1, 1, 1});
  Node("Relu", {"c1"}, {"r1"}, "relu1");
  Node("Add", {"r1", "bias"}, {"a1"}, "add1");
  Node("Conv", {"a1", "w2"}, {"c2"}, "conv2");
  Output("c2");
  auto module = Import();
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_EQ(Count<mlir::tosa::Conv2DOp>(**module), 2);
  EXPECT_EQ(Count<mlir::tosa::TransposeOp>(**module), 2);  // NCHW→NHWC in, NHWC→NCHW out
}

TEST_F(OnnxImporterTest, StrideThatDoesNotDivideCropsTheInput) {
  // 8 + 1 + 1 - 3 = 7 is not a multiple of 2: ONNX floors to 4 rows; TOSA wants exact division.
  Input("x", {1, 1, 8, 8});
  Init("w", {1, 1, 3, 3}, 1.0F);
  auto* c = Node("Conv", {"x", "w"}, {"y"}, "conv");
  IntsAttr(c, "pads", {1, 1, 1, 1});
  IntsAttr(c, "strides", {2, 2});
  Output("y");
  auto module = Import();
  ASSERT_TRUE(module.ok()) << module.status();
  mlir::tosa::Conv2DOp conv;
  (*module)->walk([&](mlir::tosa::Conv2DOp op) { conv = op; });
  ASSERT_TRUE(conv);
  EXPECT_EQ(llvm::cast<mlir::RankedTensorType>(conv.getType()).getShape(),
            llvm::ArrayRef<int64_t>({1, 4, 4, 1}));
  EXPECT_EQ(conv.getPad(), llvm::ArrayRef<int64_t>({1, 0, 1, 0}));
}

TEST_F(OnnxImporterTest, ExternalDataStaysInsideTheModelDirectory) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kiln_onnx_ext_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "weights.bin", std::ios::binary);
    const float values[4] = {1, 2, 3, 4};
    out.write(reinterpret_cast<const char*>(values), sizeof(values));
  }
  Input("x", {4});
  TP* w = graph_->add_initializer();
  w->set_name("w");
  w->set_data_type(TP::FLOAT);
  w->add_dims(4);
  w->set_data_location(TP::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value("weights.bin");
  Node("Add", {"x", "w"}, {"y"}, "add");
  Output("y");
  EXPECT_THAT(ImportError(), HasSubstr("tensor 'w' keeps its data in an external file"));
  ImportOptions options;
  options.external_data_dir = dir.string();
  ASSERT_TRUE(Import(options).ok());
  std::string bytes;
  model_.SerializeToString(&bytes);
  auto inlined = InlineExternalData(bytes, dir.string());
  ASSERT_TRUE(inlined.ok()) << inlined.status();
  onnx::ModelProto back;
  ASSERT_TRUE(back.ParseFromString(*inlined));
  EXPECT_EQ(back.graph().initializer(0).raw_data().size(), 16U);
  EXPECT_TRUE(ImportOnnxModel(*inlined, {}, ctx_).ok());
  loc->set_value("../escape.bin");
  EXPECT_THAT(ImportError(options),
              HasSubstr("external data location '../escape.bin' leaves the model's directory"));
  loc->set_value("/etc/passwd");
  EXPECT_THAT(ImportError(options), HasSubstr("must be relative"));
  std::filesystem::remove_all(dir);
}

TEST_F(OnnxImporterTest, UseBeforeDefinitionAndMissingOutput) {
  Input("x", {2});
  Node("Relu", {"later"}, {"y"}, "early");
  Node("Relu", {"x"}, {"later"}, "late");
  Output("y");
  EXPECT_EQ(ImportError(), "node 'early' (Relu): input 'later' is used before it is defined");
  graph_->clear_node();
  EXPECT_EQ(ImportError(), "graph output 'y' is not produced by any node");
}

TEST_F(OnnxImporterTest, WrongInitializerSize) {
  Input("x", {4});
  TP* w = Init("w", {4}, 1.0F);
  w->add_float_data(5.0F);
  Node("Add", {"x", "w"}, {"y"}, "add");
  Output("y");
  EXPECT_EQ(ImportError(), "tensor 'w' has 5 values or bytes for 4 elements (16 bytes)");
  // Dims of 2^40 elements with no data behind them: an error, not a 8 TB allocation.
  w->clear_float_data();
  w->clear_dims();
  w->add_dims(int64_t{1} << 20);
  w->add_dims(int64_t{1} << 20);
  w->set_raw_data("abcd");
  EXPECT_EQ(ImportError(),
            "tensor 'w' has 4 values or bytes for 1099511627776 elements (4398046511104 bytes)");
}

}  // namespace
}  // namespace kiln::compiler::onnx_import
