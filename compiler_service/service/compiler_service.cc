#include "compiler_service/service/compiler_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/service/grpc_status.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace cv1 = kiln::compiler::v1;
namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kArtifactSchema = "kiln-artifact-v1";

kiln::compiler::CompileOptions ToCompileOptions(const cv1::CompileRequest& request) {
  kiln::compiler::CompileOptions options;
  options.source_name = request.source_name().empty() ? "input.mlir" : request.source_name();
  switch (request.source_format()) {
    case cv1::SOURCE_FORMAT_MLIR_LINALG:
      options.source_format = kiln::compiler::SourceFormat::kLinalg;
      break;
    case cv1::SOURCE_FORMAT_MLIR_TOSA:
      options.source_format = kiln::compiler::SourceFormat::kTosa;
      break;
    default:
      options.source_format = kiln::compiler::SourceFormat::kAuto;
  }
  const cv1::CompileOptions& in = request.options();
  options.target_cpu = in.target_cpu().empty() ? "host" : in.target_cpu();
  options.target_features.assign(in.target_features().begin(), in.target_features().end());
  options.execution_model = in.execution_model();
  options.executable_format = in.executable_format();
  return options;
}

void Summarize(const mv1::ModuleDef& def, cv1::CompileResponse& response) {
  for (const mv1::FunctionDef& fn : def.functions()) {
    cv1::FunctionSummary& summary = *response.add_functions();
    summary.set_name(fn.name());
    *summary.mutable_inputs() = fn.inputs();
    *summary.mutable_outputs() = fn.outputs();
    summary.set_execution_model(fn.execution_model());
    summary.set_execution_model_reason(fn.execution_model_reason());
  }
}

cv1::Severity ToSeverity(kiln::compiler::Diagnostic::Severity severity) {
  switch (severity) {
    case kiln::compiler::Diagnostic::Severity::kError: return cv1::SEVERITY_ERROR;
    case kiln::compiler::Diagnostic::Severity::kWarning: return cv1::SEVERITY_WARNING;
    case kiln::compiler::Diagnostic::Severity::kNote: return cv1::SEVERITY_NOTE;
    case kiln::compiler::Diagnostic::Severity::kRemark: return cv1::SEVERITY_REMARK;
  }
  return cv1::SEVERITY_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::string> ArtifactDigest(std::string_view source,
                                           const kiln::compiler::CompileOptions& options) {
  auto options_key = kiln::compiler::CanonicalOptionsKey(options);
  if (!options_key.ok()) return options_key.status();
  Sha256Hasher hasher;
  hasher.UpdateField(kArtifactSchema);
  hasher.UpdateField(source);
  hasher.UpdateField(*options_key);
  hasher.UpdateField(kiln::compiler::CompilerBuildId());
  hasher.UpdateField(absl::StrCat("abi=", KILN_EXECUTABLE_ABI_VERSION));
  return DigestString(hasher.Finish());
}

absl::StatusOr<cv1::CompileResponse> CompilerServiceImpl::CompileToStore(
    const cv1::CompileRequest& request, const kiln::compiler::ContinueCheck& should_continue) {
  auto start = Clock::now();
  kiln::compiler::CompileOptions options = ToCompileOptions(request);
  auto digest = ArtifactDigest(request.source(), options);
  if (!digest.ok()) return digest.status();

  cv1::CompileResponse response;
  response.set_digest(*digest);
  if (!request.options().do_not_cache() && store_.Contains(*digest)) {
    auto path = store_.PathFor(*digest);
    auto cached = module::ModuleFile::Open(*path);
    if (cached.ok()) {
      response.set_cache_hit(true);
      response.set_module_size((*cached)->bytes().size());
      Summarize((*cached)->def(), response);
      cv1::PhaseTiming& timing = *response.add_timings();
      timing.set_phase("cache");
      timing.set_milliseconds(
          std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      return response;
    }
    // A corrupt entry is dropped and rebuilt rather than served.
    spdlog::warn("cached artifact {} is unusable ({}); recompiling", *digest,
                 cached.status().ToString());
    store_.Remove(*digest);
  }

  auto result = kiln::compiler::Compile(request.source(), options, should_continue);
  if (!result.ok()) return result.status();
  if (auto status = store_.Put(*digest, result->module_bytes); !status.ok()) return status;
  response.set_cache_hit(false);
  response.set_module_size(result->module_bytes.size());
  Summarize(result->def, response);
  for (const auto& diag : result->diagnostics) {
    cv1::Diagnostic& out = *response.add_diagnostics();
    out.set_severity(ToSeverity(diag.severity));
    out.set_location(diag.location);
    out.set_message(diag.message);
  }
  for (const auto& phase : result->timings) {
    cv1::PhaseTiming& timing = *response.add_timings();
    timing.set_phase(phase.phase);
    timing.set_milliseconds(phase.milliseconds);
  }
  spdlog::info("compiled {} → {} ({} bytes)", options.source_name, *digest,
               result->module_bytes.size());
  return response;
}

grpc::Status CompilerServiceImpl::Compile(grpc::ServerContext* context,
                                          const cv1::CompileRequest* request,
                                          cv1::CompileResponse* response) {
  auto should_continue = [context]() -> absl::Status {
    if (context->IsCancelled()) return absl::CancelledError("the client cancelled the compile");
    if (context->deadline() < std::chrono::system_clock::now())
      return absl::DeadlineExceededError("the compile's deadline passed");
    return absl::OkStatus();
  };
  auto result = CompileToStore(*request, should_continue);
  if (!result.ok()) {
    spdlog::info("compile of '{}' failed: {}", request->source_name(),
                 result.status().ToString());
    return ToGrpcStatus(result.status());
  }
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace kiln
