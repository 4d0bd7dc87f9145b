// kiln.compiler.v1.CompilerService: compiles programs into the artifact cache and lets operators
// look into it (GetArtifact, CacheStats, ListArtifacts, EvictArtifacts).
#ifndef KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_
#define KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "compiler_service/compiler.h"
#include "compiler_service/service/compile_worker_pool.h"
#include "kiln/compiler/v1/compiler.grpc.pb.h"
#include "metrics/kiln_metrics.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/service/artifact_store.h"

namespace kiln {

class CompilerServiceImpl final : public kiln::compiler::v1::CompilerService::Service {
 public:
  // `workers`: where compiles run (not owned; it outlives the service). Null: in this process,
  // which a program that crashes the compiler takes down with it (tests and kiln-compile only).
  // `metrics`: kilnd's registry (not owned); null: one of the service's own (tests).
  explicit CompilerServiceImpl(const ArtifactStore& store, CompileWorkerPool* workers = nullptr,
                               metrics::KilnMetrics* metrics = nullptr)
      : own_metrics_(metrics ? nullptr : std::make_unique<metrics::KilnMetrics>()),
        metrics_(metrics ? *metrics : *own_metrics_),
        store_(store),
        workers_(workers) {}

  // Compiles (or finds in the store) and returns what Compile answers. Used by the RPC and
  // by kilnd's start-up model loading. Concurrent calls for the same artifact digest share one
  // compile: the first runs it, the others wait for its result (answered with merged = true).
  // `should_continue` is checked between phases; a shared compile stops only once every
  // caller waiting for it has gone.
  absl::StatusOr<kiln::compiler::v1::CompileResponse> CompileToStore(
      const kiln::compiler::v1::CompileRequest& request,
      const kiln::compiler::ContinueCheck& should_continue = nullptr);

  grpc::Status Compile(grpc::ServerContext* context,
                       const kiln::compiler::v1::CompileRequest* request,
                       kiln::compiler::v1::CompileResponse* response) override;
  grpc::Status GetArtifact(grpc::ServerContext* context,
                           const kiln::compiler::v1::GetArtifactRequest* request,
                           grpc::ServerWriter<kiln::compiler::v1::ArtifactChunk>* writer) override;
  grpc::Status CacheStats(grpc::ServerContext* context,
                          const kiln::compiler::v1::CacheStatsRequest* request,
                          kiln::compiler::v1::CacheStatsResponse* response) override;
  grpc::Status ListArtifacts(grpc::ServerContext* context,
                             const kiln::compiler::v1::ListArtifactsRequest* request,
                             kiln::compiler::v1::ListArtifactsResponse* response) override;
  grpc::Status EvictArtifacts(grpc::ServerContext* context,
                              const kiln::compiler::v1::EvictArtifactsRequest* request,
                              kiln::compiler::v1::EvictArtifactsResponse* response) override;

  uint64_t compiles() const { return compiles_.load(); }
  uint64_t merged_compiles() const { return merged_.load(); }

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

#endif  // KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_
