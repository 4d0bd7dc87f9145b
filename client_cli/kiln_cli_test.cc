// Runs the real `kiln` binary against an in-process fake kilnd (canned gRPC services), checking
// argument handling, request contents, output formats and exit codes.
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>

#include "client_cli/output.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "kiln/compiler/v1/compiler.grpc.pb.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "runtime_service/tensor/npy.h"
#include "runtime_service/tensor/tensor_spec.h"

namespace kiln::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace hv1 = grpc::health::v1;

constexpr char kDigest[] =
    "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

class FakeHealth final : public hv1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*, const hv1::HealthCheckRequest*,
                     hv1::HealthCheckResponse* response) override {
    response->set_status(serving ? hv1::HealthCheckResponse::SERVING
                                 : hv1::HealthCheckResponse::NOT_SERVING);
    return grpc::Status::OK;
  }
  bool serving = true;
};

class FakeCompiler final : public cv1::CompilerService::Service {
 public:
  grpc::Status Compile(grpc::ServerContext*, const cv1::CompileRequest* request,
                       cv1::CompileResponse* response) override {
    std::lock_guard lock(mu);
    last = *request;
    if (request->source().find("bad") != std::string::npos)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "model.mlir:1:1: error: bad op");
    response->set_digest(kDigest);
    response->set_module_size(4096);
    auto* timing = response->add_timings();
    timing->set_phase("parse");
    timing->set_milliseconds(0.5);
    auto* function = response->add_functions();
    function->set_name("main");
    function->set_execution_model(mv1::EXECUTION_MODEL_ASYNC);
    function->set_execution_model_reason("requested");
    auto* diagnostic = response->add_diagnostics();
    diagnostic->set_severity(cv1::SEVERITY_REMARK);
    diagnostic->set_message("1 dispatch");
    return grpc::Status::OK;
  }
  std::mutex mu;
  cv1::CompileRequest last;
};

class FakeRuntime final : public rv1::RuntimeService::Service {
 public:
  grpc::Status LoadModule(grpc::ServerContext*, const rv1::LoadModuleRequest* request,
                          rv1::LoadModuleResponse* response) override {
    if (request->digest() != kDigest)
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no module " + request->digest());
    response->mutable_module()->set_name(request->name().empty() ? "default" : request->name());
    response->mutable_module()->set_digest(request->digest());
    response->mutable_module()->add_functions()->set_name("main");
    response->set_load_milliseconds(2.5);
    return grpc::Status::OK;
  }
  grpc::Status UnloadModule(grpc::ServerContext*, const rv1::UnloadModuleRequest* request,
                            rv1::UnloadModuleResponse*) override {
    if (request->name() != "mlp") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no mlp");
    return grpc::Status::OK;
  }
  grpc::Status ListModules(grpc::ServerContext*, const rv1::ListModulesRequest*,
                           rv1::ListModulesResponse* response) override {
    auto* module = response->add_modules();
    module->set_name("mlp");
    module->set_digest(kDigest);
    module->add_functions()->set_name("main");
    return grpc::Status::OK;
  }
  // Echoes the inputs back as result0, result1, ...; module "draining" answers UNAVAILABLE.
  grpc::Status Invoke(grpc::ServerContext*, const rv1::InvokeRequest* request,
                      rv1::InvokeResponse* response) override {
    std::lock_guard lock(mu);
    last = *request;
    if (request->module() == "draining")
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
    for (int i = 0; i < request->inputs_size(); ++i) {
      rv1::Tensor* output = response->add_outputs();
      *output = request->inputs(i);
      output->set_name("result" + std::to_string(i));
    }
    response->set_request_id(request->request_id().empty() ? "generated" : request->request_id());
    response->set_compute_milliseconds(0.25);
    return grpc::Status::OK;
  }
  std::mutex mu;
  rv1::InvokeRequest last;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class KilnCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&health_);
    builder.RegisterService(&compiler_);
    builder.RegisterService(&runtime_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    dir_ = testing::TempDir() + "/kiln_cli_test_" + std::to_string(getpid());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
  }
  void TearDown() override {
    server_->Shutdown();
    std::system(("rm -rf " + dir_).c_str());
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Runs `kiln ARGS` (a shell fragment) against the fake server unless ARGS names --server.
  Result Kiln(const std::string& args, const std::string& env = "") {
    std::string server = args.find("--server") == std::string::npos && env.empty()
                             ? " --server " + Address()
                             : "";
    std::string command = env + " " KILN_CLI_PATH + server + " " + args + " >" + dir_ +
                          "/out 2>" + dir_ + "/err";
    int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(dir_ + "/out"),
            ReadFile(dir_ + "/err")};
  }

  int port_ = 0;
  std::string dir_;
  FakeHealth health_;
  FakeCompiler compiler_;
  FakeRuntime runtime_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(KilnCliTest, Health) {
  Result result = Kiln("health");
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, "SERVING\n");
  health_.serving = false;
  result = Kiln("health --json");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.out, "{\"status\":\"NOT_SERVING\"}\n");
}

TEST_F(KilnCliTest, ServerFromEnvironment) {
  Result result = Kiln("health", "KILN_SERVER=" + Address());
  EXPECT_EQ(result.code, 0) << result.err;
  result = Kiln("health", "KILN_SERVER=127.0.0.1:1");
  EXPECT_EQ(result.code, 2);
}

TEST_F(KilnCliTest, Unreachable) {
  Result result = Kiln("health --server 127.0.0.1:1");
  EXPECT_EQ(result.code, 2);
  EXPECT_THAT(result.err, StartsWith("kiln: cannot reach kilnd at 127.0.0.1:1: "));
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1);  // one line
  EXPECT_EQ(result.out, "");
}

TEST_F(KilnCliTest, Compile) {
  std::string file = dir_ + "/model.mlir";
  std::ofstream(file) << "func.func @main() { return }\n";
  Result result = Kiln("compile " + file +
                       " --format tosa --execution-model async --executable-format "
                       "system-library --target-cpu znver5 --target-feature +avx512f "
                       "--target-feature +avx512bw --no-cache");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith(std::string(kDigest) + "\n  cache: miss\n"));
  EXPECT_THAT(result.out, HasSubstr("  main() -> ()\n    execution model: async (requested)\n"));
  EXPECT_EQ(result.err, "remark: 1 dispatch\n");
  const cv1::CompileRequest& request = compiler_.last;
  EXPECT_EQ(request.source_name(), "model.mlir");
  EXPECT_EQ(request.source(), "func.func @main() { return }\n");
  EXPECT_EQ(request.source_format(), cv1::SOURCE_FORMAT_MLIR_TOSA);
  EXPECT_EQ(request.options().execution_model(), mv1::EXECUTION_MODEL_ASYNC);
  EXPECT_EQ(request.options().executable_format(), mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY);
  EXPECT_EQ(request.options().target_cpu(), "znver5");
  EXPECT_EQ(request.options().target_features_size(), 2);
  EXPECT_TRUE(request.options().do_not_cache());

  result = Kiln("--json compile --name other.mlir " + file);
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(compiler_.last.source_name(), "other.mlir");
  EXPECT_EQ(compiler_.last.source_format(), cv1::SOURCE_FORMAT_AUTO);
  nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["digest"], kDigest);
  EXPECT_EQ(json["timings"]["parse"], 0.5);
  EXPECT_EQ(json["diagnostics"][0]["severity"], "remark");

  std::ofstream(file) << "bad";
  result = Kiln("compile " + file);
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "kiln: error: INVALID_ARGUMENT: model.mlir:1:1: error: bad op\n");

  result = Kiln("compile " + dir_ + "/missing.mlir");
  EXPECT_EQ(result.code, 1);
  EXPECT_THAT(result.err, StartsWith("kiln: error: cannot read "));

  result = Kiln("compile " + file + " --format onnx");
  EXPECT_EQ(result.code, 1);
  EXPECT_THAT(result.err, HasSubstr("--format"));
}

TEST_F(KilnCliTest, LoadListUnload) {
  Result result = Kiln(std::string("load ") + kDigest + " --name mlp");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, std::string("loaded mlp (") + kDigest +
                            ") in 2.50 ms\n  main() -> () [unspecified]\n");
  result = Kiln("load sha256:missing --json");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "kiln: error: NOT_FOUND: no module sha256:missing\n");
  EXPECT_EQ(result.out, "");

  result = Kiln("list");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out,
            "NAME  DIGEST               CALLS  FUNCTIONS\n"
            "mlp   sha256:001122334455  0      main\n");
  result = Kiln("list --json");
  EXPECT_EQ(nlohmann::json::parse(result.out)["modules"][0]["digest"], kDigest);

  EXPECT_EQ(Kiln("unload mlp").out, "unloaded mlp\n");
  result = Kiln("unload nope");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "kiln: error: NOT_FOUND: no mlp\n");
}

TEST_F(KilnCliTest, Infer) {
  HostTensor file_tensor = *ParseTensorSpec("3xi16=1,-2,3");
  ASSERT_TRUE(WriteNpyFile(dir_ + "/in.npy", file_tensor).ok());
  // Options before the positional module name, short and long forms, '=' forms.
  Result result = Kiln("infer -i x=2x2xf32=1,2,3,4.5 --input=f32=7 -i @" + dir_ +
                       "/in.npy mlp -f main --request-id abc --output @" + dir_ + "/y0.npy -o " +
                       dir_ + "/y1.npy");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out,
            "result0: f32[2x2] = [1, 2, 3, 4.5]\n"
            "result1: f32[] = 7\n"
            "result2: i16[3] = [1, -2, 3]\n");
  const rv1::InvokeRequest& request = runtime_.last;
  EXPECT_EQ(request.module(), "mlp");
  EXPECT_EQ(request.function(), "main");
  EXPECT_EQ(request.request_id(), "abc");
  ASSERT_EQ(request.inputs_size(), 3);
  EXPECT_EQ(request.inputs(0).name(), "x");
  EXPECT_EQ(request.inputs(1).name(), "");
  EXPECT_EQ(request.inputs(2).dtype(), mv1::DATA_TYPE_I16);
  auto y0 = ReadNpyFile(dir_ + "/y0.npy");
  ASSERT_TRUE(y0.ok()) << y0.status();
  EXPECT_EQ(y0->shape, (std::vector<int64_t>{2, 2}));
  auto y1 = ReadNpyFile(dir_ + "/y1.npy");
  ASSERT_TRUE(y1.ok()) << y1.status();
  EXPECT_TRUE(y1->shape.empty());

  result = Kiln("--json infer mlp -i 2xbf16=0.1,-3 -i 2xbool=true,false");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out,
            R"({"compute_ms":0.25,"outputs":[)"
            R"({"data":[0.1,-3.0],"dtype":"bf16","name":"result0","shape":[2]},)"
            R"({"data":[true,false],"dtype":"bool","name":"result1","shape":[2]}],)"
            R"("request_id":"generated"})"
            "\n");
}

TEST_F(KilnCliTest, InferErrors) {
  Result result = Kiln("infer mlp -i x=2x3xf32=0");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "kiln: error: --input x=2x3xf32=0: 2x3xf32 needs 6 values, got 1\n");

  result = Kiln("infer mlp -i f32=1 -o @" + dir_ + "/a.npy -o @" + dir_ + "/b.npy");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "kiln: error: 2 --output files given but mlp returned 1 output\n");

  result = Kiln("infer mlp -i bf16=1 -o @" + dir_ + "/a.npy");
  EXPECT_EQ(result.code, 1);
  EXPECT_THAT(result.err, HasSubstr("bf16 tensors cannot be written to .npy"));

  // UNAVAILABLE from a server that is connected is its answer, not "cannot reach".
  result = Kiln("infer draining -i f32=1");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "kiln: error: UNAVAILABLE: server is shutting down\n");

  result = Kiln("infer");
  EXPECT_EQ(result.code, 1);
  EXPECT_THAT(result.err, HasSubstr("module is required"));
}

}  // namespace
}  // namespace kiln::cli
