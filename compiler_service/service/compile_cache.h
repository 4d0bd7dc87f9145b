// The compile cache: compiles requests into the artifact cache, transport-free. Requests and
// responses are kiln.compiler.v1 messages and errors absl::Status; the caller's deadline and
// cancellation reach it as a ContinueCheck (compiler.h). The gRPC CompilerService and kilnd's
// model repository are adapters over it; scripts/check-layers.sh keeps gRPC out of it.
//
// - A request is answered from the cache when its artifact digest (ArtifactDigest: source,
//   options, compiler build, ABI) is stored, and compiled and stored otherwise.
// - Concurrent requests for the same digest share one compile: the first runs it, the others
//   wait for its result (answered with merged = true). The shared compile stops only once every
//   caller waiting for it has gone.
// - A request naming its source by digest (source_digest) is answered from the cache only.
// - do_not_cache skips the lookup: the program is compiled again (and its artifact stored).
#ifndef KILN_COMPILER_SERVICE_SERVICE_COMPILE_CACHE_H_
#define KILN_COMPILER_SERVICE_SERVICE_COMPILE_CACHE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "artifact_cache/artifact_store.h"
#include "compiler_service/compiler.h"
#include "compiler_service/service/compile_worker_pool.h"
#include "kiln/compiler/v1/compiler.pb.h"
#include "metrics/kiln_metrics.h"
#include "runtime_service/base/sha256.h"

namespace kiln {

class CompileCache {
 public:
  // `workers`: where compiles run (not owned; it outlives the cache). Null: in this process,
  // which a program that crashes the compiler takes down with it (tests and kiln-compile only).
  // `metrics`: kilnd's registry (not owned); null: one of the cache's own (tests).
  explicit CompileCache(const ArtifactStore& store, CompileWorkerPool* workers = nullptr,
                        metrics::KilnMetrics* metrics = nullptr);
  CompileCache(const CompileCache&) = delete;
  CompileCache& operator=(const CompileCache&) = delete;

  // Compiles (or finds in the store) and returns what the Compile RPC answers.
  // INVALID_ARGUMENT for malformed options or a malformed source_digest; NOT_FOUND for a
  // source_digest with nothing stored; otherwise the compiler's error, or the first reason of
  // `should_continue` (checked between phases) to stop.
  absl::StatusOr<kiln::compiler::v1::CompileResponse> Compile(
      const kiln::compiler::v1::CompileRequest& request,
      const kiln::compiler::ContinueCheck& should_continue = nullptr);

  const ArtifactStore& store() const { return store_; }
  uint64_t compiles() const { return compiles_.load(); }  // compiler runs
  uint64_t merged_compiles() const { return merged_.load(); }
  uint64_t compile_failures() const { return failures_.load(); }

 private:
  struct InFlight;
  // Runs the compiler for a request no cached artifact answers, merging identical requests.
  absl::StatusOr<kiln::compiler::v1::CompileResponse> CompileMerged(
      const std::string& digest, const kiln::compiler::v1::CompileRequest& request,
      const kiln::compiler::CompileOptions& options,
      const kiln::compiler::ContinueCheck& should_continue);
  absl::StatusOr<kiln::compiler::v1::CompileResponse> RunCompiler(
      const std::string& digest, const kiln::compiler::v1::CompileRequest& request,
      const kiln::compiler::CompileOptions& options,
      const kiln::compiler::ContinueCheck& should_continue);

  std::optional<kiln::compiler::v1::CompileResponse> CachedResponse(
      const std::string& digest, std::chrono::steady_clock::time_point start);
  absl::StatusOr<kiln::compiler::v1::CompileResponse> CachedBySourceDigest(
      const kiln::compiler::v1::CompileRequest& request,
      const kiln::compiler::CompileOptions& options, std::chrono::steady_clock::time_point start);

  static constexpr size_t kMaxSummaries = 4096;
  std::unique_ptr<metrics::KilnMetrics> own_metrics_;  // when none was passed in
  metrics::KilnMetrics& metrics_;
  const ArtifactStore& store_;
  CompileWorkerPool* workers_;
  std::mutex summaries_mutex_;
  // Cache-hit responses (no timings) of artifacts read by this process, by digest.
  std::map<std::string, kiln::compiler::v1::CompileResponse> summaries_;
  std::mutex in_flight_mutex_;
  std::map<std::string, std::shared_ptr<InFlight>> in_flight_;  // by artifact digest
  std::atomic<uint64_t> compiles_{0};
  std::atomic<uint64_t> merged_{0};
  std::atomic<uint64_t> failures_{0};
};

// The artifact digest: SHA-256 over a schema version, the source bytes' tree hash
// (Sha256Tree), the normalized options
// (with the resolved target CPU and features), the compiler build and the executable ABI.
absl::StatusOr<std::string> ArtifactDigest(std::string_view source,
                                           const kiln::compiler::CompileOptions& options);
// The same from the source's tree hash (what a client sends as source_digest).
absl::StatusOr<std::string> ArtifactDigestOfSource(const Sha256Hash& source_digest,
                                                   const kiln::compiler::CompileOptions& options);

}  // namespace kiln

#endif  // KILN_COMPILER_SERVICE_SERVICE_COMPILE_CACHE_H_
