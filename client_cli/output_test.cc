#include "client_cli/output.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/tensor/tensor_spec.h"

namespace kiln::cli {
namespace {

using ::testing::HasSubstr;

void SetArg(mv1::ArgumentDef* arg, const std::string& name, mv1::DataType dtype,
            const std::vector<int64_t>& shape) {
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
  EXPECT_EQ(json["diagnostics"][0], nlohmann::json({{"severity", "warning"},
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

TEST(OutputTest, CompileTextMergedAndFormat) {
  cv1::CompileResponse response = SampleCompile();
  response.set_merged(true);
  response.set_executable_format(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF);
  EXPECT_THAT(CompileText(response),
              HasSubstr("  cache: miss (joined an identical compile in progress)\n"
                        "  module size: 12345 bytes\n"
                        "  executable format: embedded-elf\n"));
  nlohmann::json json = CompileJson(response);
  EXPECT_EQ(json["merged"], true);
  EXPECT_EQ(json["executable_format"], "embedded-elf");
}

TEST(OutputTest, ByteSizes) {
  EXPECT_EQ(ByteSize(0), "0 B");
  EXPECT_EQ(ByteSize(1023), "1023 B");
  EXPECT_EQ(ByteSize(1536), "1.5 KiB");
  EXPECT_EQ(ByteSize(200 << 20), "200 MiB");
  EXPECT_EQ(ByteSize(4ull << 30), "4.0 GiB");
}

TEST(OutputTest, Artifacts) {
  cv1::ListArtifactsResponse list;
  EXPECT_EQ(ArtifactsText(list, 0), "the artifact cache is empty\n");
  auto* a = list.add_artifacts();
  a->set_digest("sha256:aa");
  a->set_size_bytes(2048);
  a->set_last_access_unix_ms(1000000);
  a->set_pinned(true);
  auto* b = list.add_artifacts();
  b->set_digest("sha256:bbbb");
  b->set_size_bytes(100);
  b->set_last_access_unix_ms(1000000 - 3 * 3600 * 1000);
  EXPECT_EQ(ArtifactsText(list, 1005000),
            "DIGEST       SIZE     LAST USED  LOADED\n"
            "sha256:aa    2.0 KiB  5 s ago    yes\n"
            "sha256:bbbb  100 B    3 h ago    no\n");
  EXPECT_EQ(ArtifactsJson(list)["artifacts"][0], nlohmann::json({{"digest", "sha256:aa"},
                                                                 {"size_bytes", 2048},
                                                                 {"last_access_unix_ms", 1000000},
                                                                 {"loaded", true}}));

  cv1::CacheStatsResponse stats;
  stats.set_cache_dir("/c");
  stats.set_entries(2);
  stats.set_pinned_entries(1);
  stats.set_bytes(3 << 20);
  stats.set_max_bytes(4ull << 30);
  stats.set_hits(3);
  stats.set_misses(1);
  stats.set_evictions(5);
  stats.set_compiles(2);
  stats.set_merged_compiles(4);
  EXPECT_EQ(CacheStatsText(stats),
            "cache /c\n"
            "  entries: 2 (1 loaded)\n"
            "  size: 3.0 MiB of 4.0 GiB\n"
            "  hits: 3, misses: 1 (hit ratio 75.0%)\n"
            "  evictions: 5, corrupt entries dropped: 0\n"
            "  compiles: 2 (0 failed, 4 requests merged into one in progress)\n");
  EXPECT_EQ(CacheStatsJson(stats)["merged_compiles"], 4);

  cv1::EvictArtifactsResponse evict;
  evict.add_evicted("sha256:bbbb");
  evict.set_bytes_freed(100);
  auto* skipped = evict.add_skipped();
  skipped->set_digest("sha256:aa");
  skipped->set_reason("loaded");
  EXPECT_EQ(EvictText(evict),
            "evicted 1 artifact (100 B)\n"
            "  sha256:bbbb\n"
            "kept sha256:aa: loaded\n");
  EXPECT_EQ(EvictJson(evict).dump(), R"({"bytes_freed":100,"evicted":["sha256:bbbb"],)"
                                     R"("skipped":[{"digest":"sha256:aa","reason":"loaded"}]})");
}

TEST(OutputTest, ModelsAndStats) {
  rv1::ListModulesResponse list;
  EXPECT_EQ(ModelsText(list), "no modules loaded\n");
  *list.add_modules() = SampleModule("mlp");
  EXPECT_EQ(ModelsText(list),
            "NAME  STATUS  DIGEST               CALLS  EXECUTION  FUNCTIONS\n"
            "mlp   READY   sha256:0123456789ab  7      async      main(x: f16[]) -> (y: i8[3])\n");
  EXPECT_EQ(ModelsJson(list)["models"][0]["status"], "READY");
  cv1::CacheStatsResponse cache;
  EXPECT_THAT(StatsText(cache, list), HasSubstr("models: 1 loaded, 7 calls\n  mlp: 7 calls\n"));
  EXPECT_EQ(StatsJson(cache, list)["invocations"]["mlp"], 7);
}

TEST(OutputTest, Bench) {
  BenchResult result;
  result.module = "mlp";
  result.concurrency = 2;
  result.seconds = 0.5;
  for (int i = 1; i <= 100; ++i) result.latencies_ms.push_back(i * 0.01);
  EXPECT_EQ(BenchText(result),
            "mlp: 100 requests, 2 concurrent, 0 errors in 0.500 s\n"
            "  latency: p50 0.500 ms, p90 0.900 ms, p99 0.990 ms, max 1.000 ms\n"
            "  throughput: 200.0 requests/s\n");
  nlohmann::json json = BenchJson(result);
  EXPECT_EQ(json["requests"], 100);
  EXPECT_EQ(json["throughput_rps"], 200.0);
  EXPECT_EQ(json["latency_ms"]["p99"], 0.99);
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({3.0}, 99), 3.0);
}

TEST(OutputTest, MetricsJson) {
  auto json = MetricsJson(
      "# HELP a_total A.\n# TYPE a_total counter\n"
      "a_total{rpc=\"Invoke\",model=\"q\\\"x\"} 3\n"
      "b 0.5\n"
      "h_bucket{le=\"+Inf\"} 2\n"
      "g +Inf\n");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->size(), 4u);
  EXPECT_EQ((*json)[0], nlohmann::json({{"name", "a_total"},
                                        {"labels", {{"rpc", "Invoke"}, {"model", "q\"x"}}},
                                        {"value", 3.0}}));
  EXPECT_EQ((*json)[1]["labels"], nlohmann::json::object());
  EXPECT_EQ((*json)[2]["labels"]["le"], "+Inf");
  EXPECT_EQ((*json)[3]["value"], "+Inf");
  EXPECT_FALSE(MetricsJson("no_value\n").ok());
  EXPECT_FALSE(MetricsJson("x{a=\"b} 1\n").ok());
}

TEST(OutputTest, Names) {
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
  EXPECT_STREQ(ExecutionModelName(mv1::EXECUTION_MODEL_UNSPECIFIED), "unspecified");
  EXPECT_STREQ(SeverityName(cv1::SEVERITY_REMARK), "remark");
}

}  // namespace
}  // namespace kiln::cli
