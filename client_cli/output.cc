#include "client_cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime_service/tensor/tensor_spec.h"

namespace kiln::cli {

namespace {

std::string Milliseconds(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), ms < 10 ? "%.2f ms" : "%.1f ms", ms);
  return buffer;
}

template <typename Arguments>
std::string ArgumentList(const Arguments& arguments) {
  return absl::StrJoin(arguments, ", ", [](std::string* out, const mv1::ArgumentDef& arg) {
    absl::StrAppend(out, arg.name(), ": ", TypeString(arg.type()));
  });
}

template <typename Function>
std::string SignatureOf(const Function& function) {
  return absl::StrCat(function.name(), "(", ArgumentList(function.inputs()), ") -> (",
                      ArgumentList(function.outputs()), ")");
}

nlohmann::json ArgumentJson(const mv1::ArgumentDef& arg) {
  return {{"name", arg.name()},
          {"dtype", DataTypeName(arg.type().dtype())},
          {"shape", std::vector<int64_t>(arg.type().shape().begin(), arg.type().shape().end())}};
}

template <typename Function>
nlohmann::json FunctionJson(const Function& function) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& arg : function.inputs()) inputs.push_back(ArgumentJson(arg));
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& arg : function.outputs()) outputs.push_back(ArgumentJson(arg));
  return {{"name", function.name()},
          {"inputs", std::move(inputs)},
          {"outputs", std::move(outputs)},
          {"execution_model", ExecutionModelName(function.execution_model())}};
}

}  // namespace

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNKNOWN_CODE";
  }
}

const char* ExecutionModelName(mv1::ExecutionModel model) {
  switch (model) {
    case mv1::EXECUTION_MODEL_ASYNC: return "async";
    case mv1::EXECUTION_MODEL_INLINE_DYNAMIC: return "inline-dynamic";
    default: return "unspecified";
  }
}

const char* SeverityName(cv1::Severity severity) {
  switch (severity) {
    case cv1::SEVERITY_ERROR: return "error";
    case cv1::SEVERITY_WARNING: return "warning";
    case cv1::SEVERITY_NOTE: return "note";
    case cv1::SEVERITY_REMARK: return "remark";
    default: return "unspecified";
  }
}

std::string Signature(const cv1::FunctionSummary& function) { return SignatureOf(function); }
std::string Signature(const rv1::FunctionSignature& function) { return SignatureOf(function); }

HostTensor FromProto(const rv1::Tensor& tensor) {
  HostTensor out;
  out.name = tensor.name();
  out.dtype = tensor.dtype();
  out.shape.assign(tensor.shape().begin(), tensor.shape().end());
  out.data = tensor.data();
  return out;
}

rv1::Tensor ToProto(HostTensor tensor) {
  rv1::Tensor out;
  out.set_name(std::move(tensor.name));
  out.set_dtype(tensor.dtype);
  for (int64_t dim : tensor.shape) out.add_shape(dim);
  out.set_data(std::move(tensor.data));
  return out;
}

absl::Status CheckTensor(const HostTensor& tensor) {
  auto length = ByteLength(tensor.dtype, tensor.shape);
  if (!length.ok()) return length.status();
  if (tensor.data.size() != static_cast<uint64_t>(*length))
    return absl::DataLossError(absl::StrCat("tensor '", tensor.name, "' ",
                                            TypeString(tensor.dtype, tensor.shape), " has ",
                                            tensor.data.size(), " bytes, expected ", *length));
  return absl::OkStatus();
}

nlohmann::json TensorJson(const HostTensor& tensor) {
  nlohmann::json data = nlohmann::json::array();
  size_t size = DataTypeSize(tensor.dtype);
  size_t count = size ? tensor.data.size() / size : 0;
  for (size_t i = 0; i < count; ++i) {
    ElementValue value = ElementAt(tensor, i);
    if (const double* number = std::get_if<double>(&value)) {
      if (!std::isfinite(*number)) {
        data.push_back(nullptr);
      } else if (tensor.dtype == mv1::DATA_TYPE_F64) {
        data.push_back(*number);
      } else {
        // Go through the shortest text for the element's own width, so an f32 0.1 prints as
        // 0.1 instead of 0.10000000149011612 and still reads back as the same f32.
        std::string text = FormatElement(tensor.dtype, tensor.data.data() + i * size);
        data.push_back(std::strtod(text.c_str(), nullptr));
      }
    } else if (const int64_t* integer = std::get_if<int64_t>(&value)) {
      data.push_back(*integer);
    } else if (const uint64_t* unsigned_integer = std::get_if<uint64_t>(&value)) {
      data.push_back(*unsigned_integer);
    } else {
      data.push_back(std::get<bool>(value));
    }
  }
  return {{"name", tensor.name},
          {"dtype", DataTypeName(tensor.dtype)},
          {"shape", tensor.shape},
          {"data", std::move(data)}};
}

std::string CompileText(const cv1::CompileResponse& response) {
  std::string out = absl::StrCat(response.digest(), "\n");
  absl::StrAppend(&out, "  cache: ", response.cache_hit() ? "hit" : "miss", "\n");
  absl::StrAppend(&out, "  module size: ", response.module_size(), " bytes\n");
  if (!response.timings().empty()) {
    double total = 0;
    std::vector<std::string> phases;
    for (const auto& timing : response.timings()) {
      total += timing.milliseconds();
      phases.push_back(absl::StrCat(timing.phase(), " ", Milliseconds(timing.milliseconds())));
    }
    absl::StrAppend(&out, "  timings: ", absl::StrJoin(phases, ", "), " (total ",
                    Milliseconds(total), ")\n");
  }
  for (const auto& function : response.functions()) {
    absl::StrAppend(&out, "  ", Signature(function), "\n");
    absl::StrAppend(&out, "    execution model: ", ExecutionModelName(function.execution_model()));
    if (!function.execution_model_reason().empty())
      absl::StrAppend(&out, " (", function.execution_model_reason(), ")");
    out.push_back('\n');
  }
  return out;
}

std::string DiagnosticsText(const cv1::CompileResponse& response) {
  std::string out;
  for (const auto& diagnostic : response.diagnostics()) {
    if (!diagnostic.location().empty()) absl::StrAppend(&out, diagnostic.location(), ": ");
    absl::StrAppend(&out, SeverityName(diagnostic.severity()), ": ", diagnostic.message(), "\n");
  }
  return out;
}

nlohmann::json CompileJson(const cv1::CompileResponse& response) {
  nlohmann::json timings = nlohmann::json::object();
  for (const auto& timing : response.timings()) timings[timing.phase()] = timing.milliseconds();
  nlohmann::json functions = nlohmann::json::array();
  for (const auto& function : response.functions()) {
    nlohmann::json json = FunctionJson(function);
    json["execution_model_reason"] = function.execution_model_reason();
    functions.push_back(std::move(json));
  }
  nlohmann::json diagnostics = nlohmann::json::array();
  for (const auto& diagnostic : response.diagnostics()) {
    diagnostics.push_back({{"severity", SeverityName(diagnostic.severity())},
                           {"location", diagnostic.location()},
                           {"message", diagnostic.message()}});
  }
  return {{"digest", response.digest()},
          {"cache_hit", response.cache_hit()},
          {"module_size", response.module_size()},
          {"timings", std::move(timings)},
          {"functions", std::move(functions)},
          {"diagnostics", std::move(diagnostics)}};
}

std::string LoadText(const rv1::LoadModuleResponse& response) {
  const rv1::ModuleInfo& module = response.module();
  std::string out = absl::StrCat("loaded ", module.name(), " (", module.digest(), ") in ",
                                 Milliseconds(response.load_milliseconds()), "\n");
  for (const auto& function : module.functions())
    absl::StrAppend(&out, "  ", Signature(function), " [",
                    ExecutionModelName(function.execution_model()), "]\n");
  return out;
}

nlohmann::json ModuleInfoJson(const rv1::ModuleInfo& module) {
  nlohmann::json functions = nlohmann::json::array();
  for (const auto& function : module.functions()) functions.push_back(FunctionJson(function));
  return {{"name", module.name()},
          {"digest", module.digest()},
          {"functions", std::move(functions)},
          {"invocation_count", module.invocation_count()}};
}

nlohmann::json LoadJson(const rv1::LoadModuleResponse& response) {
  nlohmann::json json = ModuleInfoJson(response.module());
  json["load_ms"] = response.load_milliseconds();
  return json;
}

std::string ListText(const rv1::ListModulesResponse& response) {
  if (response.modules().empty()) return "no modules loaded\n";
  // sha256: plus 12 hex digits is plenty to tell loaded modules apart.
  constexpr size_t kDigestWidth = 19;
  std::vector<std::vector<std::string>> rows = {{"NAME", "DIGEST", "CALLS", "FUNCTIONS"}};
  for (const auto& module : response.modules()) {
    std::vector<std::string> names;
    for (const auto& function : module.functions()) names.push_back(function.name());
    rows.push_back({module.name(), module.digest().substr(0, kDigestWidth),
                    absl::StrCat(module.invocation_count()), absl::StrJoin(names, ", ")});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

nlohmann::json ListJson(const rv1::ListModulesResponse& response) {
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& module : response.modules()) modules.push_back(ModuleInfoJson(module));
  return {{"modules", std::move(modules)}};
}

std::string InvokeText(const rv1::InvokeResponse& response, size_t max_elements) {
  std::string out;
  for (const auto& output : response.outputs())
    absl::StrAppend(&out, FormatTensor(FromProto(output), max_elements), "\n");
  return out;
}

nlohmann::json InvokeJson(const rv1::InvokeResponse& response) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& output : response.outputs()) outputs.push_back(TensorJson(FromProto(output)));
  return {{"outputs", std::move(outputs)},
          {"request_id", response.request_id()},
          {"compute_ms", response.compute_milliseconds()}};
}

}  // namespace kiln::cli
