// The RPC metrics interceptor in a real gRPC server with the compiler and runtime services
// (in process, over its in-process channel): every RPC of kiln's services counted once, by
// name, model label and status code; gRPC's own services not at all.
#include "server/rpc_metrics.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "compiler_service/service/compiler_service.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.pb.h"
#include "runtime_service/service/runtime_service.h"

namespace kiln {
namespace {

namespace cv1 = kiln::compiler::v1;
namespace rv1 = kiln::runtime::v1;
namespace mv1 = kiln::module::v1;

constexpr char kDouble[] =
    "func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
    "  %e = tensor.empty() : tensor<4xf32>\n"
    "  %y = linalg.add ins(%x, %x : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> "
    "tensor<4xf32>\n"
    "  return %y : tensor<4xf32>\n"
    "}\n";

class RpcMetricsTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("kiln-rpc-metrics-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    auto store = ArtifactStore::Open(root_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::make_unique<ArtifactStore>(*std::move(store));
    auto device = hal::Device::Create({.worker_count = 1});
    ASSERT_TRUE(device.ok()) << device.status();
    compiles_ = std::make_unique<CompileCache>(*store_, nullptr, &metrics_);
    compiler_ = std::make_unique<CompilerServiceImpl>(*compiles_);
    models_ = std::make_unique<ModelManager>(
        *store_, *device, ModelManagerOptions{.workers = 1, .metrics = &metrics_});
    runtime_ = std::make_unique<RuntimeServiceImpl>(*models_);

    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(MakeRpcMetricsInterceptor(
        metrics_,
        [this](std::string_view rpc, const std::string& model, const absl::Status& status) {
          models_->RecordModelRpc(rpc, model, status);
        }));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    builder.RegisterService(compiler_.get());
    builder.RegisterService(runtime_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override {
    server_->Shutdown();
    runtime_.reset();
    std::filesystem::remove_all(root_);
  }

  // The value of `series` (its text up to the value); 0 when absent.
  double Metric(const std::string& series) const {
    const std::string text = "\n" + metrics_.registry.Render();
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + 1 + series.size() + 1));
  }

  grpc::Status Invoke(const std::string& module, float value) {
    rv1::InvokeRequest request;
    request.set_module(module);
    rv1::Tensor& x = *request.add_inputs();
    x.set_name("arg0");
    x.set_dtype(mv1::DATA_TYPE_F32);
    x.add_shape(4);
    const float values[4] = {value, value, value, value};
    x.set_data(std::string(reinterpret_cast<const char*>(values), sizeof(values)));
    rv1::InvokeResponse response;
    grpc::ClientContext context;
    grpc::Status status =
        rv1::RuntimeService::NewStub(channel_)->Invoke(&context, request, &response);
    if (status.ok()) {
      float y[4];
      EXPECT_EQ(response.outputs(0).data().size(), sizeof(y));
      std::memcpy(y, response.outputs(0).data().data(), sizeof(y));
      EXPECT_EQ(y[3], 2 * value);
    }
    return status;
  }

  std::filesystem::path root_;
  std::unique_ptr<ArtifactStore> store_;
  metrics::KilnMetrics metrics_;
  std::unique_ptr<CompileCache> compiles_;
  std::unique_ptr<CompilerServiceImpl> compiler_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<RuntimeServiceImpl> runtime_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RpcMetricsTest, CountsEveryRpcOnceByNameModelAndCode) {
  auto compiler = cv1::CompilerService::NewStub(channel_);
  auto runtime = rv1::RuntimeService::NewStub(channel_);

  // Compiler RPCs name no model.
  cv1::CompileRequest compile;
  compile.set_source(kDouble);
  cv1::CompileResponse compiled;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(compiler->Compile(&context, compile, &compiled).ok());
  }
  cv1::CompileRequest bad;
  bad.set_source("func.func @main(");
  {
    grpc::ClientContext context;
    cv1::CompileResponse ignored;
    EXPECT_EQ(compiler->Compile(&context, bad, &ignored).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(Metric("kiln_requests_total{rpc=\"Compile\",model=\"\"}"), 2);
  EXPECT_EQ(
      Metric("kiln_request_failures_total{rpc=\"Compile\",model=\"\",code=\"INVALID_ARGUMENT\"}"),
      1);

  // A name no loaded model has is <unknown>, never a series of its own.
  EXPECT_EQ(Invoke("made-up", 1).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Metric("kiln_requests_total{rpc=\"Invoke\",model=\"<unknown>\"}"), 1);
  EXPECT_EQ(Metric("kiln_request_failures_total{rpc=\"Invoke\",model=\"<unknown>\","
                   "code=\"NOT_FOUND\"}"),
            1);
  EXPECT_EQ(metrics_.registry.Render().find("made-up"), std::string::npos);

  // A loaded model's RPCs carry its name, failures included.
  rv1::LoadModuleRequest load;
  load.set_digest(compiled.digest());
  load.set_name("double");
  {
    grpc::ClientContext context;
    rv1::LoadModuleResponse loaded;
    ASSERT_TRUE(runtime->LoadModule(&context, load, &loaded).ok());
  }
  for (float value : {1.5f, 2.5f}) {
    grpc::Status status = Invoke("double", value);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  rv1::InvokeRequest wrong;
  wrong.set_module("double");
  {
    grpc::ClientContext context;
    rv1::InvokeResponse ignored;
    EXPECT_EQ(runtime->Invoke(&context, wrong, &ignored).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(Metric("kiln_requests_total{rpc=\"LoadModule\",model=\"double\"}"), 1);
  EXPECT_EQ(Metric("kiln_requests_total{rpc=\"Invoke\",model=\"double\"}"), 3);
  EXPECT_EQ(Metric("kiln_request_failures_total{rpc=\"Invoke\",model=\"double\","
                   "code=\"INVALID_ARGUMENT\"}"),
            1);
  EXPECT_EQ(Metric("kiln_invoke_request_seconds_count{model=\"double\"}"), 2);
  {
    grpc::ClientContext context;
    rv1::ListModulesResponse listed;
    ASSERT_TRUE(runtime->ListModules(&context, rv1::ListModulesRequest(), &listed).ok());
  }
  EXPECT_EQ(Metric("kiln_requests_total{rpc=\"ListModules\",model=\"\"}"), 1);

  // Unloading removes the model's series; the unload itself counts as <unknown>.
  rv1::UnloadModuleRequest unload;
  unload.set_name("double");
  {
    grpc::ClientContext context;
    rv1::UnloadModuleResponse unloaded;
    ASSERT_TRUE(runtime->UnloadModule(&context, unload, &unloaded).ok());
  }
  EXPECT_EQ(metrics_.registry.Render().find("model=\"double\""), std::string::npos);
  EXPECT_EQ(Metric("kiln_requests_total{rpc=\"UnloadModule\",model=\"<unknown>\"}"), 1);

  // gRPC's health service is not kiln's API: not counted.
  grpc::health::v1::HealthCheckRequest check;
  grpc::health::v1::HealthCheckResponse health;
  grpc::ClientContext context;
  ASSERT_TRUE(grpc::health::v1::Health::NewStub(channel_)->Check(&context, check, &health).ok());
  EXPECT_EQ(metrics_.registry.Render().find("Check"), std::string::npos);
}

TEST(RequestedModelTest, ReadsTheModelFieldOfEachRequestKind) {
  inference::ModelInferRequest infer;
  infer.set_model_name("resnet");
  infer.set_id("request-7");
  EXPECT_EQ(RequestedModel(infer), "resnet");
  rv1::InvokeRequest invoke;
  invoke.set_module("mlp");
  invoke.set_function("main");
  EXPECT_EQ(RequestedModel(invoke), "mlp");
  rv1::LoadModuleRequest load;
  load.set_name("tiny");
  EXPECT_EQ(RequestedModel(load), "tiny");
  EXPECT_EQ(RequestedModel(rv1::InvokeRequest()), "");  // names a model, the empty name
  EXPECT_EQ(RequestedModel(rv1::ListModulesRequest()), std::nullopt);
  EXPECT_EQ(RequestedModel(cv1::CompileRequest()), std::nullopt);
}

}  // namespace
}  // namespace kiln
