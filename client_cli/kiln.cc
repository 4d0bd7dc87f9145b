// kiln: the operations CLI for kilnd (compile, load, list, infer, health over gRPC).
//
// Exit codes: 0 success; 1 an error (RPC status, bad input, usage); 2 kilnd cannot be reached.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client_cli/output.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "kiln/compiler/v1/compiler.grpc.pb.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "runtime_service/tensor/npy.h"
#include "runtime_service/tensor/tensor_spec.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

namespace kiln::cli {
namespace {

namespace hv1 = grpc::health::v1;

constexpr int kExitError = 1;
constexpr int kExitUnreachable = 2;

struct GlobalOptions {
  std::string server = "127.0.0.1:8001";
  bool json = false;
  double timeout_seconds = 60;
};

int LocalError(std::string_view message) {
  std::cerr << "kiln: error: " << message << "\n";
  return kExitError;
}

void PrintJson(const nlohmann::json& json) {
  // One line per document; names from the server are not trusted to be valid UTF-8.
  std::cout << json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

class Connection {
 public:
  explicit Connection(const GlobalOptions& options) : options_(options) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(1 << 30);
    // Each connection attempt gets 3 s instead of gRPC's 20 s, so an unroutable address fails
    // fast rather than eating the whole deadline.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 3000);
    channel_ = grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args);
  }

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::duration<double>(options_.timeout_seconds)));
  }

  // Prints a failed call's status and returns the exit code. UNAVAILABLE or a deadline while the
  // channel never got a connection means kilnd is not there; the same codes from a connected
  // server are its own answer.
  int Fail(const grpc::Status& status) const {
    bool transport = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (transport && channel_->GetState(false) != GRPC_CHANNEL_READY) {
      std::cerr << "kiln: cannot reach kilnd at " << options_.server << ": "
                << status.error_message() << "\n";
      return kExitUnreachable;
    }
    std::cerr << "kiln: error: " << StatusCodeName(status.error_code());
    if (!status.error_message().empty()) std::cerr << ": " << status.error_message();
    std::cerr << "\n";
    return kExitError;
  }

 private:
  const GlobalOptions& options_;
  std::shared_ptr<grpc::Channel> channel_;
};

// ---- health ----

int RunHealth(const GlobalOptions& options) {
  Connection connection(options);
  auto stub = hv1::Health::NewStub(connection.channel());
  hv1::HealthCheckRequest request;
  request.set_service("");
  hv1::HealthCheckResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return connection.Fail(status);
  std::string name = hv1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (options.json) {
    PrintJson({{"status", name}});
  } else {
    std::cout << name << "\n";
  }
  return response.status() == hv1::HealthCheckResponse::SERVING ? 0 : kExitError;
}

// ---- compile ----

struct CompileOptions {
  std::string file;
  std::string name;
  std::string format = "auto";
  std::string target_cpu;
  std::vector<std::string> target_features;
  std::string execution_model = "auto";
  std::string executable_format;
  bool no_cache = false;
};

int RunCompile(const GlobalOptions& options, const CompileOptions& compile) {
  cv1::CompileRequest request;
  if (compile.file == "-") {
    request.set_source(std::string(std::istreambuf_iterator<char>(std::cin), {}));
    request.set_source_name("<stdin>");
  } else {
    std::ifstream in(compile.file, std::ios::binary);
    if (!in)
      return LocalError(absl::StrCat("cannot read ", compile.file, ": ", std::strerror(errno)));
    request.set_source(std::string(std::istreambuf_iterator<char>(in), {}));
    if (in.bad()) return LocalError(absl::StrCat("cannot read ", compile.file));
    request.set_source_name(std::filesystem::path(compile.file).filename().string());
  }
  if (!compile.name.empty()) request.set_source_name(compile.name);
  if (compile.format == "linalg") {
    request.set_source_format(cv1::SOURCE_FORMAT_MLIR_LINALG);
  } else if (compile.format == "tosa") {
    request.set_source_format(cv1::SOURCE_FORMAT_MLIR_TOSA);
  }
  cv1::CompileOptions* compile_options = request.mutable_options();
  compile_options->set_target_cpu(compile.target_cpu);
  for (const auto& feature : compile.target_features) compile_options->add_target_features(feature);
  if (compile.execution_model == "async") {
    compile_options->set_execution_model(mv1::EXECUTION_MODEL_ASYNC);
  } else if (compile.execution_model == "inline-dynamic") {
    compile_options->set_execution_model(mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
  }
  if (compile.executable_format == "embedded-elf") {
    compile_options->set_executable_format(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF);
  } else if (compile.executable_format == "system-library") {
    compile_options->set_executable_format(mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY);
  }
  compile_options->set_do_not_cache(compile.no_cache);

  Connection connection(options);
  auto stub = cv1::CompilerService::NewStub(connection.channel());
  cv1::CompileResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->Compile(&context, request, &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(CompileJson(response));
  } else {
    std::cerr << DiagnosticsText(response);
    std::cout << CompileText(response);
  }
  return 0;
}

// ---- load / unload / list ----

int RunLoad(const GlobalOptions& options, const std::string& digest, const std::string& name) {
  Connection connection(options);
  auto stub = rv1::RuntimeService::NewStub(connection.channel());
  rv1::LoadModuleRequest request;
  request.set_digest(digest);
  request.set_name(name);
  rv1::LoadModuleResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->LoadModule(&context, request, &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(LoadJson(response));
  } else {
    std::cout << LoadText(response);
  }
  return 0;
}

int RunUnload(const GlobalOptions& options, const std::string& name) {
  Connection connection(options);
  auto stub = rv1::RuntimeService::NewStub(connection.channel());
  rv1::UnloadModuleRequest request;
  request.set_name(name);
  rv1::UnloadModuleResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->UnloadModule(&context, request, &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson({{"name", name}, {"unloaded", true}});
  } else {
    std::cout << "unloaded " << name << "\n";
  }
  return 0;
}

int RunList(const GlobalOptions& options) {
  Connection connection(options);
  auto stub = rv1::RuntimeService::NewStub(connection.channel());
  rv1::ListModulesResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->ListModules(&context, rv1::ListModulesRequest(), &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(ListJson(response));
  } else {
    std::cout << ListText(response);
  }
  return 0;
}

// ---- infer ----

struct InferOptions {
  std::string module;
  std::string function;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string request_id;
  int repeat = 1;
};

// Nearest-rank percentile of sorted samples.
double Percentile(const std::vector<double>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int RunInfer(const GlobalOptions& options, const InferOptions& infer) {
  rv1::InvokeRequest request;
  request.set_module(infer.module);
  request.set_function(infer.function);
  request.set_request_id(infer.request_id);
  for (const std::string& spec : infer.inputs) {
    auto tensor = ParseTensorSpec(spec);
    if (!tensor.ok()) {
      std::string shown = spec.size() > 60 ? spec.substr(0, 57) + "..." : spec;
      return LocalError(absl::StrCat("--input ", shown, ": ", tensor.status().message()));
    }
    *request.add_inputs() = ToProto(*std::move(tensor));
  }

  Connection connection(options);
  auto stub = rv1::RuntimeService::NewStub(connection.channel());
  rv1::InvokeResponse response;
  // --repeat measures round trips over one connection: each call is timed end to end.
  std::vector<double> latencies_ms;
  for (int i = 0; i < infer.repeat; ++i) {
    response.Clear();
    grpc::ClientContext context;
    connection.Prepare(&context);
    auto start = std::chrono::steady_clock::now();
    grpc::Status status = stub->Invoke(&context, request, &response);
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - start).count());
    if (!status.ok()) return connection.Fail(status);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());

  for (const auto& output : response.outputs()) {
    absl::Status valid = CheckTensor(FromProto(output));
    if (!valid.ok())
      return LocalError(absl::StrCat("kilnd returned a malformed output: ", valid.message()));
  }
  if (infer.outputs.size() > static_cast<size_t>(response.outputs_size()))
    return LocalError(absl::StrCat(infer.outputs.size(), " --output files given but ",
                                   infer.module, " returned ", response.outputs_size(),
                                   response.outputs_size() == 1 ? " output" : " outputs"));
  for (size_t i = 0; i < infer.outputs.size(); ++i) {
    std::string path = infer.outputs[i];
    if (!path.empty() && path[0] == '@') path.erase(0, 1);
    absl::Status written = WriteNpyFile(path, FromProto(response.outputs(static_cast<int>(i))));
    if (!written.ok()) return LocalError(absl::StrCat(path, ": ", written.message()));
  }

  if (options.json) {
    nlohmann::json json = InvokeJson(response);
    if (infer.repeat > 1)
      json["latency_ms"] = {{"count", infer.repeat},
                            {"p50", Percentile(latencies_ms, 50)},
                            {"p90", Percentile(latencies_ms, 90)},
                            {"p99", Percentile(latencies_ms, 99)}};
    PrintJson(json);
  } else {
    std::cout << InvokeText(response);
    if (infer.repeat > 1)
      std::printf("round trip over %d calls: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n",
                  infer.repeat, Percentile(latencies_ms, 50), Percentile(latencies_ms, 90),
                  Percentile(latencies_ms, 99));
  }
  return 0;
}

int Main(int argc, char** argv) {
  GlobalOptions options;
  CLI::App app{"kiln: operations CLI for kilnd, the kiln compile and inference daemon", "kiln"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.add_option("--server", options.server, "kilnd gRPC address, host:port")
      ->envname("KILN_SERVER")
      ->capture_default_str();
  app.add_flag("--json", options.json, "Print machine-readable JSON (one line)");
  app.add_option("--timeout", options.timeout_seconds, "RPC deadline in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  CLI::App* health = app.add_subcommand("health", "Check that kilnd is serving (exit 0 if so)");

  CompileOptions compile;
  CLI::App* compile_cmd =
      app.add_subcommand("compile", "Compile a program into a cached module; prints its digest");
  compile_cmd->add_option("file", compile.file, "MLIR source, text or bytecode (- for stdin)")
      ->required();
  compile_cmd->add_option("--name", compile.name,
                          "Source name for diagnostics and the module (default: FILE's name)");
  compile_cmd->add_option("--format", compile.format, "Source dialects")
      ->check(CLI::IsMember({"auto", "linalg", "tosa"}))
      ->capture_default_str();
  compile_cmd->add_option("--target-cpu", compile.target_cpu,
                          "LLVM CPU name to compile for (default: the server's host)");
  compile_cmd
      ->add_option("--target-feature", compile.target_features,
                   "Extra LLVM target feature, e.g. +avx512f (repeatable)")
      ->allow_extra_args(false);
  compile_cmd->add_option("--execution-model", compile.execution_model, "Execution model")
      ->check(CLI::IsMember({"auto", "async", "inline-dynamic"}))
      ->capture_default_str();
  compile_cmd
      ->add_option("--executable-format", compile.executable_format,
                   "Executable format (default: the compiler's)")
      ->check(CLI::IsMember({"embedded-elf", "system-library"}));
  compile_cmd->add_flag("--no-cache", compile.no_cache,
                        "Compile again even if the artifact cache has the module");

  std::string digest, load_name;
  CLI::App* load = app.add_subcommand("load", "Load a compiled module by digest");
  load->add_option("digest", digest, "Module digest from kiln compile (sha256:...)")->required();
  load->add_option("--name", load_name, "Name requests will use for the module")->required();

  std::string unload_name;
  CLI::App* unload = app.add_subcommand("unload", "Unload a module");
  unload->add_option("name", unload_name, "Loaded module name")->required();

  CLI::App* list = app.add_subcommand("list", "List loaded modules");

  InferOptions infer;
  CLI::App* infer_cmd = app.add_subcommand("infer", "Run a function of a loaded module");
  infer_cmd->add_option("module", infer.module, "Loaded module name")->required();
  infer_cmd->add_option("--function,-f", infer.function,
                        "Function to run (default: the only one, or main)");
  infer_cmd
      ->add_option("--input,-i", infer.inputs,
                   "Input tensor, repeatable, in argument order: [NAME=]DIMSxTYPE=V,V,... "
                   "(x=2x3xf32=1,2,3,4,5,6; f32=3.5 for a scalar) or [NAME=]@FILE.npy")
      ->allow_extra_args(false);
  infer_cmd
      ->add_option("--output,-o", infer.outputs,
                   "Write the i-th output to @FILE.npy (repeatable, in output order)")
      ->allow_extra_args(false);
  infer_cmd->add_option("--request-id", infer.request_id, "Request id echoed back by kilnd");
  infer_cmd
      ->add_option("--repeat", infer.repeat,
                   "Send the request N times and report round-trip latency percentiles")
      ->check(CLI::Range(1, 1000000));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : kExitError;
  }

  if (health->parsed()) return RunHealth(options);
  if (compile_cmd->parsed()) return RunCompile(options, compile);
  if (load->parsed()) return RunLoad(options, digest, load_name);
  if (unload->parsed()) return RunUnload(options, unload_name);
  if (list->parsed()) return RunList(options);
  if (infer_cmd->parsed()) return RunInfer(options, infer);
  return kExitError;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace kiln::cli

int main(int argc, char** argv) { return kiln::cli::Main(argc, argv); }
