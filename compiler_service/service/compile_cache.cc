#include "compiler_service/service/compile_cache.h"

#include <chrono>
#include <condition_variable>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/tensor/input_shape.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace cv1 = kiln::compiler::v1;
namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kArtifactSchema = "kiln-artifact-v2";  // v2: tree-hashed source

// The request's options, checked: INVALID_ARGUMENT for an unknown source format or malformed
// input shapes (the compiler checks the rest: target, shapes with an MLIR source, the program).
absl::StatusOr<kiln::compiler::CompileOptions> ToCompileOptions(
    const cv1::CompileRequest& request) {
  kiln::compiler::CompileOptions options;
  switch (request.source_format()) {
    case cv1::SOURCE_FORMAT_AUTO:
      options.source_format = kiln::compiler::SourceFormat::kAuto;
      break;
    case cv1::SOURCE_FORMAT_MLIR_LINALG:
      options.source_format = kiln::compiler::SourceFormat::kLinalg;
      break;
    case cv1::SOURCE_FORMAT_MLIR_TOSA:
      options.source_format = kiln::compiler::SourceFormat::kTosa;
      break;
    case cv1::SOURCE_FORMAT_ONNX:
      options.source_format = kiln::compiler::SourceFormat::kOnnx;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown source_format ", static_cast<int>(request.source_format())));
  }
  options.source_name = request.source_name();
  if (options.source_name.empty())
    options.source_name =
        options.source_format == kiln::compiler::SourceFormat::kOnnx ? "input.onnx" : "input.mlir";
  const cv1::CompileOptions& in = request.options();
  options.target_cpu = in.target_cpu().empty() ? "host" : in.target_cpu();
  options.target_features.assign(in.target_features().begin(), in.target_features().end());
  // Open proto3 enums carry any number: one this build does not know is refused, never
  // mapped to a default (format 99 once silently became a system library).
  if (!mv1::ExecutionModel_IsValid(in.execution_model()))
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown execution_model ", static_cast<int>(in.execution_model()),
        " (0 = choose, 1 = EXECUTION_MODEL_ASYNC, 2 = EXECUTION_MODEL_INLINE_DYNAMIC)"));
  if (!mv1::ExecutableFormat_IsValid(in.executable_format()))
    return absl::InvalidArgumentError(
        absl::StrCat("unknown executable_format ", static_cast<int>(in.executable_format()),
                     " (0 = default, 1 = EXECUTABLE_FORMAT_EMBEDDED_ELF, 2 = "
                     "EXECUTABLE_FORMAT_SYSTEM_LIBRARY)"));
  options.execution_model = in.execution_model();
  options.executable_format = in.executable_format();
  for (const cv1::InputShape& shape : in.input_shapes()) {
    std::vector<int64_t> dims(shape.dims().begin(), shape.dims().end());
    if (auto status = CheckInputShape(shape.name(), dims); !status.ok()) return status;
    if (!options.input_shapes.emplace(shape.name(), std::move(dims)).second)
      return absl::InvalidArgumentError(
          absl::StrCat("input_shapes names input '", shape.name(), "' more than once"));
  }
  if (in.batch_size() < 0 || in.batch_size() > kiln::compiler::kMaxBatchSize)
    return absl::InvalidArgumentError(absl::StrCat("batch_size ", in.batch_size(),
                                                   " is outside 0..", kiln::compiler::kMaxBatchSize,
                                                   " (0: no batch)"));
  options.batch_size = in.batch_size();
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
    case kiln::compiler::Diagnostic::Severity::kError:
      return cv1::SEVERITY_ERROR;
    case kiln::compiler::Diagnostic::Severity::kWarning:
      return cv1::SEVERITY_WARNING;
    case kiln::compiler::Diagnostic::Severity::kNote:
      return cv1::SEVERITY_NOTE;
    case kiln::compiler::Diagnostic::Severity::kRemark:
      return cv1::SEVERITY_REMARK;
  }
  return cv1::SEVERITY_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::string> ArtifactDigest(std::string_view source,
                                           const kiln::compiler::CompileOptions& options) {
  // The source through the tree hash, on the compiler's threads: a cache hit of a large model
  // sent whole is mostly this hash (resnet18's 46 MB at 1.8 GB/s per core); a client that
  // sends source_digest first skips it.
  return ArtifactDigestOfSource(Sha256Tree(source, kiln::compiler::CompileThreads()), options);
}

absl::StatusOr<std::string> ArtifactDigestOfSource(const Sha256Hash& source_digest,
                                                   const kiln::compiler::CompileOptions& options) {
  auto options_key = kiln::compiler::CanonicalOptionsKey(options);
  if (!options_key.ok()) return options_key.status();
  Sha256Hasher hasher;
  hasher.UpdateField(kArtifactSchema);
  hasher.UpdateField(
      std::string_view(reinterpret_cast<const char*>(source_digest.data()), source_digest.size()));
  hasher.UpdateField(*options_key);
  hasher.UpdateField(kiln::compiler::CompilerBuildId());
  hasher.UpdateField(absl::StrCat("abi=", KILN_EXECUTABLE_ABI_VERSION));
  return DigestString(hasher.Finish());
}

namespace {

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

mv1::ExecutableFormat FormatOf(const mv1::ModuleDef& def) {
  return def.executables_size() > 0 ? def.executables(0).format()
                                    : mv1::EXECUTABLE_FORMAT_UNSPECIFIED;
}

}  // namespace

CompileCache::CompileCache(const ArtifactStore& store, CompileWorkerPool* workers,
                           metrics::KilnMetrics* metrics)
    : own_metrics_(metrics ? nullptr : std::make_unique<metrics::KilnMetrics>()),
      metrics_(metrics ? *metrics : *own_metrics_),
      store_(store),
      workers_(workers) {}

// The response for a stored artifact; nullopt on a miss. The summary of an artifact this
// process has read is kept: while the store vouches that the file is unchanged (Probe), a hit
// neither reads nor authenticates the module again (resnet18: 45 MB, about 60 ms of the 98 ms a
// hit took). OpenModule verifies the entry otherwise; a corrupt one is dropped (and logged)
// there, and the caller rebuilds it.
std::optional<cv1::CompileResponse> CompileCache::CachedResponse(const std::string& digest,
                                                                 Clock::time_point start) {
  std::optional<cv1::CompileResponse> response;
  {
    std::lock_guard<std::mutex> lock(summaries_mutex_);
    if (auto it = summaries_.find(digest); it != summaries_.end()) response = it->second;
  }
  if (response && !store_.Probe(digest).ok()) response.reset();
  if (!response) {
    auto cached = store_.OpenModule(digest);
    if (!cached.ok()) return std::nullopt;
    response.emplace();
    response->set_digest(digest);
    response->set_cache_hit(true);
    response->set_module_size((*cached)->bytes().size());
    response->set_executable_format(FormatOf((*cached)->def()));
    Summarize((*cached)->def(), *response);
    std::lock_guard<std::mutex> lock(summaries_mutex_);
    // Bounded: past the limit an arbitrary summary goes (it is read again on its next hit).
    if (summaries_.size() >= kMaxSummaries) summaries_.erase(summaries_.begin());
    summaries_[digest] = *response;
  }
  cv1::PhaseTiming& timing = *response->add_timings();
  timing.set_phase("cache");
  timing.set_milliseconds(MillisecondsSince(start));
  metrics_.cache_hit_seconds.Get().ObserveDuration(Clock::now() - start);
  return response;
}

// A request that names its source by digest instead of sending it: answered from the cache
// only, since there is nothing to compile. The server never stores anything under a digest a
// client claims, so a wrong one can only miss.
absl::StatusOr<cv1::CompileResponse> CompileCache::CachedBySourceDigest(
    const cv1::CompileRequest& request, const kiln::compiler::CompileOptions& options,
    Clock::time_point start) {
  if (!request.source().empty())
    return absl::InvalidArgumentError(
        "the request sets both source and source_digest: send one of them");
  if (request.options().do_not_cache())
    return absl::InvalidArgumentError(
        "a request with source_digest is answered from the artifact cache only; do_not_cache "
        "needs the source");
  auto source_hash = ParseDigestString(request.source_digest());
  if (!source_hash)
    return absl::InvalidArgumentError(
        absl::StrCat("source_digest '", absl::CEscape(request.source_digest().substr(0, 80)),
                     "' is not \"sha256:\" and 64 lowercase hex digits"));
  auto digest = ArtifactDigestOfSource(*source_hash, options);
  if (!digest.ok()) return digest.status();
  if (auto cached = CachedResponse(*digest, start)) return *std::move(cached);
  return absl::NotFoundError(absl::StrCat("no artifact compiled from source ",
                                          request.source_digest(),
                                          " with these options: send the source to compile it"));
}

// One compile in progress and the callers waiting for it.
struct CompileCache::InFlight {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  absl::StatusOr<cv1::CompileResponse> result;
  // The continue checks of every caller still waiting (the one compiling included).
  std::map<int, const kiln::compiler::ContinueCheck*> callers;
  int next_id = 0;

  // OK while any caller still wants the result; otherwise the first caller's reason.
  absl::Status AnyoneWaiting() {
    std::lock_guard<std::mutex> lock(mutex);
    absl::Status first = absl::CancelledError("every caller waiting for the compile has gone");
    bool have_first = false;
    for (const auto& [id, check] : callers) {
      absl::Status status = *check ? (*check)() : absl::OkStatus();
      if (status.ok()) return status;
      if (!have_first) {
        first = status;
        have_first = true;
      }
    }
    return first;
  }
  int Join(const kiln::compiler::ContinueCheck* check) {
    std::lock_guard<std::mutex> lock(mutex);
    callers[next_id] = check;
    return next_id++;
  }
  // After Leave the caller's check (and its RPC context) is never called again.
  void Leave(int id) {
    std::lock_guard<std::mutex> lock(mutex);
    callers.erase(id);
  }
};

absl::StatusOr<cv1::CompileResponse> CompileCache::Compile(
    const cv1::CompileRequest& request, const kiln::compiler::ContinueCheck& should_continue) {
  auto start = Clock::now();
  auto checked = ToCompileOptions(request);
  if (!checked.ok()) return checked.status();
  kiln::compiler::CompileOptions options = *std::move(checked);
  if (!request.source_digest().empty()) return CachedBySourceDigest(request, options, start);
  auto digest = ArtifactDigest(request.source(), options);
  if (!digest.ok()) return digest.status();

  for (;;) {
    if (!request.options().do_not_cache()) {
      if (auto cached = CachedResponse(*digest, start)) return *std::move(cached);
    }
    auto result = CompileMerged(*digest, request, options, should_continue);
    // The compile this request joined was abandoned by its callers, but this one still wants
    // the module: start again (it is now the one compiling, or finds the artifact).
    // (CANCELLED only: a DEADLINE_EXCEEDED from --compile-timeout would recur every time.)
    if (!result.ok() && result.status().code() == absl::StatusCode::kCancelled &&
        (!should_continue || should_continue().ok()))
      continue;
    return result;
  }
}

absl::StatusOr<cv1::CompileResponse> CompileCache::CompileMerged(
    const std::string& digest, const cv1::CompileRequest& request,
    const kiln::compiler::CompileOptions& options,
    const kiln::compiler::ContinueCheck& should_continue) {
  std::shared_ptr<InFlight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(in_flight_mutex_);
    auto [it, inserted] = in_flight_.try_emplace(digest);
    if (inserted) it->second = std::make_shared<InFlight>();
    flight = it->second;
    leader = inserted;
  }
  int id = flight->Join(&should_continue);

  if (!leader) {
    merged_.fetch_add(1);
    metrics_.merged_compiles.Get().Increment();
    std::unique_lock<std::mutex> lock(flight->mutex);
    while (!flight->done) {
      // Wakes up now and then to notice this caller's own deadline or cancellation.
      flight->finished.wait_for(lock, std::chrono::milliseconds(20));
      if (flight->done) break;
      lock.unlock();
      absl::Status own = should_continue ? should_continue() : absl::OkStatus();
      lock.lock();
      if (!own.ok()) {
        flight->callers.erase(id);
        return own;
      }
    }
    flight->callers.erase(id);
    absl::StatusOr<cv1::CompileResponse> result = flight->result;
    if (result.ok()) result->set_merged(true);
    return result;
  }

  // A leader can start after the previous compile of this digest stored its artifact and left
  // the map, if that happened between this request's cache miss and its joining here: look
  // again, so that identical requests run the compiler once, whatever their interleaving.
  // (Contains first: it counts no miss.)
  std::optional<cv1::CompileResponse> stored;
  if (!request.options().do_not_cache() && store_.Contains(digest))
    stored = CachedResponse(digest, Clock::now());
  absl::StatusOr<cv1::CompileResponse> result =
      stored ? *std::move(stored)
             : RunCompiler(digest, request, options, [&flight] { return flight->AnyoneWaiting(); });
  {
    // Out of the map before waking the others: a new request now finds the artifact stored.
    std::lock_guard<std::mutex> lock(in_flight_mutex_);
    in_flight_.erase(digest);
  }
  {
    std::lock_guard<std::mutex> lock(flight->mutex);
    flight->result = result;
    flight->done = true;
  }
  flight->finished.notify_all();
  flight->Leave(id);
  return result;
}

absl::StatusOr<cv1::CompileResponse> CompileCache::RunCompiler(
    const std::string& digest, const cv1::CompileRequest& request,
    const kiln::compiler::CompileOptions& options,
    const kiln::compiler::ContinueCheck& should_continue) {
  auto start = Clock::now();
  compiles_.fetch_add(1);
  metrics::KilnMetrics& m = metrics_;
  m.compiles.Get().Increment();
  // In a sandboxed worker process unless kilnd runs with --compile-workers 0.
  auto result = workers_ != nullptr
                    ? workers_->Compile(request.source(), options, should_continue)
                    : kiln::compiler::Compile(request.source(), options, should_continue);
  m.compile_seconds.Get().ObserveDuration(Clock::now() - start);
  if (!result.ok()) {
    failures_.fetch_add(1);
    m.compile_failures.Get().Increment();
    return result.status();
  }
  if (auto status = store_.Put(digest, result->module_bytes); !status.ok()) return status;
  cv1::CompileResponse response;
  response.set_digest(digest);
  response.set_cache_hit(false);
  response.set_module_size(result->module_bytes.size());
  response.set_executable_format(FormatOf(result->def));
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
  spdlog::info("compiled {} → {} ({} bytes, {:.1f} ms)", options.source_name, digest,
               result->module_bytes.size(), MillisecondsSince(start));
  return response;
}

}  // namespace kiln
