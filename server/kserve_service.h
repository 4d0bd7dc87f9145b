// inference.GRPCInferenceService: the KServe v2 / Open Inference Protocol, plus Triton's
// repository and statistics extensions, over the RuntimeService's loaded modules and the model
// repository. A model is a loaded module; inference runs its only function (or "main").
#ifndef KILN_SERVER_KSERVE_SERVICE_H_
#define KILN_SERVER_KSERVE_SERVICE_H_

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "inference/grpc_service.grpc.pb.h"
#include "runtime_service/service/model_manager.h"
#include "runtime_service/tensor/tensor.h"
#include "server/kserve_inputs.h"
#include "server/model_repository.h"

namespace kiln {

class KServeService final : public inference::GRPCInferenceService::Service {
 public:
  KServeService(ModelManager& runtime, ModelRepository& repository, std::string version);

  // ServerReady: false until the start-up models are loaded and again while draining.
  void SetReady(bool ready) { ready_.store(ready); }

  grpc::Status ServerLive(grpc::ServerContext* context, const inference::ServerLiveRequest* request,
                          inference::ServerLiveResponse* response) override;
  grpc::Status ServerReady(grpc::ServerContext* context,
                           const inference::ServerReadyRequest* request,
                           inference::ServerReadyResponse* response) override;
  grpc::Status ModelReady(grpc::ServerContext* context, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override;
  grpc::Status ServerMetadata(grpc::ServerContext* context,
                              const inference::ServerMetadataRequest* request,
                              inference::ServerMetadataResponse* response) override;
  grpc::Status ModelMetadata(grpc::ServerContext* context,
                             const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override;
  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override;
  grpc::Status ModelStatistics(grpc::ServerContext* context,
                               const inference::ModelStatisticsRequest* request,
                               inference::ModelStatisticsResponse* response) override;
  grpc::Status RepositoryIndex(grpc::ServerContext* context,
                               const inference::RepositoryIndexRequest* request,
                               inference::RepositoryIndexResponse* response) override;
  grpc::Status RepositoryModelLoad(grpc::ServerContext* context,
                                   const inference::RepositoryModelLoadRequest* request,
                                   inference::RepositoryModelLoadResponse* response) override;
  grpc::Status RepositoryModelUnload(grpc::ServerContext* context,
                                     const inference::RepositoryModelUnloadRequest* request,
                                     inference::RepositoryModelUnloadResponse* response) override;

 private:
  // Cumulative per-model counters (Triton's ModelStatistics), kept across reloads.
  struct Stats {
    std::atomic<uint64_t> last_inference_ms{0};
    std::atomic<uint64_t> success_count{0}, success_ns{0};
    std::atomic<uint64_t> fail_count{0}, fail_ns{0};
    std::atomic<uint64_t> queue_ns{0}, input_ns{0}, infer_ns{0}, output_ns{0};
    std::atomic<uint64_t> inferences{0};  // batch elements inferred (a request of batch 4: 4)
    std::atomic<uint64_t> executions{0};  // model executions (merged requests run once)
    mutable std::mutex batch_mutex;
    std::map<int64_t, uint64_t> batch_executions;  // executions by batch (batch_stats)
  };
  struct Model {
    ModuleHandle handle;
    // The function clients see: the module's, or a batched model's signature (batch dims -1).
    const kiln::module::v1::FunctionDef* function = nullptr;
    std::string version;
    std::shared_ptr<BatchedModel> batched;  // config.json max_batch_size
  };
  // A loaded model for inference or metadata: NOT_FOUND (with the repository's reason when it
  // knows the model) for unknown, unavailable or other-version models.
  absl::StatusOr<Model> FindModel(const std::string& name, const std::string& version) const;
  // Sets `stats` once the model is found.
  absl::Status Infer(grpc::ServerContext* context, const inference::ModelInferRequest& request,
                     inference::ModelInferResponse& response, std::shared_ptr<Stats>& stats);
  std::shared_ptr<Stats> StatsFor(const std::string& name);
  void FillStatistics(const std::string& name, const std::string& version, const Stats& stats,
                      inference::ModelStatistics& out) const;

  ModelManager& runtime_;
  ModelRepository& repository_;
  const std::string version_;
  std::atomic<bool> ready_{false};
  mutable std::mutex stats_mutex_;
  std::map<std::string, std::shared_ptr<Stats>> stats_;
};

}  // namespace kiln

#endif  // KILN_SERVER_KSERVE_SERVICE_H_
