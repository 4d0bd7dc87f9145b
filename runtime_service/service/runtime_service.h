// kiln.runtime.v1.RuntimeService: named loaded modules and inference on the worker pool.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_
#define KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "metrics/kiln_metrics.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/service/artifact_store.h"
#include "runtime_service/service/memory_trimmer.h"
#include "runtime_service/service/worker_pool.h"

namespace kiln {

struct RuntimeServiceOptions {
  int workers = 1;
  size_t max_queued_requests = 1024;
  // The largest response (--max-message-bytes): a function whose outputs are larger is refused
  // before it runs. 0: no limit.
  uint64_t max_response_bytes = 0;
  // Where the service records its metrics (kilnd's registry; not owned, it outlives the
  // service). Null: a registry of the service's own (tests).
  metrics::KilnMetrics* metrics = nullptr;
};

// How one module is served (the model repository's config.json sets these).
struct ModuleServingOptions {
  // Requests for this module that may be queued or running at once; more are
  // RESOURCE_EXHAUSTED. 0: only the worker pool's own bound applies.
  size_t max_pending = 0;
  // Worker threads of the module's own; 0: the shared pool.
  int workers = 0;
  // Swap out a module already loaded under the name instead of ALREADY_EXISTS; calls in flight
  // finish on the old one.
  bool replace = false;
};

// Per-module serving state shared by every handle to the module.
struct ModuleServing {
  std::atomic<uint64_t> invocations{0};
  std::atomic<size_t> pending{0};  // queued or running
  size_t max_pending = 0;
  std::unique_ptr<WorkerPool> pool;  // the module's own workers; null: the shared pool
  ArtifactStore::Pin pin;            // keeps the module's artifact from being evicted while loaded
};

// A loaded module as a request holds it: the module (and its code) stays alive while any copy
// exists, even after it is unloaded.
struct ModuleHandle {
  std::string name;
  std::string digest;
  std::shared_ptr<LoadedModule> module;
  std::shared_ptr<ModuleServing> serving;
};

struct InvocationResult {
  std::vector<HostTensor> outputs;
  std::chrono::nanoseconds queue_time{0};    // submitted until a worker started it
  std::chrono::nanoseconds compute_time{0};  // the module's Invoke
};

// The bytes of `function`'s outputs at `indices` (one listed twice counts twice), or of all of
// them when `indices` is empty; saturating.
uint64_t OutputBytes(const kiln::module::v1::FunctionDef& function,
                     std::span<const int> indices = {});

class RuntimeServiceImpl final : public kiln::runtime::v1::RuntimeService::Service {
 public:
  // `device` runs the async-model functions of every loaded module (one shared task executor).
  RuntimeServiceImpl(const ArtifactStore& store, std::shared_ptr<hal::Device> device,
                     RuntimeServiceOptions options);
  ~RuntimeServiceImpl() override;

  // Loads the module stored under `digest` as `name` (used by LoadModule and at start-up).
  absl::StatusOr<kiln::runtime::v1::ModuleInfo> LoadFromStore(
      const std::string& digest, const std::string& name, const ModuleServingOptions& options = {});
  // NOT_FOUND when no module has that name. Calls in flight finish first on their own handle.
  // The module's metric series are removed.
  absl::Status Unload(const std::string& name);
  // NOT_FOUND (listing the loaded modules) when no module has that name.
  absl::StatusOr<ModuleHandle> FindModule(const std::string& name) const;
  std::vector<ModuleHandle> Modules() const;  // sorted by name
  // Runs `function` of the module `entry` on a worker (the module's own, else the shared pool)
  // and waits for it. `inputs` come from MatchInputs. `context` (may be null) gives the deadline
  // and cancellation: work whose deadline passed or whose client went away while queued is not
  // started. Queue full (the pool's or the module's max_pending) is RESOURCE_EXHAUSTED, and so
  // are outputs larger than max_response_bytes (CheckOutputBytes, before anything runs) and
  // running out of memory.
  absl::StatusOr<InvocationResult> Run(const ModuleHandle& entry,
                                       const kiln::module::v1::FunctionDef& function,
                                       std::span<const TensorView> inputs,
                                       grpc::ServerContext* context);
  // Stops accepting inference work and finishes what is queued.
  void Shutdown();

  // RESOURCE_EXHAUSTED when `bytes` of `function`'s outputs would not fit in a response.
  absl::Status CheckOutputBytes(const ModuleHandle& entry,
                                const kiln::module::v1::FunctionDef& function,
                                uint64_t bytes) const;
  // Counts an RPC about the module or model `name` in the metrics: labelled with the name while
  // a module of that name is loaded, else with metrics::kUnknownModel, so names clients make
  // up never become series. Called by kilnd's RPC interceptor (server/rpc_metrics.h).
  void RecordModelRpc(std::string_view rpc, const std::string& name,
                      const absl::Status& status) const;
  // An inference request of `bytes` has been handled: large ones have their memory trimmed.
  void RequestFinished(size_t bytes) { trimmer_.RequestFinished(bytes); }

  grpc::Status LoadModule(grpc::ServerContext* context,
                          const kiln::runtime::v1::LoadModuleRequest* request,
                          kiln::runtime::v1::LoadModuleResponse* response) override;
  grpc::Status UnloadModule(grpc::ServerContext* context,
                            const kiln::runtime::v1::UnloadModuleRequest* request,
                            kiln::runtime::v1::UnloadModuleResponse* response) override;
  grpc::Status ListModules(grpc::ServerContext* context,
                           const kiln::runtime::v1::ListModulesRequest* request,
                           kiln::runtime::v1::ListModulesResponse* response) override;
  grpc::Status Invoke(grpc::ServerContext* context, const kiln::runtime::v1::InvokeRequest* request,
                      kiln::runtime::v1::InvokeResponse* response) override;

 private:
  kiln::runtime::v1::ModuleInfo Describe(const ModuleHandle& entry) const;
  absl::StatusOr<kiln::runtime::v1::InvokeResponse> RunInvoke(
      grpc::ServerContext* context, const kiln::runtime::v1::InvokeRequest& request);
  // Latencies of a loaded module's invocations (none once it is unloaded).
  void ObserveInvocation(const std::string& name, std::chrono::nanoseconds queue_time,
                         std::chrono::nanoseconds compute_time) const;
  void ObserveRequest(const std::string& name, std::chrono::nanoseconds request_time) const;

  std::unique_ptr<metrics::KilnMetrics> own_metrics_;  // when none was passed in
  metrics::KilnMetrics& metrics_;
  const ArtifactStore& store_;
  std::shared_ptr<hal::Device> device_;
  WorkerPool workers_;
  const size_t workers_max_queued_;
  const uint64_t max_response_bytes_;
  MemoryTrimmer trimmer_;
  // Guards modules_, and orders metric series of a name with its loads and unloads.
  mutable std::mutex mutex_;
  std::map<std::string, ModuleHandle> modules_;
  bool stopped_ = false;  // after Shutdown no module gets workers of its own
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_
