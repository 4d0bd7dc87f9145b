// The RuntimeService's handlers, called directly on hand-built modules (no executables: a fill
// writes the output) in a temporary artifact store: the response limit, the name limits, metric
// labels for loaded modules only, and running out of memory.
#include "runtime_service/service/runtime_service.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "metrics/kiln_metrics.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/service/name_limit.h"
#include "runtime_service/testing/sanitizers.h"
#include "runtime_service/testing/test_modules.h"

#define KILN_ADDRESS_SPACE_LIMITABLE (!KILN_SANITIZED)

namespace kiln {
namespace {

namespace fs = std::filesystem;
namespace rv1 = kiln::runtime::v1;
using namespace kiln::test_modules;  // NOLINT: the shared test-module helpers

// main() -> (y: f32[elements]), every element 2.0.
std::string FillModule(int64_t elements) {
  module::ModuleBuilder builder;
  builder.def().set_name("fill");
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("main");
  function->mutable_program()->set_slot_count(1);
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {elements});
  const float two = 2.0f;
  std::string pattern(4, '\0');
  std::memcpy(pattern.data(), &two, 4);
  Program{function->mutable_program()}.BindOutput(0, 0).Fill(
      {0, 0, static_cast<uint64_t>(elements) * 4}, pattern);
  auto bytes = builder.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

class RuntimeServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("kiln-runtime-service-test-" + std::to_string(::getpid()) + "-" +
             testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    auto store = ArtifactStore::Open(root_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::make_unique<ArtifactStore>(*store);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A model manager and the gRPC service over it.
  struct Served {
    Served(const ArtifactStore& store, ModelManagerOptions options)
        : models(store, nullptr, options), service(models) {}
    ModelManager models;
    RuntimeServiceImpl service;
  };

  // Stores a fill module of `elements` and loads it as `name` into `served`.
  void Load(Served& served, const std::string& name, int64_t elements) {
    const std::string digest = DigestString(Sha256(name + std::to_string(elements)));
    ASSERT_TRUE(store_->Put(digest, FillModule(elements)).ok());
    rv1::LoadModuleRequest request;
    request.set_digest(digest);
    request.set_name(name);
    rv1::LoadModuleResponse response;
    grpc::Status status = served.service.LoadModule(nullptr, &request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  static grpc::Status Invoke(Served& served, const std::string& module,
                             rv1::InvokeResponse* response = nullptr,
                             const std::string& input_name = "", const std::string& function = "") {
    rv1::InvokeRequest request;
    request.set_module(module);
    request.set_function(function);
    if (!input_name.empty()) request.add_inputs()->set_name(input_name);
    rv1::InvokeResponse ignored;
    return served.service.Invoke(nullptr, &request, response ? response : &ignored);
  }

  static uint64_t Invocations(Served& served, const std::string& name) {
    auto handle = served.models.FindModule(name);
    EXPECT_TRUE(handle.ok()) << handle.status();
    return handle.ok() ? handle->serving->invocations.load() : 0;
  }

  fs::path root_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST_F(RuntimeServiceTest, OutputsLargerThanTheResponseLimitAreRefusedBeforeRunning) {
  Served tight(*store_, {.workers = 1, .max_response_bytes = 3999});
  Load(tight, "fill", 1000);  // 4000 bytes of outputs
  grpc::Status status = Invoke(tight, "fill");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "function 'main' of module 'fill' returns 4000 bytes of outputs, more than the "
            "3999-byte message limit (--max-message-bytes); it was not run");
  EXPECT_EQ(Invocations(tight, "fill"), 0u);

  Served fits(*store_, {.workers = 1, .max_response_bytes = 4000});
  Load(fits, "fill", 1000);
  rv1::InvokeResponse response;
  status = Invoke(fits, "fill", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(Values<float>(response.outputs(0).data()), std::vector<float>(1000, 2.0f));
  EXPECT_EQ(Invocations(fits, "fill"), 1u);
}

TEST_F(RuntimeServiceTest, NamesLongerThanTheLimitAreInvalidArgument) {
  Served service(*store_, {.workers = 1});
  Load(service, "fill", 4);
  const std::string longest(kMaxNameBytes, 'n'), too_long(kMaxNameBytes + 1, 'n');
  auto expect_too_long = [](const grpc::Status& status, const std::string& what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), what + " is 257 bytes long; names are limited to 256 bytes");
  };
  expect_too_long(Invoke(service, too_long), "the module name");
  expect_too_long(Invoke(service, "fill", nullptr, "", too_long), "the function name");
  expect_too_long(Invoke(service, "fill", nullptr, too_long), "an input name");
  // At the limit, the names are looked at.
  EXPECT_EQ(Invoke(service, longest).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Invoke(service, "fill", nullptr, "", longest).error_code(),
            grpc::StatusCode::NOT_FOUND);

  rv1::LoadModuleRequest load;
  load.set_digest(DigestString(Sha256(std::string("fill4"))));
  load.set_name(too_long);
  rv1::LoadModuleResponse loaded;
  expect_too_long(service.service.LoadModule(nullptr, &load, &loaded), "the module name");
  rv1::UnloadModuleRequest unload;
  unload.set_name(too_long);
  rv1::UnloadModuleResponse unloaded;
  expect_too_long(service.service.UnloadModule(nullptr, &unload, &unloaded), "the module name");
  EXPECT_EQ(Invocations(service, "fill"), 0u);
}

// The count of `series` (its whole text up to the value) in `metrics`; 0 when absent.
double Metric(const metrics::KilnMetrics& metrics, const std::string& series) {
  const std::string text = metrics.registry.Render();
  const std::string prefix = series + " ";
  size_t at = text.find("\n" + prefix);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + 1 + prefix.size()));
}

bool MentionsModel(const metrics::KilnMetrics& metrics, const std::string& name) {
  return metrics.registry.Render().find("model=\"" + name + "\"") != std::string::npos;
}

// RPC counts come from kilnd's interceptor (server/rpc_metrics_test.cc drives it through a
// real server); the service decides their model label and records invocation latencies.
TEST_F(RuntimeServiceTest, MetricLabelsNameLoadedModulesOnly) {
  metrics::KilnMetrics metrics;
  Served service(*store_, {.workers = 1, .metrics = &metrics});
  const std::string unknown = "kiln_requests_total{rpc=\"Invoke\",model=\"<unknown>\"}";
  for (int i = 0; i < 3; ++i) {
    const std::string name = "made-up-" + std::to_string(i);
    EXPECT_EQ(Invoke(service, name).error_code(), grpc::StatusCode::NOT_FOUND);
    service.models.RecordModelRpc("Invoke", name, absl::NotFoundError("no such module"));
  }
  EXPECT_EQ(Metric(metrics, unknown), 3);
  EXPECT_EQ(Metric(metrics,
                   "kiln_request_failures_total{rpc=\"Invoke\",model=\"<unknown>\","
                   "code=\"NOT_FOUND\"}"),
            3);
  EXPECT_FALSE(MentionsModel(metrics, "made-up-0"));

  Load(service, "labelled", 4);
  ASSERT_TRUE(Invoke(service, "labelled").ok());
  ASSERT_TRUE(Invoke(service, "labelled").ok());
  service.models.RecordModelRpc("Invoke", "labelled", absl::OkStatus());
  EXPECT_EQ(Metric(metrics, "kiln_requests_total{rpc=\"Invoke\",model=\"labelled\"}"), 1);
  EXPECT_EQ(Metric(metrics, "kiln_invoke_compute_seconds_count{model=\"labelled\"}"), 2);
  EXPECT_EQ(Metric(metrics, "kiln_invoke_request_seconds_count{model=\"labelled\"}"), 2);

  // Unloading drops the model's series; later requests for the name count as unknown.
  ASSERT_TRUE(service.models.Unload("labelled").ok());
  EXPECT_FALSE(MentionsModel(metrics, "labelled"));
  EXPECT_EQ(Invoke(service, "labelled").error_code(), grpc::StatusCode::NOT_FOUND);
  service.models.RecordModelRpc("Invoke", "labelled", absl::NotFoundError("no such module"));
  EXPECT_FALSE(MentionsModel(metrics, "labelled"));
  EXPECT_EQ(Metric(metrics, unknown), 4);
}

// The model manager needs no transport: a caller's deadline and cancellation reach it as a
// CallControl, checked when the request reaches a worker; nothing runs for either.
class FixedControl final : public CallControl {
 public:
  FixedControl(bool deadline_passed, bool cancelled)
      : deadline_passed_(deadline_passed), cancelled_(cancelled) {}
  bool DeadlinePassed() const override { return deadline_passed_; }
  bool Cancelled() const override { return cancelled_; }

 private:
  bool deadline_passed_, cancelled_;
};

TEST_F(RuntimeServiceTest, ModelManagerRunsWithoutATransport) {
  Served served(*store_, {.workers = 1});
  Load(served, "fill", 4);
  auto handle = served.models.FindModule("fill");
  ASSERT_TRUE(handle.ok()) << handle.status();
  const module::v1::FunctionDef* function = handle->module->FindFunction("");
  ASSERT_NE(function, nullptr);

  // Deadline first: a transport may also report an expired call as cancelled.
  const FixedControl expired(/*deadline_passed=*/true, /*cancelled=*/true);
  auto result = served.models.Run(*handle, *function, {}, &expired);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(result.status().message(),
            "the request's deadline passed while it waited in the queue; it was not run");
  const FixedControl cancelled(/*deadline_passed=*/false, /*cancelled=*/true);
  result = served.models.Run(*handle, *function, {}, &cancelled);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(result.status().message(), "the client cancelled the request");
  EXPECT_EQ(Invocations(served, "fill"), 0u);

  const FixedControl live(false, false);
  for (const CallControl* control :
       {static_cast<const CallControl*>(&live), static_cast<const CallControl*>(nullptr)}) {
    result = served.models.Run(*handle, *function, {}, control);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->outputs.size(), 1u);
    EXPECT_EQ(Values<float>(result->outputs[0].data), std::vector<float>(4, 2.0f));
  }
  EXPECT_EQ(Invocations(served, "fill"), 2u);
}

// The address space this process has mapped now.
rlim_t MappedBytes() {
  std::ifstream statm("/proc/self/statm");
  rlim_t pages = 0;
  statm >> pages;
  return pages * static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
}

TEST_F(RuntimeServiceTest, RunningOutOfMemoryIsResourceExhausted) {
  if (!KILN_ADDRESS_SPACE_LIMITABLE) GTEST_SKIP() << "sanitizers reserve the address space";
  Served service(*store_, {.workers = 1});
  Load(service, "huge", int64_t{1} << 28);  // a 1 GiB output
  Load(service, "small", 4);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = MappedBytes() + (rlim_t{512} << 20);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &limited), 0);
  grpc::Status status = Invoke(service, "huge");
  ASSERT_EQ(setrlimit(RLIMIT_AS, &saved), 0);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "function 'main': out of memory allocating output 'y' (f32[268435456], 1073741824 "
            "bytes)");
  // The worker lives on.
  rv1::InvokeResponse response;
  status = Invoke(service, "small", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Values<float>(response.outputs(0).data()), std::vector<float>(4, 2.0f));
}

}  // namespace
}  // namespace kiln
