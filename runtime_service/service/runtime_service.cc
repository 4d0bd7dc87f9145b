#include "runtime_service/service/runtime_service.h"

#include <chrono>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime_service/service/grpc_status.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace rv1 = kiln::runtime::v1;
using Clock = std::chrono::steady_clock;

RuntimeServiceImpl::RuntimeServiceImpl(const ArtifactStore& store,
                                       std::shared_ptr<hal::Device> device,
                                       RuntimeServiceOptions options)
    : store_(store),
      device_(std::move(device)),
      workers_(options.workers, options.max_queued_requests) {}

RuntimeServiceImpl::~RuntimeServiceImpl() { Shutdown(); }

void RuntimeServiceImpl::Shutdown() { workers_.Shutdown(); }

rv1::ModuleInfo RuntimeServiceImpl::Describe(const std::string& name, const Entry& entry) const {
  rv1::ModuleInfo info;
  info.set_name(name);
  info.set_digest(entry.digest);
  info.set_invocation_count(entry.invocations->load());
  for (const auto& fn : entry.module->def().functions()) {
    rv1::FunctionSignature& sig = *info.add_functions();
    sig.set_name(fn.name());
    *sig.mutable_inputs() = fn.inputs();
    *sig.mutable_outputs() = fn.outputs();
    sig.set_execution_model(fn.execution_model());
  }
  return info;
}

absl::StatusOr<rv1::ModuleInfo> RuntimeServiceImpl::LoadFromStore(const std::string& digest,
                                                                  const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("a module name is required");
  auto path = store_.PathFor(digest);
  if (!path.ok()) return path.status();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (modules_.count(name))
      return absl::AlreadyExistsError(
          absl::StrCat("a module named '", name, "' is already loaded; unload it first"));
  }
  if (!store_.Contains(digest))
    return absl::NotFoundError(absl::StrCat("no artifact ", digest, " in the cache at ",
                                            store_.root(), "; compile the program first"));
  auto file = module::ModuleFile::Open(*path);
  if (!file.ok()) {
    spdlog::warn("artifact {} failed validation: {}", digest, file.status().ToString());
    return file.status();
  }
  auto loaded = LoadedModule::Load(std::move(*file), device_);
  if (!loaded.ok()) return loaded.status();
  Entry entry{digest, std::move(*loaded), std::make_shared<std::atomic<uint64_t>>(0)};
  std::lock_guard<std::mutex> lock(mutex_);
  // Checked again: another request may have taken the name while this one loaded.
  if (modules_.count(name))
    return absl::AlreadyExistsError(
        absl::StrCat("a module named '", name, "' is already loaded; unload it first"));
  rv1::ModuleInfo info = Describe(name, entry);
  modules_.emplace(name, std::move(entry));
  spdlog::info("loaded module '{}' ({})", name, digest);
  return info;
}

grpc::Status RuntimeServiceImpl::LoadModule(grpc::ServerContext*,
                                            const rv1::LoadModuleRequest* request,
                                            rv1::LoadModuleResponse* response) {
  auto start = Clock::now();
  auto info = LoadFromStore(request->digest(), request->name());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_module() = std::move(*info);
  response->set_load_milliseconds(
      std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::UnloadModule(grpc::ServerContext*,
                                              const rv1::UnloadModuleRequest* request,
                                              rv1::UnloadModuleResponse*) {
  std::lock_guard<std::mutex> lock(mutex_);
  // In-flight invocations hold their own reference to the module, so erasing here never
  // frees code that is running; the module goes away when the last of them finishes.
  if (modules_.erase(request->name()) == 0)
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no module named '", request->name(), "' is loaded"));
  spdlog::info("unloaded module '{}'", request->name());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListModules(grpc::ServerContext*, const rv1::ListModulesRequest*,
                                             rv1::ListModulesResponse* response) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, entry] : modules_) *response->add_modules() = Describe(name, entry);
  return grpc::Status::OK;
}

absl::StatusOr<rv1::InvokeResponse> RuntimeServiceImpl::RunInvoke(
    grpc::ServerContext* context, const rv1::InvokeRequest& request) {
  Entry entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = modules_.find(request.module());
    if (it == modules_.end()) {
      std::vector<std::string> names;
      for (const auto& [name, unused] : modules_) names.push_back(name);
      return absl::NotFoundError(absl::StrCat(
          "no module named '", request.module(), "' is loaded",
          names.empty() ? std::string(" (none are loaded)")
                        : absl::StrCat("; loaded modules: ", absl::StrJoin(names, ", "))));
    }
    entry = it->second;
  }
  const module::v1::FunctionDef* function = entry.module->FindFunction(request.function());
  if (function == nullptr) {
    std::vector<std::string> names;
    for (const auto& fn : entry.module->def().functions()) names.push_back(fn.name());
    return absl::NotFoundError(absl::StrCat(
        "module '", request.module(), "' has no function '",
        request.function().empty() ? std::string("main") : request.function(),
        "'; functions: ", absl::StrJoin(names, ", ")));
  }

  std::vector<TensorView> views;
  views.reserve(request.inputs_size());
  for (const rv1::Tensor& tensor : request.inputs()) {
    TensorView view;
    view.name = tensor.name();
    view.dtype = tensor.dtype();
    view.shape = std::span<const int64_t>(tensor.shape().data(), tensor.shape().size());
    view.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(tensor.data().data()),
                                         tensor.data().size());
    views.push_back(view);
  }
  auto ordered = MatchInputs(*function, views);
  if (!ordered.ok()) return ordered.status();

  // The request runs synchronously on a worker; this handler thread waits for it.
  std::promise<absl::StatusOr<std::vector<HostTensor>>> done;
  auto future = done.get_future();
  double compute_ms = 0;
  auto submitted = workers_.Submit([&] {
    if (context->IsCancelled()) {
      done.set_value(absl::CancelledError("the client cancelled the request"));
      return;
    }
    if (context->deadline() < std::chrono::system_clock::now()) {
      done.set_value(absl::DeadlineExceededError(
          "the request's deadline passed while it waited in the queue; it was not run"));
      return;
    }
    auto start = Clock::now();
    auto outputs = entry.module->Invoke(*function, *ordered);
    compute_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    entry.invocations->fetch_add(1);
    done.set_value(std::move(outputs));
  });
  if (!submitted.ok()) return submitted;
  auto outputs = future.get();
  if (!outputs.ok()) return outputs.status();

  rv1::InvokeResponse response;
  response.set_request_id(request.request_id());
  response.set_compute_milliseconds(compute_ms);
  for (HostTensor& out : *outputs) {
    rv1::Tensor& tensor = *response.add_outputs();
    tensor.set_name(out.name);
    tensor.set_dtype(out.dtype);
    for (int64_t dim : out.shape) tensor.add_shape(dim);
    tensor.set_data(std::move(out.data));
  }
  return response;
}

grpc::Status RuntimeServiceImpl::Invoke(grpc::ServerContext* context,
                                        const rv1::InvokeRequest* request,
                                        rv1::InvokeResponse* response) {
  auto result = RunInvoke(context, *request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace kiln
