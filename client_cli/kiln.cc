// kiln: the operations CLI for kilnd (compile, artifacts, load, unload, list, models, infer,
// stats, metrics, bench, health).
//
// Exit codes: 0 success; 1 an error (RPC status, bad input, usage); 2 kilnd cannot be reached.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client_cli/output.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"
#include "kiln/compiler/v1/compiler.grpc.pb.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/tensor/input_shape.h"
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
// `kiln compile` names sources at least this large by their digest first (see RunCompile).
constexpr size_t kProbeMinBytes = size_t{1} << 20;

struct GlobalOptions {
  std::string server = "127.0.0.1:8001";
  bool json = false;
  double timeout_seconds = 60;
  // TLS and the bearer token (kilnd's --tls-cert and --token-file): file paths as given, and
  // the PEM text read from them before any command runs.
  std::string tls_ca, tls_cert, tls_key, token;
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;

  // A token implies TLS: kilnd takes tokens only over TLS (without --tls-ca, the system's CA
  // certificates verify kilnd's).
  bool tls() const { return !tls_ca.empty() || !tls_cert.empty() || !token.empty(); }
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
  // `channel_id` > 0 gives the connection its own TCP connection (gRPC otherwise shares one
  // between channels with equal arguments), as separate clients would have.
  explicit Connection(const GlobalOptions& options, int channel_id = 0) : options_(options) {
    grpc::ChannelArguments args;
    if (channel_id > 0) args.SetInt("kiln.client_id", channel_id);
    args.SetMaxReceiveMessageSize(1 << 30);
    // Each connection attempt gets 3 s instead of gRPC's 20 s, so an unroutable address fails
    // fast rather than eating the whole deadline.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 3000);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (options.tls()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = options.tls_ca_pem;
      ssl.pem_cert_chain = options.tls_cert_pem;
      ssl.pem_private_key = options.tls_key_pem;
      credentials = grpc::SslCredentials(ssl);
    }
    channel_ = grpc::CreateCustomChannel(options.server, credentials, args);
  }

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::duration<double>(options_.timeout_seconds)));
    if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
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
  std::vector<std::string> input_shapes;  // NAME=DIMxDIM...
  int64_t batch_size = 0;
  std::string execution_model = "auto";
  std::string executable_format;
  bool no_cache = false;
  std::string output;  // -o: also download the module
};

// Streams a cached module into `path` (temp file + rename) and checks its SHA-256.
int DownloadArtifact(const Connection& connection, const std::string& digest,
                     const std::string& path) {
  auto stub = cv1::CompilerService::NewStub(connection.channel());
  cv1::GetArtifactRequest request;
  request.set_digest(digest);
  grpc::ClientContext context;
  connection.Prepare(&context);
  std::string temp = absl::StrCat(path, ".part.", ::getpid());
  std::ofstream out(temp, std::ios::binary | std::ios::trunc);
  if (!out) return LocalError(absl::StrCat("cannot write ", temp, ": ", std::strerror(errno)));
  auto reader = stub->GetArtifact(&context, request);
  cv1::ArtifactChunk chunk;
  Sha256Hasher hasher;
  uint64_t received = 0, total = 0;
  std::string expected;
  bool malformed = false;
  while (reader->Read(&chunk)) {
    if (received == 0) {
      total = chunk.total_bytes();
      expected = chunk.file_sha256();
    }
    if (chunk.offset() != received) malformed = true;
    hasher.Update(chunk.data());
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    received += chunk.data().size();
  }
  grpc::Status status = reader->Finish();
  out.close();
  auto fail = [&](int code) {
    std::filesystem::remove(temp);
    return code;
  };
  if (!status.ok()) return fail(connection.Fail(status));
  if (!out) return fail(LocalError(absl::StrCat("cannot write ", temp)));
  std::string actual = DigestString(hasher.Finish());
  if (malformed || received != total || actual != expected)
    return fail(LocalError(absl::StrCat("the module download of ", digest, " is corrupt: got ",
                                        received, " of ", total, " bytes hashing to ", actual,
                                        ", expected ", expected)));
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return fail(LocalError(absl::StrCat("cannot write ", path, ": ", ec.message())));
  return 0;
}

// Calls `rpc` on another thread; while it runs longer than half a second, shows a progress
// line on stderr (only when stderr is a terminal, so scripts and logs stay clean).
grpc::Status WithProgress(const std::string& what, const std::function<grpc::Status()>& rpc) {
  auto result = std::async(std::launch::async, rpc);
  if (!::isatty(STDERR_FILENO)) return result.get();
  auto start = std::chrono::steady_clock::now();
  bool shown = false;
  while (result.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds < 0.5) continue;
    std::fprintf(stderr, "\r%s ... %.1f s", what.c_str(), seconds);
    std::fflush(stderr);
    shown = true;
  }
  if (shown) std::fprintf(stderr, "\r\033[K");
  return result.get();
}

int RunCompile(const GlobalOptions& options, const CompileOptions& compile) {
  auto shapes = ParseInputShapes(compile.input_shapes);
  if (!shapes.ok()) return LocalError(std::string(shapes.status().message()));
  // The source stays out of the request until it has to be sent (see the probe below): a
  // copy of a 46 MB model costs tens of milliseconds here.
  cv1::CompileRequest request;
  std::string source;
  if (compile.file == "-") {
    source.assign(std::istreambuf_iterator<char>(std::cin), {});
    request.set_source_name("<stdin>");
  } else {
    std::ifstream in(compile.file, std::ios::binary | std::ios::ate);
    if (!in)
      return LocalError(absl::StrCat("cannot read ", compile.file, ": ", std::strerror(errno)));
    // One read into one allocation, not a character iterator (a third of a second at 46 MB).
    const std::streamoff size = in.tellg();
    if (size > 0) source.resize(static_cast<size_t>(size));
    in.seekg(0);
    if (!in.read(source.data(), static_cast<std::streamsize>(source.size())) || in.peek() != EOF)
      return LocalError(absl::StrCat("cannot read ", compile.file, " (it changed while read?)"));
    request.set_source_name(std::filesystem::path(compile.file).filename().string());
  }
  if (!compile.name.empty()) request.set_source_name(compile.name);
  if (compile.format == "linalg") {
    request.set_source_format(cv1::SOURCE_FORMAT_MLIR_LINALG);
  } else if (compile.format == "tosa") {
    request.set_source_format(cv1::SOURCE_FORMAT_MLIR_TOSA);
  } else if (compile.format == "onnx" ||
             (compile.format == "auto" &&
              std::filesystem::path(compile.file).extension() == ".onnx")) {
    request.set_source_format(cv1::SOURCE_FORMAT_ONNX);
  }
  cv1::CompileOptions* compile_options = request.mutable_options();
  for (const auto& [name, dims] : *shapes) {
    cv1::InputShape& shape = *compile_options->add_input_shapes();
    shape.set_name(name);
    shape.mutable_dims()->Add(dims.begin(), dims.end());
  }
  compile_options->set_batch_size(compile.batch_size);
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
  grpc::Status status;
  // A large source is named by its digest first: a cache hit then uploads nothing (resnet18:
  // 46 MB) and the server hashes nothing. NOT_FOUND means not compiled yet; any other refusal
  // (a kilnd that predates source_digest sees an empty source) is answered by sending it.
  bool answered = false;
  if (source.size() >= kProbeMinBytes && !compile.no_cache) {
    cv1::CompileRequest probe = request;
    probe.set_source_digest(
        DigestString(Sha256Tree(source, std::max(1u, std::thread::hardware_concurrency()))));
    grpc::ClientContext context;
    connection.Prepare(&context);
    status = stub->Compile(&context, probe, &response);
    answered = status.ok();
  }
  if (!answered) {
    request.set_source(std::move(source));
    grpc::ClientContext context;
    connection.Prepare(&context);
    status = WithProgress(absl::StrCat("compiling ", request.source_name()),
                          [&] { return stub->Compile(&context, request, &response); });
  }
  if (!status.ok()) return connection.Fail(status);
  if (!compile.output.empty()) {
    if (int code = DownloadArtifact(connection, response.digest(), compile.output); code != 0)
      return code;
  }
  if (options.json) {
    nlohmann::json json = CompileJson(response);
    if (!compile.output.empty()) json["output"] = compile.output;
    PrintJson(json);
  } else {
    std::cerr << DiagnosticsText(response);
    std::cout << CompileText(response);
    if (!compile.output.empty()) std::cout << "  written to " << compile.output << "\n";
  }
  return 0;
}

// ---- artifacts ----

int RunArtifactsList(const GlobalOptions& options) {
  Connection connection(options);
  auto stub = cv1::CompilerService::NewStub(connection.channel());
  cv1::ListArtifactsResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->ListArtifacts(&context, cv1::ListArtifactsRequest(), &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(ArtifactsJson(response));
  } else {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    std::cout << ArtifactsText(response, now);
  }
  return 0;
}

int RunArtifactsStats(const GlobalOptions& options) {
  Connection connection(options);
  auto stub = cv1::CompilerService::NewStub(connection.channel());
  cv1::CacheStatsResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->CacheStats(&context, cv1::CacheStatsRequest(), &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(CacheStatsJson(response));
  } else {
    std::cout << CacheStatsText(response);
  }
  return 0;
}

int RunArtifactsEvict(const GlobalOptions& options, const std::vector<std::string>& digests,
                      bool all) {
  if (digests.empty() != all)
    return LocalError("give the digests to evict, or --all for every artifact not loaded");
  Connection connection(options);
  auto stub = cv1::CompilerService::NewStub(connection.channel());
  cv1::EvictArtifactsRequest request;
  for (const std::string& digest : digests) request.add_digests(digest);
  request.set_all(all);
  cv1::EvictArtifactsResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->EvictArtifacts(&context, request, &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(EvictJson(response));
  } else {
    std::cout << EvictText(response);
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

// `kiln list` and `kiln models` show the same ListModules answer; models adds status columns.
int RunList(const GlobalOptions& options, bool as_models) {
  Connection connection(options);
  auto stub = rv1::RuntimeService::NewStub(connection.channel());
  rv1::ListModulesResponse response;
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::Status status = stub->ListModules(&context, rv1::ListModulesRequest(), &response);
  if (!status.ok()) return connection.Fail(status);
  if (options.json) {
    PrintJson(as_models ? ModelsJson(response) : ListJson(response));
  } else {
    std::cout << (as_models ? ModelsText(response) : ListText(response));
  }
  return 0;
}

// ---- models / stats ----

int RunStats(const GlobalOptions& options) {
  Connection connection(options);
  cv1::CacheStatsResponse cache;
  {
    auto stub = cv1::CompilerService::NewStub(connection.channel());
    grpc::ClientContext context;
    connection.Prepare(&context);
    grpc::Status status = stub->CacheStats(&context, cv1::CacheStatsRequest(), &cache);
    if (!status.ok()) return connection.Fail(status);
  }
  rv1::ListModulesResponse models;
  {
    auto stub = rv1::RuntimeService::NewStub(connection.channel());
    grpc::ClientContext context;
    connection.Prepare(&context);
    grpc::Status status = stub->ListModules(&context, rv1::ListModulesRequest(), &models);
    if (!status.ok()) return connection.Fail(status);
  }
  if (options.json) {
    PrintJson(StatsJson(cache, models));
  } else {
    std::cout << StatsText(cache, models);
  }
  return 0;
}

// ---- metrics ----

int RunMetrics(const GlobalOptions& options, const std::string& address) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(std::string(address.substr(colon + 1)), &port) || port <= 0 || port > 65535)
    return LocalError(absl::StrCat("--metrics-address '", address, "' is not host:port"));
  // httplib::Client speaks HTTPS when given an https:// address.
  std::string scheme = options.tls() ? "https://" : "http://";
  httplib::Client client(scheme + address, options.tls_cert, options.tls_key);
  if (options.tls()) {
    if (!options.tls_ca.empty()) client.set_ca_cert_path(options.tls_ca);
    client.enable_server_certificate_verification(true);
  }
  if (!options.token.empty()) client.set_bearer_token_auth(options.token);
  client.set_connection_timeout(std::chrono::milliseconds(
      static_cast<int64_t>(std::min(options.timeout_seconds, 10.0) * 1000)));
  client.set_read_timeout(
      std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000)));
  auto response = client.Get("/metrics");
  if (!response) {
    std::cerr << "kiln: cannot reach kilnd metrics at " << address << ": "
              << httplib::to_string(response.error()) << "\n";
    return kExitUnreachable;
  }
  if (response->status != 200) {
    std::string message =
        absl::StrCat("GET ", scheme, address, "/metrics answered HTTP ", response->status);
    // kilnd says why it refused (401/403) in the body.
    if (response->status == 401 || response->status == 403)
      absl::StrAppend(&message, ": ", absl::StripTrailingAsciiWhitespace(response->body));
    return LocalError(message);
  }
  if (options.json) {
    auto json = MetricsJson(response->body);
    if (!json.ok()) return LocalError(std::string(json.status().message()));
    PrintJson({{"samples", *json}});
  } else {
    std::cout << response->body;
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
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    if (!status.ok()) return connection.Fail(status);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());

  for (const auto& output : response.outputs()) {
    absl::Status valid = CheckTensor(FromProto(output));
    if (!valid.ok())
      return LocalError(absl::StrCat("kilnd returned a malformed output: ", valid.message()));
  }
  if (infer.outputs.size() > static_cast<size_t>(response.outputs_size()))
    return LocalError(absl::StrCat(infer.outputs.size(), " --output files given but ", infer.module,
                                   " returned ", response.outputs_size(),
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
      std::printf("round trip over %d calls: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n", infer.repeat,
                  Percentile(latencies_ms, 50), Percentile(latencies_ms, 90),
                  Percentile(latencies_ms, 99));
  }
  return 0;
}

// ---- bench ----

struct BenchOptions {
  std::string module;
  std::string function;
  std::vector<std::string> inputs;
  int requests = 1000;
  int concurrency = 1;
  int warmup = 10;
  // "kiln": RuntimeService.Invoke, the module as loaded; "kserve": KServe ModelInfer, the
  // model as a client of the v2 protocol sees it (any batch, dynamic batching).
  std::string protocol = "kiln";
};

// A ModelInferRequest with raw contents; KServe names every input, so each spec needs NAME=.
absl::StatusOr<inference::ModelInferRequest> BuildKServeRequest(
    const std::string& model, const std::vector<std::string>& inputs) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  for (const std::string& spec : inputs) {
    std::string shown = spec.size() > 60 ? spec.substr(0, 57) + "..." : spec;
    auto tensor = ParseTensorSpec(spec);
    if (!tensor.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("--input ", shown, ": ", tensor.status().message()));
    if (tensor->name.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "--input ", shown, ": --protocol kserve names every input; write NAME=", shown));
    auto* in = request.add_inputs();
    in->set_name(tensor->name);
    in->set_datatype(std::string(KServeDatatype(tensor->dtype).value_or("UNSPECIFIED")));
    for (int64_t dim : tensor->shape) in->add_shape(dim);
    request.add_raw_input_contents(std::move(tensor->data));
  }
  return request;
}

absl::StatusOr<rv1::InvokeRequest> BuildInvokeRequest(const std::string& module,
                                                      const std::string& function,
                                                      const std::vector<std::string>& inputs) {
  rv1::InvokeRequest request;
  request.set_module(module);
  request.set_function(function);
  for (const std::string& spec : inputs) {
    auto tensor = ParseTensorSpec(spec);
    if (!tensor.ok()) {
      std::string shown = spec.size() > 60 ? spec.substr(0, 57) + "..." : spec;
      return absl::InvalidArgumentError(
          absl::StrCat("--input ", shown, ": ", tensor.status().message()));
    }
    *request.add_inputs() = ToProto(*std::move(tensor));
  }
  return request;
}

// N requests over C clients, each a thread with its own channel and connection, all started
// together after a warm-up; latencies are round trips as the client sees them.
int RunBench(const GlobalOptions& options, const BenchOptions& bench) {
  const bool kserve = bench.protocol == "kserve";
  if (kserve && !bench.function.empty())
    return LocalError("--function is for --protocol kiln; a KServe model runs its one function");
  auto request = BuildInvokeRequest(bench.module, bench.function, bench.inputs);
  if (!request.ok()) return LocalError(std::string(request.status().message()));
  absl::StatusOr<inference::ModelInferRequest> kserve_request;
  if (kserve) {
    kserve_request = BuildKServeRequest(bench.module, bench.inputs);
    if (!kserve_request.ok()) return LocalError(std::string(kserve_request.status().message()));
  }
  const int clients = bench.concurrency;
  std::vector<std::unique_ptr<Connection>> connections;
  connections.reserve(clients);
  for (int i = 0; i < clients; ++i)
    connections.push_back(std::make_unique<Connection>(options, i + 1));

  std::atomic<int> next{0};
  std::mutex mutex;
  BenchResult result;
  result.module = bench.module;
  result.protocol = bench.protocol;
  result.concurrency = clients;
  grpc::Status first_failure;
  std::latch ready(clients + 1);
  std::latch go(1);
  std::vector<std::vector<double>> latencies(clients);
  std::vector<std::thread> threads;
  threads.reserve(clients);
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = rv1::RuntimeService::NewStub(connections[c]->channel());
      auto kserve_stub = inference::GRPCInferenceService::NewStub(connections[c]->channel());
      auto call = [&]() {
        grpc::ClientContext context;
        connections[c]->Prepare(&context);
        if (kserve) {
          inference::ModelInferResponse response;
          return kserve_stub->ModelInfer(&context, *kserve_request, &response);
        }
        rv1::InvokeResponse response;
        return stub->Invoke(&context, *request, &response);
      };
      for (int i = 0; i < std::max(1, bench.warmup / clients); ++i) call();
      ready.count_down();
      go.wait();
      latencies[c].reserve(bench.requests / clients + 1);
      while (next.fetch_add(1) < bench.requests) {
        auto start = std::chrono::steady_clock::now();
        grpc::Status status = call();
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        if (status.ok()) {
          latencies[c].push_back(ms);
          continue;
        }
        std::lock_guard<std::mutex> lock(mutex);
        if (result.errors++ == 0) {
          first_failure = status;
          result.first_error =
              absl::StrCat(StatusCodeName(status.error_code()), ": ", status.error_message());
        }
      }
    });
  }
  ready.arrive_and_wait();
  auto start = std::chrono::steady_clock::now();
  go.count_down();
  for (std::thread& thread : threads) thread.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& part : latencies)
    result.latencies_ms.insert(result.latencies_ms.end(), part.begin(), part.end());
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  // Nothing got through: report it like any other failed call (exit 2 if kilnd is not there).
  if (result.latencies_ms.empty() && result.errors > 0) return connections[0]->Fail(first_failure);
  if (options.json) {
    PrintJson(BenchJson(result));
  } else {
    std::cout << BenchText(result);
  }
  return result.errors > 0 ? kExitError : 0;
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
  app.add_option("--tls-ca", options.tls_ca,
                 "PEM CA certificates that signed kilnd's --tls-cert (connects over TLS)")
      ->envname("KILN_TLS_CA");
  app.add_option("--tls-cert", options.tls_cert,
                 "PEM client certificate, for a kilnd with --tls-client-ca (with --tls-key)");
  app.add_option("--tls-key", options.tls_key, "PEM private key of --tls-cert");
  app.add_option("--token", options.token, "bearer token from kilnd's --token-file (implies TLS)")
      ->envname("KILN_TOKEN");

  CLI::App* health = app.add_subcommand("health", "Check that kilnd is serving (exit 0 if so)");

  CompileOptions compile;
  CLI::App* compile_cmd =
      app.add_subcommand("compile", "Compile a program into a cached module; prints its digest");
  compile_cmd
      ->add_option("file", compile.file,
                   "MLIR source, text or bytecode, or an ONNX model (.onnx); - for stdin")
      ->required();
  compile_cmd->add_option("--name", compile.name,
                          "Source name for diagnostics and the module (default: FILE's name)");
  compile_cmd
      ->add_option("--format,--input-format", compile.format,
                   "Source format (auto: onnx for a .onnx file, else by content)")
      ->check(CLI::IsMember({"auto", "linalg", "tosa", "onnx"}))
      ->capture_default_str();
  compile_cmd
      ->add_option("--input-shape", compile.input_shapes,
                   "ONNX: full shape of a graph input with dynamic dims, NAME=DIMxDIM... "
                   "(e.g. input=1x3x224x224; repeatable)")
      ->allow_extra_args(false);
  compile_cmd->add_option("--batch-size", compile.batch_size,
                          "Compile a program whose inputs have a dynamic leading (batch) dim "
                          "(tensor<?x...>, a dynamic ONNX first axis) for this batch");
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
  compile_cmd->add_option("--output,-o", compile.output,
                          "Also download the compiled module file to this path");

  CLI::App* artifacts = app.add_subcommand("artifacts", "Inspect and manage the artifact cache");
  artifacts->require_subcommand(1);
  CLI::App* artifacts_list =
      artifacts->add_subcommand("list", "List cached modules, most recently used first");
  CLI::App* artifacts_stats = artifacts->add_subcommand("stats", "Artifact cache statistics");
  std::vector<std::string> evict_digests;
  bool evict_all = false;
  CLI::App* artifacts_evict = artifacts->add_subcommand(
      "evict", "Remove cached modules (those of loaded modules are always kept)");
  artifacts_evict->add_option("digests", evict_digests, "Digests to evict (sha256:...)");
  artifacts_evict->add_flag("--all", evict_all, "Evict every artifact that is not loaded");

  std::string digest, load_name;
  CLI::App* load = app.add_subcommand("load", "Load a compiled module by digest");
  load->add_option("digest", digest, "Module digest from kiln compile (sha256:...)")->required();
  load->add_option("--name", load_name, "Name requests will use for the module")->required();

  std::string unload_name;
  CLI::App* unload = app.add_subcommand("unload", "Unload a module");
  unload->add_option("name", unload_name, "Loaded module name")->required();

  CLI::App* list = app.add_subcommand("list", "List loaded modules");
  CLI::App* models = app.add_subcommand("models", "List loaded modules with their status");
  CLI::App* stats = app.add_subcommand("stats", "Artifact cache and per-module statistics");

  std::string metrics_address = "127.0.0.1:8002";
  CLI::App* metrics = app.add_subcommand("metrics", "Print kilnd's Prometheus metrics");
  metrics->add_option("--metrics-address", metrics_address, "kilnd's --metrics-listen address")
      ->envname("KILN_METRICS_ADDRESS")
      ->capture_default_str();

  BenchOptions bench;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench",
      "Send N inference requests from C concurrent clients; print latency percentiles "
      "and throughput");
  bench_cmd->add_option("module", bench.module, "Loaded module name")->required();
  bench_cmd->add_option("--function,-f", bench.function, "Function to run");
  bench_cmd->add_option("--input,-i", bench.inputs, "Input tensor, as for infer (repeatable)")
      ->allow_extra_args(false);
  bench_cmd->add_option("--requests,-n", bench.requests, "Requests to send in all")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  bench_cmd->add_option("--concurrency,-c", bench.concurrency, "Concurrent clients")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  bench_cmd->add_option("--warmup", bench.warmup, "Unmeasured requests first")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  bench_cmd
      ->add_option("--protocol", bench.protocol,
                   "kiln: RuntimeService.Invoke of the loaded module; kserve: KServe ModelInfer "
                   "of the model (any batch, dynamic batching; inputs need NAME=)")
      ->check(CLI::IsMember({"kiln", "kserve"}))
      ->capture_default_str();

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
  if (options.tls_cert.empty() != options.tls_key.empty())
    return LocalError("--tls-cert and --tls-key go together");
  for (auto [flag, path, pem] : {std::tuple{"--tls-ca", &options.tls_ca, &options.tls_ca_pem},
                                 {"--tls-cert", &options.tls_cert, &options.tls_cert_pem},
                                 {"--tls-key", &options.tls_key, &options.tls_key_pem}}) {
    if (path->empty()) continue;
    std::ifstream in(*path, std::ios::binary);
    if (!in)
      return LocalError(absl::StrCat("cannot read ", flag, " ", *path, ": ", std::strerror(errno)));
    *pem = std::string(std::istreambuf_iterator<char>(in), {});
  }

  if (health->parsed()) return RunHealth(options);
  if (compile_cmd->parsed()) return RunCompile(options, compile);
  if (load->parsed()) return RunLoad(options, digest, load_name);
  if (unload->parsed()) return RunUnload(options, unload_name);
  if (list->parsed()) return RunList(options, /*as_models=*/false);
  if (artifacts_list->parsed()) return RunArtifactsList(options);
  if (artifacts_stats->parsed()) return RunArtifactsStats(options);
  if (artifacts_evict->parsed()) return RunArtifactsEvict(options, evict_digests, evict_all);
  if (models->parsed()) return RunList(options, /*as_models=*/true);
  if (stats->parsed()) return RunStats(options);
  if (metrics->parsed()) return RunMetrics(options, metrics_address);
  if (bench_cmd->parsed()) return RunBench(options, bench);
  if (infer_cmd->parsed()) return RunInfer(options, infer);
  return kExitError;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace kiln::cli

int main(int argc, char** argv) { return kiln::cli::Main(argc, argv); }
