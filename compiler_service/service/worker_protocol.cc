#include "compiler_service/service/worker_protocol.h"

#include <string>
#include <utility>
#include <vector>

namespace kiln::compile_worker {

namespace cv1 = kiln::compiler::v1;
using kiln::compiler::Diagnostic;
using kiln::compiler::SourceFormat;

namespace {

cv1::SourceFormat ToProto(SourceFormat format) {
  switch (format) {
    case SourceFormat::kAuto:
      return cv1::SOURCE_FORMAT_AUTO;
    case SourceFormat::kLinalg:
      return cv1::SOURCE_FORMAT_MLIR_LINALG;
    case SourceFormat::kTosa:
      return cv1::SOURCE_FORMAT_MLIR_TOSA;
    case SourceFormat::kOnnx:
      return cv1::SOURCE_FORMAT_ONNX;
  }
  return cv1::SOURCE_FORMAT_AUTO;
}

SourceFormat FromProto(cv1::SourceFormat format) {
  switch (format) {
    case cv1::SOURCE_FORMAT_MLIR_LINALG:
      return SourceFormat::kLinalg;
    case cv1::SOURCE_FORMAT_MLIR_TOSA:
      return SourceFormat::kTosa;
    case cv1::SOURCE_FORMAT_ONNX:
      return SourceFormat::kOnnx;
    default:
      return SourceFormat::kAuto;
  }
}

cv1::Severity ToProto(Diagnostic::Severity severity) {
  switch (severity) {
    case Diagnostic::Severity::kError:
      return cv1::SEVERITY_ERROR;
    case Diagnostic::Severity::kWarning:
      return cv1::SEVERITY_WARNING;
    case Diagnostic::Severity::kNote:
      return cv1::SEVERITY_NOTE;
    case Diagnostic::Severity::kRemark:
      return cv1::SEVERITY_REMARK;
  }
  return cv1::SEVERITY_ERROR;
}

Diagnostic::Severity FromProto(cv1::Severity severity) {
  switch (severity) {
    case cv1::SEVERITY_WARNING:
      return Diagnostic::Severity::kWarning;
    case cv1::SEVERITY_NOTE:
      return Diagnostic::Severity::kNote;
    case cv1::SEVERITY_REMARK:
      return Diagnostic::Severity::kRemark;
    default:
      return Diagnostic::Severity::kError;
  }
}

}  // namespace

wv1::WorkerCompileRequest ToRequest(std::string_view source,
                                    const kiln::compiler::CompileOptions& options) {
  wv1::WorkerCompileRequest request;
  request.set_source(std::string(source));
  request.set_source_name(options.source_name);
  request.set_source_format(ToProto(options.source_format));
  request.set_target_cpu(options.target_cpu);
  for (const std::string& feature : options.target_features) request.add_target_features(feature);
  request.set_execution_model(options.execution_model);
  request.set_executable_format(options.executable_format);
  for (const auto& [name, dims] : options.input_shapes) {
    cv1::InputShape& shape = *request.add_input_shapes();
    shape.set_name(name);
    shape.mutable_dims()->Add(dims.begin(), dims.end());
  }
  request.set_external_data_dir(options.external_data_dir);
  request.set_batch_size(options.batch_size);
  return request;
}

kiln::compiler::CompileOptions ToOptions(const wv1::WorkerCompileRequest& request) {
  kiln::compiler::CompileOptions options;
  options.source_name = request.source_name();
  options.source_format = FromProto(request.source_format());
  options.target_cpu = request.target_cpu();
  options.target_features.assign(request.target_features().begin(),
                                 request.target_features().end());
  options.execution_model = request.execution_model();
  options.executable_format = request.executable_format();
  for (const cv1::InputShape& shape : request.input_shapes())
    options.input_shapes[shape.name()] =
        std::vector<int64_t>(shape.dims().begin(), shape.dims().end());
  options.external_data_dir = request.external_data_dir();
  options.batch_size = request.batch_size();
  return options;
}

wv1::WorkerCompileResponse ToResponse(const absl::StatusOr<kiln::compiler::CompileResult>& result) {
  wv1::WorkerCompileResponse response;
  if (!result.ok()) {
    response.set_code(static_cast<int>(result.status().code()));
    response.set_message(std::string(result.status().message()));
    return response;
  }
  response.set_module_bytes(result->module_bytes);
  *response.mutable_def() = result->def;
  for (const Diagnostic& diag : result->diagnostics) {
    cv1::Diagnostic& out = *response.add_diagnostics();
    out.set_severity(ToProto(diag.severity));
    out.set_location(diag.location);
    out.set_message(diag.message);
  }
  for (const kiln::compiler::PhaseTiming& phase : result->timings) {
    cv1::PhaseTiming& out = *response.add_timings();
    out.set_phase(phase.phase);
    out.set_milliseconds(phase.milliseconds);
  }
  return response;
}

absl::StatusOr<kiln::compiler::CompileResult> FromResponse(wv1::WorkerCompileResponse response) {
  if (response.code() != 0) {
    // A code outside absl's range (a worker cannot send one, but the parent does not trust it)
    // becomes INTERNAL.
    int code = response.code();
    auto status_code = code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated)
                           ? static_cast<absl::StatusCode>(code)
                           : absl::StatusCode::kInternal;
    return absl::Status(status_code, response.message());
  }
  kiln::compiler::CompileResult result;
  result.module_bytes = std::move(*response.mutable_module_bytes());
  result.def = std::move(*response.mutable_def());
  for (const cv1::Diagnostic& diag : response.diagnostics())
    result.diagnostics.push_back({FromProto(diag.severity()), diag.location(), diag.message()});
  for (const cv1::PhaseTiming& phase : response.timings())
    result.timings.push_back({phase.phase(), phase.milliseconds()});
  return result;
}

}  // namespace kiln::compile_worker
