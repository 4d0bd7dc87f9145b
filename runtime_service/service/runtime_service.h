// kiln.runtime.v1.RuntimeService: named loaded modules and inference on the worker pool.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_
#define KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/runtime.h"
#include "runtime_service/service/artifact_store.h"
#include "runtime_service/service/worker_pool.h"

namespace kiln {

struct RuntimeServiceOptions {
  int workers = 1;
  size_t max_queued_requests = 1024;
};

class RuntimeServiceImpl final : public kiln::runtime::v1::RuntimeService::Service {
 public:
  // `device` runs the async-model functions of every loaded module (one shared task executor).
  RuntimeServiceImpl(const ArtifactStore& store, std::shared_ptr<hal::Device> device,
                     RuntimeServiceOptions options);
  ~RuntimeServiceImpl() override;

  // Loads the module stored under `digest` as `name` (used by LoadModule and at start-up).
  absl::StatusOr<kiln::runtime::v1::ModuleInfo> LoadFromStore(const std::string& digest,
                                                              const std::string& name);
  // Stops accepting inference work and finishes what is queued.
  void Shutdown();

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
  struct Entry {
    std::string digest;
    std::shared_ptr<LoadedModule> module;
    std::shared_ptr<std::atomic<uint64_t>> invocations;
  };
  kiln::runtime::v1::ModuleInfo Describe(const std::string& name, const Entry& entry) const;
  absl::StatusOr<kiln::runtime::v1::InvokeResponse> RunInvoke(
      grpc::ServerContext* context, const kiln::runtime::v1::InvokeRequest& request);

  const ArtifactStore& store_;
  std::shared_ptr<hal::Device> device_;
  WorkerPool workers_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> modules_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_
