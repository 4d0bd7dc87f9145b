// The model manager: named loaded modules and inference on the worker pools, with no transport.
// The gRPC RuntimeService (runtime_service.h), the KServe service and the model repository are
// adapters over it; a caller's deadline and cancellation reach it as a CallControl.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_MODEL_MANAGER_H_
#define KILN_RUNTIME_SERVICE_SERVICE_MODEL_MANAGER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "artifact_cache/artifact_store.h"
#include "kiln/runtime/v1/runtime.pb.h"
#include "metrics/kiln_metrics.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/service/memory_trimmer.h"
#include "runtime_service/service/worker_pool.h"

namespace kiln {

struct ModelManagerOptions {
  int workers = 1;
  size_t max_queued_requests = 1024;
  // The largest response (--max-message-bytes): a function whose outputs are larger is refused
  // before it runs. 0: no limit.
  uint64_t max_response_bytes = 0;
  // Where the manager records its metrics (kilnd's registry; not owned, it outlives the
  // manager). Null: a registry of the manager's own (tests).
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
  // Pins of the module's variants (LoadVariant), released with the module.
  std::mutex variant_mutex;
  std::vector<ArtifactStore::Pin> variant_pins;
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

// What a transport knows of the call a request came in: its deadline and whether its client
// went away. Checked when a queued request reaches a worker (GrpcCallControl adapts gRPC's).
class CallControl {
 public:
  virtual ~CallControl() = default;
  virtual bool DeadlinePassed() const = 0;
  virtual bool Cancelled() const = 0;
  // When the deadline passes, if there is one: a request that waits (for a batch) wakes then.
  virtual std::optional<std::chrono::steady_clock::time_point> Deadline() const {
    return std::nullopt;
  }
};

// The bytes of `function`'s outputs at `indices` (one listed twice counts twice), or of all of
// them when `indices` is empty; saturating.
uint64_t OutputBytes(const kiln::module::v1::FunctionDef& function,
                     std::span<const int> indices = {});

class ModelManager {
 public:
  // `device` runs the async-model functions of every loaded module (one shared task executor).
  ModelManager(const ArtifactStore& store, std::shared_ptr<hal::Device> device,
               ModelManagerOptions options);
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Loads the module stored under `digest` as `name` (used by LoadModule and at start-up).
  absl::StatusOr<kiln::runtime::v1::ModuleInfo> LoadFromStore(
      const std::string& digest, const std::string& name, const ModuleServingOptions& options = {});
  // Loads the module stored under `digest` as a variant of `base` (a batch size of a batched
  // model): not listed under a name of its own, it runs with `base`'s workers and pending
  // limit, is counted under `base`'s name, and stays pinned while `base`'s serving state lives.
  absl::StatusOr<ModuleHandle> LoadVariant(const std::string& digest, const ModuleHandle& base);
  // NOT_FOUND when no module has that name. Calls in flight finish first on their own handle.
  // The module's metric series are removed.
  absl::Status Unload(const std::string& name);
  // NOT_FOUND (listing the loaded modules) when no module has that name.
  absl::StatusOr<ModuleHandle> FindModule(const std::string& name) const;
  std::vector<ModuleHandle> Modules() const;  // sorted by name
  // Runs `function` of the module `entry` on a worker (the module's own, else the shared pool)
  // and waits for it. `inputs` come from MatchInputs. `control` (may be null) gives the deadline
  // and cancellation: work whose deadline passed (DEADLINE_EXCEEDED) or whose client went away
  // (CANCELLED) while queued is not started. Queue full (the pool's or the module's max_pending) is
  // RESOURCE_EXHAUSTED, and so are outputs larger than max_response_bytes (CheckOutputBytes, before
  // anything runs) and running out of memory.
  absl::StatusOr<InvocationResult> Run(const ModuleHandle& entry,
                                       const kiln::module::v1::FunctionDef& function,
                                       std::span<const TensorView> inputs,
                                       const CallControl* control);
  // Worker threads that run `entry`'s invocations (its own pool's, else the shared pool's).
  int WorkersFor(const ModuleHandle& entry) const;
  // Runs `function` on the calling thread, for a caller that bounds its own concurrency to the
  // module's workers (a batched model's dynamic batcher: a formed batch would otherwise pay a
  // hand-off to a worker and back). Output limit, metrics and out-of-memory as Run.
  absl::StatusOr<InvocationResult> RunHere(const ModuleHandle& entry,
                                           const kiln::module::v1::FunctionDef& function,
                                           std::span<const TensorView> inputs);
  // Stops accepting inference work and finishes what is queued.
  void Shutdown();

  // RESOURCE_EXHAUSTED when `bytes` of `function`'s outputs would not fit in a response.
  absl::Status CheckOutputBytes(const ModuleHandle& entry,
                                const kiln::module::v1::FunctionDef& function,
                                uint64_t bytes) const;
  // The module as RuntimeService's ListModules and LoadModule describe it.
  kiln::runtime::v1::ModuleInfo Describe(const ModuleHandle& entry) const;
  // A batched model's execution of `batch` rows (0: none), and how long a request waited for its
  // batch to form (dynamic batching); nothing once the model is unloaded.
  void ObserveBatch(const std::string& name, int64_t batch,
                    std::optional<std::chrono::nanoseconds> wait_time) const;
  // Latency of a whole request for a loaded module (none once it is unloaded).
  void ObserveRequest(const std::string& name, std::chrono::nanoseconds request_time) const;
  // Counts an RPC about the module or model `name` in the metrics: labelled with the name while
  // a module of that name is loaded, else with metrics::kUnknownModel, so names clients make
  // up never become series. Called by kilnd's RPC interceptor (server/rpc_metrics.h).
  void RecordModelRpc(std::string_view rpc, const std::string& name,
                      const absl::Status& status) const;
  // An inference request of `bytes` has been handled: large ones have their memory trimmed.
  void RequestFinished(size_t bytes) { trimmer_.RequestFinished(bytes); }

 private:
  // Pins the artifact `digest` (in `pin`) and loads its module.
  absl::StatusOr<std::shared_ptr<LoadedModule>> PinAndLoad(const std::string& digest,
                                                           ArtifactStore::Pin& pin);
  // Invokes `function` (inputs matched) and records its compute time (in `result`, beside the
  // queue time already there), its latencies and its count: Run's workers and RunHere.
  absl::StatusOr<std::vector<HostTensor>> InvokeObserved(
      const ModuleHandle& entry, const kiln::module::v1::FunctionDef& function,
      std::span<const TensorView> inputs, InvocationResult& result);
  // Latencies of a loaded module's invocations (none once it is unloaded).
  void ObserveInvocation(const std::string& name, std::chrono::nanoseconds queue_time,
                         std::chrono::nanoseconds compute_time) const;

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

#endif  // KILN_RUNTIME_SERVICE_SERVICE_MODEL_MANAGER_H_
