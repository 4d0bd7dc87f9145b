// Rendering of kiln's RPC responses for the `kiln` CLI: human text and JSON. Pure functions, so
// the formats are unit-tested without a server.
#ifndef KILN_CLIENT_CLI_OUTPUT_H_
#define KILN_CLIENT_CLI_OUTPUT_H_

#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kiln/compiler/v1/compiler.pb.h"
#include "kiln/runtime/v1/runtime.pb.h"
#include "nlohmann/json.hpp"
#include "runtime_service/tensor/tensor.h"

namespace kiln::cli {

namespace cv1 = kiln::compiler::v1;
namespace mv1 = kiln::module::v1;
namespace rv1 = kiln::runtime::v1;

// Plain C strings: Debian's absl::StrCat does not take std::string_view.
// "INVALID_ARGUMENT", "NOT_FOUND", ...
const char* StatusCodeName(grpc::StatusCode code);
// "async", "inline-dynamic", "auto" (unspecified).
const char* ExecutionModelName(mv1::ExecutionModel model);
// "error", "warning", "note", "remark".
const char* SeverityName(cv1::Severity severity);
// "embedded-elf", "system-library", "unspecified".
const char* ExecutableFormatName(mv1::ExecutableFormat format);
// "512 B", "1.5 KiB", "3.2 GiB".
std::string ByteSize(uint64_t bytes);
// Aligned columns, two spaces apart; the first row is the header.
std::string Table(const std::vector<std::vector<std::string>>& rows);

// "main(x: f32[1x64]) -> (result0: f32[1x10])"
std::string Signature(const cv1::FunctionSummary& function);
std::string Signature(const rv1::FunctionSignature& function);

// Tensors crossing the wire; CheckTensor verifies the data length matches dtype and shape.
HostTensor FromProto(const rv1::Tensor& tensor);
rv1::Tensor ToProto(HostTensor tensor);
absl::Status CheckTensor(const HostTensor& tensor);

// {"name", "dtype", "shape", "data": [...]}: floats of every width as JSON numbers in their
// shortest round-tripping form (nan/inf become null), integers exact, bool as true/false.
nlohmann::json TensorJson(const HostTensor& tensor);

// --- kiln compile ---
// First line the digest alone; then indented details (cache, size, timings, functions).
std::string CompileText(const cv1::CompileResponse& response);
// "model.mlir:3:5: warning: message" lines, one per diagnostic (empty when there are none).
std::string DiagnosticsText(const cv1::CompileResponse& response);
nlohmann::json CompileJson(const cv1::CompileResponse& response);

// --- kiln load / list ---
std::string LoadText(const rv1::LoadModuleResponse& response);
nlohmann::json LoadJson(const rv1::LoadModuleResponse& response);
nlohmann::json ModuleInfoJson(const rv1::ModuleInfo& module);
std::string ListText(const rv1::ListModulesResponse& response);
nlohmann::json ListJson(const rv1::ListModulesResponse& response);

// --- kiln models (ListModules with each module's status) ---
std::string ModelsText(const rv1::ListModulesResponse& response);
nlohmann::json ModelsJson(const rv1::ListModulesResponse& response);

// --- kiln artifacts list|stats|evict ---
// `now_unix_ms` makes "last used" ages testable.
std::string ArtifactsText(const cv1::ListArtifactsResponse& response, int64_t now_unix_ms);
nlohmann::json ArtifactsJson(const cv1::ListArtifactsResponse& response);
std::string CacheStatsText(const cv1::CacheStatsResponse& response);
nlohmann::json CacheStatsJson(const cv1::CacheStatsResponse& response);
std::string EvictText(const cv1::EvictArtifactsResponse& response);
nlohmann::json EvictJson(const cv1::EvictArtifactsResponse& response);

// --- kiln stats: the cache and the loaded modules ---
std::string StatsText(const cv1::CacheStatsResponse& cache, const rv1::ListModulesResponse& models);
nlohmann::json StatsJson(const cv1::CacheStatsResponse& cache,
                         const rv1::ListModulesResponse& models);

// --- kiln bench ---
struct BenchResult {
  std::string module;
  std::string protocol = "kiln";  // kiln (RuntimeService.Invoke) or kserve (ModelInfer)
  int concurrency = 1;
  uint64_t errors = 0;
  double seconds = 0;                // wall time of the measured requests
  std::vector<double> latencies_ms;  // of successful requests, sorted
  std::string first_error;           // "CODE: message" of the first failure
};
// Nearest-rank percentile of sorted samples (0 when there are none).
double Percentile(const std::vector<double>& sorted, double p);
std::string BenchText(const BenchResult& result);
nlohmann::json BenchJson(const BenchResult& result);

// --- kiln metrics --json: Prometheus text as [{"name", "labels": {...}, "value"}] ---
absl::StatusOr<nlohmann::json> MetricsJson(std::string_view text);

// --- kiln infer ---
// One FormatTensor line per output.
std::string InvokeText(const rv1::InvokeResponse& response, size_t max_elements = 64);
nlohmann::json InvokeJson(const rv1::InvokeResponse& response);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CLI_OUTPUT_H_
