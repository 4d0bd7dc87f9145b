#include "runtime_service/service/model_manager.h"

#include <chrono>
#include <cstdint>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/service/name_limit.h"
#include "runtime_service/service/out_of_memory.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace rv1 = kiln::runtime::v1;
namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

uint64_t OutputBytes(const mv1::FunctionDef& function, std::span<const int> indices) {
  uint64_t total = 0;
  auto add = [&](const mv1::TensorType& type) {
    auto bytes =
        ByteLength(type.dtype(), {type.shape().data(), static_cast<size_t>(type.shape_size())});
    const uint64_t length = bytes.ok() ? static_cast<uint64_t>(*bytes) : UINT64_MAX;
    total = length > UINT64_MAX - total ? UINT64_MAX : total + length;
  };
  if (indices.empty()) {
    for (const mv1::ArgumentDef& output : function.outputs()) add(output.type());
  } else {
    for (int index : indices) add(function.outputs(index).type());
  }
  return total;
}

ModelManager::ModelManager(const ArtifactStore& store, std::shared_ptr<hal::Device> device,
                           ModelManagerOptions options)
    : own_metrics_(options.metrics ? nullptr : std::make_unique<metrics::KilnMetrics>()),
      metrics_(options.metrics ? *options.metrics : *own_metrics_),
      store_(store),
      device_(std::move(device)),
      workers_(options.workers, options.max_queued_requests),
      workers_max_queued_(options.max_queued_requests),
      max_response_bytes_(options.max_response_bytes) {}

ModelManager::~ModelManager() { Shutdown(); }

void ModelManager::Shutdown() {
  std::vector<ModuleHandle> modules;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    for (const auto& [name, entry] : modules_) modules.push_back(entry);
  }
  workers_.Shutdown();
  for (const ModuleHandle& entry : modules)
    if (entry.serving->pool) entry.serving->pool->Shutdown();
}

rv1::ModuleInfo ModelManager::Describe(const ModuleHandle& entry) const {
  rv1::ModuleInfo info;
  info.set_name(entry.name);
  info.set_digest(entry.digest);
  info.set_invocation_count(entry.serving->invocations.load());
  for (const auto& fn : entry.module->def().functions()) {
    rv1::FunctionSignature& sig = *info.add_functions();
    sig.set_name(fn.name());
    *sig.mutable_inputs() = fn.inputs();
    *sig.mutable_outputs() = fn.outputs();
    sig.set_execution_model(fn.execution_model());
  }
  return info;
}

absl::StatusOr<rv1::ModuleInfo> ModelManager::LoadFromStore(const std::string& digest,
                                                            const std::string& name,
                                                            const ModuleServingOptions& options) {
  if (name.empty()) return absl::InvalidArgumentError("a module name is required");
  if (absl::Status status = CheckNameLength("the module name", name); !status.ok()) return status;
  auto path = store_.PathFor(digest);
  if (!path.ok()) return path.status();
  auto name_taken = [&] {
    return absl::AlreadyExistsError(
        absl::StrCat("a module named '", name, "' is already loaded; unload it first"));
  };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!options.replace && modules_.count(name)) return name_taken();
    if (stopped_) return absl::UnavailableError("kilnd is shutting down");
  }
  ArtifactStore::Pin pin;
  auto loaded = PinAndLoad(digest, pin);
  if (!loaded.ok()) return loaded.status();
  ModuleHandle entry{name, digest, std::move(*loaded), std::make_shared<ModuleServing>()};
  entry.serving->pin = std::move(pin);
  entry.serving->max_pending = options.max_pending;
  if (options.workers > 0) {
    // The module's own queue holds at most what its limit lets in (or the shared bound).
    size_t queue = options.max_pending > 0 ? options.max_pending : workers_max_queued_;
    entry.serving->pool = std::make_unique<WorkerPool>(options.workers, queue);
  }
  rv1::ModuleInfo info = Describe(entry);
  ModuleHandle replaced;  // released after the lock: its pool's threads join in its destructor
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Checked again: another request may have taken the name while this one loaded.
    auto it = modules_.find(name);
    if (it != modules_.end()) {
      if (!options.replace) return name_taken();
      replaced = std::move(it->second);
      it->second = std::move(entry);
    } else {
      modules_.emplace(name, std::move(entry));
    }
  }
  spdlog::info("{} module '{}' ({})", replaced.module ? "replaced" : "loaded", name, digest);
  return info;
}

absl::StatusOr<std::shared_ptr<LoadedModule>> ModelManager::PinAndLoad(const std::string& digest,
                                                                       ArtifactStore::Pin& pin) {
  // Pinned before it is opened, so the cache cannot evict it in between.
  pin = store_.PinArtifact(digest);
  // Verified on every read (a corrupt entry is dropped and logged by the store).
  auto file = store_.OpenModule(digest);
  if (!file.ok()) return file.status();
  return LoadedModule::Load(std::move(*file), device_);
}

absl::StatusOr<ModuleHandle> ModelManager::LoadVariant(const std::string& digest,
                                                       const ModuleHandle& base) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return absl::UnavailableError("kilnd is shutting down");
  }
  ArtifactStore::Pin pin;
  auto loaded = PinAndLoad(digest, pin);
  if (!loaded.ok()) return loaded.status();
  {
    std::lock_guard<std::mutex> lock(base.serving->variant_mutex);
    base.serving->variant_pins.push_back(std::move(pin));
  }
  spdlog::info("loaded module '{}' ({}) as a variant of '{}'", base.name, digest, base.digest);
  return ModuleHandle{base.name, digest, std::move(*loaded), base.serving};
}

int ModelManager::WorkersFor(const ModuleHandle& entry) const {
  return entry.serving->pool ? entry.serving->pool->worker_count() : workers_.worker_count();
}

absl::Status ModelManager::Unload(const std::string& name) {
  ModuleHandle removed;  // released after the lock (see LoadFromStore)
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = modules_.find(name);
    // In-flight invocations hold their own handle, so erasing here never frees code that is
    // running; the module goes away when the last of them finishes.
    if (it == modules_.end())
      return absl::NotFoundError(absl::StrCat("no module named '", name, "' is loaded"));
    removed = std::move(it->second);
    modules_.erase(it);
    // Under the lock: a request recording for this name now finds it unloaded (RecordModelRpc)
    // and cannot bring a series back.
    metrics_.RemoveModelSeries(name);
  }
  spdlog::info("unloaded module '{}'", name);
  return absl::OkStatus();
}

absl::StatusOr<ModuleHandle> ModelManager::FindModule(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = modules_.find(name);
  if (it != modules_.end()) return it->second;
  std::vector<std::string> names;
  names.reserve(modules_.size());
  for (const auto& [loaded, unused] : modules_) names.push_back(loaded);
  return absl::NotFoundError(
      absl::StrCat("no module named '", name, "' is loaded",
                   names.empty() ? std::string(" (none are loaded)")
                                 : absl::StrCat("; loaded modules: ", absl::StrJoin(names, ", "))));
}

std::vector<ModuleHandle> ModelManager::Modules() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ModuleHandle> modules;
  modules.reserve(modules_.size());
  for (const auto& [name, entry] : modules_) modules.push_back(entry);
  return modules;
}

void ModelManager::RecordModelRpc(std::string_view rpc, const std::string& name,
                                  const absl::Status& status) const {
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.RecordRpc(rpc, modules_.count(name) ? std::string_view(name) : metrics::kUnknownModel,
                     status);
}

void ModelManager::ObserveInvocation(const std::string& name, std::chrono::nanoseconds queue_time,
                                     std::chrono::nanoseconds compute_time) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!modules_.count(name)) return;
  metrics::KilnMetrics& m = metrics_;
  m.queue_seconds.With({name}).ObserveDuration(queue_time);
  m.compute_seconds.With({name}).ObserveDuration(compute_time);
}

void ModelManager::ObserveBatch(const std::string& name, int64_t batch,
                                std::optional<std::chrono::nanoseconds> wait_time) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!modules_.count(name)) return;
  if (batch > 0) metrics_.batch_size.With({name}).Observe(static_cast<double>(batch));
  if (wait_time) metrics_.batch_wait_seconds.With({name}).ObserveDuration(*wait_time);
}

void ModelManager::ObserveRequest(const std::string& name,
                                  std::chrono::nanoseconds request_time) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (modules_.count(name)) metrics_.request_seconds.With({name}).ObserveDuration(request_time);
}

absl::Status ModelManager::CheckOutputBytes(const ModuleHandle& entry,
                                            const mv1::FunctionDef& function,
                                            uint64_t bytes) const {
  if (max_response_bytes_ == 0 || bytes <= max_response_bytes_) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("function '", function.name(), "' of module '", entry.name, "' returns ", bytes,
                   " bytes of outputs, more than the ", max_response_bytes_,
                   "-byte message limit (--max-message-bytes); it was not run"));
}

absl::StatusOr<std::vector<HostTensor>> ModelManager::InvokeObserved(
    const ModuleHandle& entry, const module::v1::FunctionDef& function,
    std::span<const TensorView> inputs, InvocationResult& result) {
  const auto start = Clock::now();
  auto outputs = entry.module->Invoke(function, inputs);
  result.compute_time = Clock::now() - start;
  ObserveInvocation(entry.name, result.queue_time, result.compute_time);
  entry.serving->invocations.fetch_add(1);
  return outputs;
}

absl::StatusOr<InvocationResult> ModelManager::RunHere(const ModuleHandle& entry,
                                                       const module::v1::FunctionDef& function,
                                                       std::span<const TensorView> inputs) {
  KILN_RETURN_IF_ERROR(CheckOutputBytes(entry, function, OutputBytes(function)));
  InvocationResult result;
  auto outputs =
      CatchOutOfMemory([&] { return InvokeObserved(entry, function, inputs, result); },
                       "running function '", function.name(), "' of module '", entry.name, "'");
  if (!outputs.ok()) return outputs.status();
  result.outputs = std::move(*outputs);
  return result;
}

absl::StatusOr<InvocationResult> ModelManager::Run(const ModuleHandle& entry,
                                                   const module::v1::FunctionDef& function,
                                                   std::span<const TensorView> inputs,
                                                   const CallControl* control) {
  KILN_RETURN_IF_ERROR(CheckOutputBytes(entry, function, OutputBytes(function)));
  ModuleServing& serving = *entry.serving;
  const size_t already_pending = serving.pending.fetch_add(1);
  if (serving.max_pending > 0 && already_pending >= serving.max_pending) {
    serving.pending.fetch_sub(1);
    return absl::ResourceExhaustedError(
        absl::StrCat("module '", entry.name, "' already has ", serving.max_pending,
                     " requests queued or running (its max_queue_size); try again later"));
  }
  struct PendingGuard {
    std::atomic<size_t>& pending;
    ~PendingGuard() { pending.fetch_sub(1); }
  } pending_guard{serving.pending};

  // The request runs synchronously on a worker; this handler thread waits for it.
  std::promise<absl::StatusOr<std::vector<HostTensor>>> done;
  auto future = done.get_future();
  InvocationResult result;
  const auto submitted_at = Clock::now();
  WorkerPool& pool = serving.pool ? *serving.pool : workers_;
  auto work = [&]() -> absl::StatusOr<std::vector<HostTensor>> {
    result.queue_time = Clock::now() - submitted_at;
    // The deadline first: a transport may also report a call whose deadline passed as
    // cancelled (gRPC does).
    if (control != nullptr && control->DeadlinePassed()) {
      return absl::DeadlineExceededError(
          "the request's deadline passed while it waited in the queue; it was not run");
    }
    if (control != nullptr && control->Cancelled())
      return absl::CancelledError("the client cancelled the request");
    return InvokeObserved(entry, function, inputs, result);
  };
  auto submitted = pool.Submit([&] {
    // Whatever runs out of memory here fails this request; the worker lives on. set_value is
    // last: the caller's frame may go away after it.
    done.set_value(CatchOutOfMemory(work, "running function '", function.name(), "' of module '",
                                    entry.name, "'"));
  });
  if (!submitted.ok()) return submitted;
  auto outputs = future.get();
  if (!outputs.ok()) return outputs.status();
  result.outputs = std::move(*outputs);
  return result;
}

}  // namespace kiln
