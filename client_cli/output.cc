#include "client_cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
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
  nlohmann::json json = {
      {"name", arg.name()},
      {"dtype", DataTypeName(arg.type().dtype())},
      {"shape", std::vector<int64_t>(arg.type().shape().begin(), arg.type().shape().end())}};
  if (arg.batched()) json["batched"] = true;  // the leading dim is the batch it was compiled for
  return json;
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
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "UNKNOWN_CODE";
  }
}

const char* ExecutionModelName(mv1::ExecutionModel model) {
  switch (model) {
    case mv1::EXECUTION_MODEL_ASYNC:
      return "async";
    case mv1::EXECUTION_MODEL_INLINE_DYNAMIC:
      return "inline-dynamic";
    default:
      return "unspecified";
  }
}

const char* SeverityName(cv1::Severity severity) {
  switch (severity) {
    case cv1::SEVERITY_ERROR:
      return "error";
    case cv1::SEVERITY_WARNING:
      return "warning";
    case cv1::SEVERITY_NOTE:
      return "note";
    case cv1::SEVERITY_REMARK:
      return "remark";
    default:
      return "unspecified";
  }
}

const char* ExecutableFormatName(mv1::ExecutableFormat format) {
  switch (format) {
    case mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF:
      return "embedded-elf";
    case mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY:
      return "system-library";
    default:
      return "unspecified";
  }
}

std::string ByteSize(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) value /= 1024, ++unit;
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), value < 10 ? "%.1f %s" : "%.0f %s", value, kUnits[unit]);
  return buffer;
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
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
  absl::StrAppend(&out, "  cache: ", response.cache_hit() ? "hit" : "miss",
                  response.merged() ? " (joined an identical compile in progress)" : "", "\n");
  absl::StrAppend(&out, "  module size: ", response.module_size(), " bytes\n");
  if (response.executable_format() != mv1::EXECUTABLE_FORMAT_UNSPECIFIED)
    absl::StrAppend(
        &out, "  executable format: ", ExecutableFormatName(response.executable_format()), "\n");
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
          {"merged", response.merged()},
          {"module_size", response.module_size()},
          {"executable_format", ExecutableFormatName(response.executable_format())},
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
  return Table(rows);
}

nlohmann::json ListJson(const rv1::ListModulesResponse& response) {
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& module : response.modules()) modules.push_back(ModuleInfoJson(module));
  return {{"modules", std::move(modules)}};
}

std::string ModelsText(const rv1::ListModulesResponse& response) {
  if (response.modules().empty()) return "no modules loaded\n";
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "STATUS", "DIGEST", "CALLS", "EXECUTION", "FUNCTIONS"}};
  for (const auto& module : response.modules()) {
    std::vector<std::string> signatures, models;
    for (const auto& function : module.functions()) {
      signatures.push_back(Signature(function));
      std::string model = ExecutionModelName(function.execution_model());
      if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
    }
    rows.push_back({module.name(), "READY", module.digest().substr(0, 19),
                    absl::StrCat(module.invocation_count()), absl::StrJoin(models, ","),
                    absl::StrJoin(signatures, "; ")});
  }
  return Table(rows);
}

nlohmann::json ModelsJson(const rv1::ListModulesResponse& response) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& module : response.modules()) {
    nlohmann::json json = ModuleInfoJson(module);
    json["status"] = "READY";  // ListModules lists modules that are loaded and serving
    models.push_back(std::move(json));
  }
  return {{"models", std::move(models)}};
}

namespace {

std::string Age(int64_t then_ms, int64_t now_ms) {
  int64_t seconds = std::max<int64_t>(0, (now_ms - then_ms) / 1000);
  if (seconds < 120) return absl::StrCat(seconds, " s ago");
  if (seconds < 7200) return absl::StrCat(seconds / 60, " min ago");
  if (seconds < int64_t{2} * 86400) return absl::StrCat(seconds / 3600, " h ago");
  return absl::StrCat(seconds / 86400, " days ago");
}

}  // namespace

std::string ArtifactsText(const cv1::ListArtifactsResponse& response, int64_t now_unix_ms) {
  if (response.artifacts().empty()) return "the artifact cache is empty\n";
  std::vector<std::vector<std::string>> rows = {{"DIGEST", "SIZE", "LAST USED", "LOADED"}};
  for (const auto& artifact : response.artifacts())
    rows.push_back({artifact.digest(), ByteSize(artifact.size_bytes()),
                    Age(artifact.last_access_unix_ms(), now_unix_ms),
                    artifact.pinned() ? "yes" : "no"});
  return Table(rows);
}

nlohmann::json ArtifactsJson(const cv1::ListArtifactsResponse& response) {
  nlohmann::json artifacts = nlohmann::json::array();
  for (const auto& artifact : response.artifacts())
    artifacts.push_back({{"digest", artifact.digest()},
                         {"size_bytes", artifact.size_bytes()},
                         {"last_access_unix_ms", artifact.last_access_unix_ms()},
                         {"loaded", artifact.pinned()}});
  return {{"artifacts", std::move(artifacts)}};
}

std::string CacheStatsText(const cv1::CacheStatsResponse& r) {
  uint64_t lookups = r.hits() + r.misses();
  char ratio[32] = "-";
  if (lookups > 0)
    std::snprintf(ratio, sizeof(ratio), "%.1f%%",
                  100.0 * static_cast<double>(r.hits()) / static_cast<double>(lookups));
  return absl::StrCat("cache ", r.cache_dir(), "\n", "  entries: ", r.entries(), " (",
                      r.pinned_entries(), " loaded)\n", "  size: ", ByteSize(r.bytes()), " of ",
                      ByteSize(r.max_bytes()), "\n", "  hits: ", r.hits(), ", misses: ", r.misses(),
                      " (hit ratio ", ratio, ")\n", "  evictions: ", r.evictions(),
                      ", corrupt entries dropped: ", r.corrupt_dropped(), "\n",
                      "  compiles: ", r.compiles(), " (", r.compile_failures(), " failed, ",
                      r.merged_compiles(), " requests merged into one in progress)\n");
}

nlohmann::json CacheStatsJson(const cv1::CacheStatsResponse& r) {
  return {{"cache_dir", r.cache_dir()},
          {"entries", r.entries()},
          {"bytes", r.bytes()},
          {"max_bytes", r.max_bytes()},
          {"hits", r.hits()},
          {"misses", r.misses()},
          {"evictions", r.evictions()},
          {"corrupt_dropped", r.corrupt_dropped()},
          {"pinned_entries", r.pinned_entries()},
          {"compiles", r.compiles()},
          {"merged_compiles", r.merged_compiles()},
          {"compile_failures", r.compile_failures()}};
}

std::string EvictText(const cv1::EvictArtifactsResponse& response) {
  std::string out = absl::StrCat("evicted ", response.evicted_size(),
                                 response.evicted_size() == 1 ? " artifact" : " artifacts", " (",
                                 ByteSize(response.bytes_freed()), ")\n");
  for (const auto& digest : response.evicted()) absl::StrAppend(&out, "  ", digest, "\n");
  for (const auto& skipped : response.skipped())
    absl::StrAppend(&out, "kept ", skipped.digest(), ": ", skipped.reason(), "\n");
  return out;
}

nlohmann::json EvictJson(const cv1::EvictArtifactsResponse& response) {
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : response.skipped())
    skipped.push_back({{"digest", s.digest()}, {"reason", s.reason()}});
  return {
      {"evicted", std::vector<std::string>(response.evicted().begin(), response.evicted().end())},
      {"bytes_freed", response.bytes_freed()},
      {"skipped", std::move(skipped)}};
}

std::string StatsText(const cv1::CacheStatsResponse& cache,
                      const rv1::ListModulesResponse& models) {
  std::string out = CacheStatsText(cache);
  uint64_t calls = 0;
  for (const auto& module : models.modules()) calls += module.invocation_count();
  absl::StrAppend(&out, "models: ", models.modules_size(), " loaded, ", calls, " calls\n");
  for (const auto& module : models.modules())
    absl::StrAppend(&out, "  ", module.name(), ": ", module.invocation_count(), " calls\n");
  return out;
}

nlohmann::json StatsJson(const cv1::CacheStatsResponse& cache,
                         const rv1::ListModulesResponse& models) {
  nlohmann::json calls = nlohmann::json::object();
  for (const auto& module : models.modules()) calls[module.name()] = module.invocation_count();
  return {{"cache", CacheStatsJson(cache)}, {"invocations", std::move(calls)}};
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::string BenchText(const BenchResult& r) {
  uint64_t ok = r.latencies_ms.size();
  const uint64_t requests = ok + r.errors;
  double throughput = r.seconds > 0 ? static_cast<double>(ok) / r.seconds : 0;
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer),
                "%s: %llu requests, %d concurrent, %llu errors in %.3f s\n"
                "  latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n"
                "  throughput: %.1f requests/s\n",
                r.module.c_str(), static_cast<unsigned long long>(requests), r.concurrency,
                static_cast<unsigned long long>(r.errors), r.seconds,
                Percentile(r.latencies_ms, 50), Percentile(r.latencies_ms, 90),
                Percentile(r.latencies_ms, 99), ok ? r.latencies_ms.back() : 0.0, throughput);
  std::string out = buffer;
  if (!r.first_error.empty()) absl::StrAppend(&out, "  first error: ", r.first_error, "\n");
  return out;
}

nlohmann::json BenchJson(const BenchResult& r) {
  uint64_t ok = r.latencies_ms.size();
  nlohmann::json json = {
      {"module", r.module},
      {"protocol", r.protocol},
      {"requests", ok + r.errors},
      {"concurrency", r.concurrency},
      {"errors", r.errors},
      {"seconds", r.seconds},
      {"throughput_rps", r.seconds > 0 ? static_cast<double>(ok) / r.seconds : 0.0},
      {"latency_ms",
       {{"p50", Percentile(r.latencies_ms, 50)},
        {"p90", Percentile(r.latencies_ms, 90)},
        {"p99", Percentile(r.latencies_ms, 99)},
        {"max", ok ? r.latencies_ms.back() : 0.0}}}};
  if (!r.first_error.empty()) json["first_error"] = r.first_error;
  return json;
}

absl::StatusOr<nlohmann::json> MetricsJson(std::string_view text) {
  nlohmann::json samples = nlohmann::json::array();
  size_t line_number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&] {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", line_number, " does not parse: ", std::string(line)));
    };
    size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos || name_end == 0) return bad();
    nlohmann::json labels = nlohmann::json::object();
    size_t pos = name_end;
    if (line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        size_t eq = line.find("=\"", pos);
        if (eq == std::string_view::npos) return bad();
        std::string key(line.substr(pos, eq - pos));
        std::string value;
        pos = eq + 2;
        while (pos < line.size() && line[pos] != '"') {
          if (line[pos] == '\\' && pos + 1 < line.size()) {
            char c = line[++pos];
            value += c == 'n' ? '\n' : c;
          } else {
            value += line[pos];
          }
          ++pos;
        }
        if (pos >= line.size()) return bad();
        ++pos;  // closing quote
        if (pos < line.size() && line[pos] == ',') ++pos;
        labels[key] = value;
      }
      if (pos >= line.size()) return bad();
      ++pos;  // '}'
    }
    std::string value_text(line.substr(pos));
    value_text.erase(0, value_text.find_first_not_of(' '));
    value_text = value_text.substr(0, value_text.find(' '));  // drop a timestamp
    char* parsed_end = nullptr;
    double value = std::strtod(value_text.c_str(), &parsed_end);
    if (value_text.empty() || *parsed_end != '\0') return bad();
    nlohmann::json sample = {{"name", std::string(line.substr(0, name_end))},
                             {"labels", std::move(labels)}};
    sample["value"] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(value_text);
    samples.push_back(std::move(sample));
  }
  return samples;
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
