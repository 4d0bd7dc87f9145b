#include "client_cli/output.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/tensor/tensor_spec.h"

namespace kiln::cli {
namespace {

using ::testing::HasSubstr;

void SetArg(mv1::ArgumentDef* arg, const std::string& name, mv1::DataType dtype,
            std::vector<int64_t> shape) {
  arg->set_name(name);
  arg->mutable_type()->set_dtype(dtype);
  for (int64_t dim : shape) arg->mutable_type()->add_shape(dim);
}

cv1::CompileResponse SampleCompile() {
  cv1::CompileResponse response;
  response.set_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  response.set_cache_hit(false);
  response.set_module_size(12345);
  auto* timing = response.add_timings();
  timing->set_phase("parse");
  timing->set_milliseconds(1.5);
  timing = response.add_timings();
  timing->set_phase("codegen");
  timing->set_milliseconds(20.25);
  auto* function = response.add_functions();
  function->set_name("main");
  SetArg(function->add_inputs(), "x", mv1::DATA_TYPE_F32, {1, 64});
  SetArg(function->add_outputs(), "result0", mv1::DATA_TYPE_F32, {1, 10});
  function->set_execution_model(mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
  function->set_execution_model_reason("1 dispatch, 1.3 KFLOP");
  auto* diagnostic = response.add_diagnostics();
  diagnostic->set_severity(cv1::SEVERITY_WARNING);
  diagnostic->set_location("model.mlir:3:5");
  diagnostic->set_message("unused value");
  return response;
}

TEST(OutputTest, CompileText) {
  EXPECT_EQ(CompileText(SampleCompile()),
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
            "  cache: miss\n"
            "  module size: 12345 bytes\n"
            "  timings: parse 1.50 ms, codegen 20.2 ms (total 21.8 ms)\n"
            "  main(x: f32[1x64]) -> (result0: f32[1x10])\n"
            "    execution model: inline-dynamic (1 dispatch, 1.3 KFLOP)\n");
  EXPECT_EQ(DiagnosticsText(SampleCompile()), "model.mlir:3:5: warning: unused value\n");
}

TEST(OutputTest, CompileJson) {
  nlohmann::json json = CompileJson(SampleCompile());
  EXPECT_EQ(json["digest"], SampleCompile().digest());
  EXPECT_EQ(json["cache_hit"], false);
  EXPECT_EQ(json["module_size"], 12345);
  EXPECT_EQ(json["timings"]["codegen"], 20.25);
  EXPECT_EQ(json["functions"][0]["name"], "main");
  EXPECT_EQ(json["functions"][0]["inputs"][0],
            nlohmann::json({{"name", "x"}, {"dtype", "f32"}, {"shape", {1, 64}}}));
  EXPECT_EQ(json["functions"][0]["execution_model"], "inline-dynamic");
  EXPECT_EQ(json["functions"][0]["execution_model_reason"], "1 dispatch, 1.3 KFLOP");
  EXPECT_EQ(json["diagnostics"][0],
            nlohmann::json({{"severity", "warning"},
                            {"location", "model.mlir:3:5"},
                            {"message", "unused value"}}));
}

rv1::ModuleInfo SampleModule(const std::string& name) {
  rv1::ModuleInfo module;
  module.set_name(name);
  module.set_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  module.set_invocation_count(7);
  auto* function = module.add_functions();
  function->set_name("main");
  SetArg(function->add_inputs(), "x", mv1::DATA_TYPE_F16, {});
  SetArg(function->add_outputs(), "y", mv1::DATA_TYPE_I8, {3});
  function->set_execution_model(mv1::EXECUTION_MODEL_ASYNC);
  return module;
}

TEST(OutputTest, LoadAndList) {
  rv1::LoadModuleResponse load;
  *load.mutable_module() = SampleModule("mlp");
  load.set_load_milliseconds(1.234);
  EXPECT_EQ(LoadText(load),
            "loaded mlp (sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef) "
            "in 1.23 ms\n"
            "  main(x: f16[]) -> (y: i8[3]) [async]\n");
  nlohmann::json json = LoadJson(load);
  EXPECT_EQ(json["name"], "mlp");
  EXPECT_EQ(json["invocation_count"], 7);
  EXPECT_EQ(json["load_ms"], 1.234);
  EXPECT_EQ(json["functions"][0]["inputs"][0]["shape"], nlohmann::json::array());

  rv1::ListModulesResponse list;
  EXPECT_EQ(ListText(list), "no modules loaded\n");
  EXPECT_EQ(ListJson(list).dump(), R"({"modules":[]})");
  *list.add_modules() = SampleModule("mlp");
  *list.add_modules() = SampleModule("a-longer-name");
  EXPECT_EQ(ListText(list),
            "NAME           DIGEST               CALLS  FUNCTIONS\n"
            "mlp            sha256:0123456789ab  7      main\n"
            "a-longer-name  sha256:0123456789ab  7      main\n");
  EXPECT_EQ(ListJson(list)["modules"][1]["name"], "a-longer-name");
}

TEST(OutputTest, InvokeTextAndJson) {
  rv1::InvokeResponse response;
  response.set_request_id("r1");
  response.set_compute_milliseconds(0.5);
  *response.add_outputs() = ToProto(*ParseTensorSpec("result0=1x3xf32=0.1,-1.25,inf"));
  *response.add_outputs() = ToProto(*ParseTensorSpec("h=2xf16=0.1,nan"));
  *response.add_outputs() = ToProto(*ParseTensorSpec("b=2xbool=true,false"));
  *response.add_outputs() = ToProto(*ParseTensorSpec("u=u64=18446744073709551615"));
  *response.add_outputs() = ToProto(*ParseTensorSpec("i=2xi8=-5,7"));
  EXPECT_EQ(InvokeText(response),
            "result0: f32[1x3] = [0.1, -1.25, inf]\n"
            "h: f16[2] = [0.1, nan]\n"
            "b: bool[2] = [true, false]\n"
            "u: u64[] = 18446744073709551615\n"
            "i: i8[2] = [-5, 7]\n");
  EXPECT_EQ(InvokeJson(response).dump(),
            R"({"compute_ms":0.5,"outputs":[)"
            R"({"data":[0.1,-1.25,null],"dtype":"f32","name":"result0","shape":[1,3]},)"
            R"({"data":[0.1,null],"dtype":"f16","name":"h","shape":[2]},)"
            R"({"data":[true,false],"dtype":"bool","name":"b","shape":[2]},)"
            R"({"data":[18446744073709551615],"dtype":"u64","name":"u","shape":[]},)"
            R"({"data":[-5,7],"dtype":"i8","name":"i","shape":[2]}],"request_id":"r1"})");
}

TEST(OutputTest, TensorChecks) {
  HostTensor tensor = *ParseTensorSpec("x=2xf32=1,2");
  EXPECT_TRUE(CheckTensor(tensor).ok());
  tensor.data.pop_back();
  absl::Status status = CheckTensor(tensor);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("has 7 bytes, expected 8"));

  HostTensor back = FromProto(ToProto(*ParseTensorSpec("y=2x2xi32=1,2,3,4")));
  EXPECT_EQ(back.name, "y");
  EXPECT_EQ(back.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(back.data.size(), 16u);
}

TEST(OutputTest, Names) {
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
  EXPECT_STREQ(ExecutionModelName(mv1::EXECUTION_MODEL_UNSPECIFIED), "unspecified");
  EXPECT_STREQ(SeverityName(cv1::SEVERITY_REMARK), "remark");
}

}  // namespace
}  // namespace kiln::cli
