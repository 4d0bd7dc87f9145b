// kiln.runtime.v1.RuntimeService: the gRPC adapter over the model manager (model_manager.h):
// requests in, checks of what only the wire carries (name lengths), statuses out.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_
#define KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_

#include "absl/status/statusor.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "runtime_service/service/grpc_call_control.h"
#include "runtime_service/service/model_manager.h"

namespace kiln {

class RuntimeServiceImpl final : public kiln::runtime::v1::RuntimeService::Service {
 public:
  explicit RuntimeServiceImpl(ModelManager& models) : models_(models) {}

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
  absl::StatusOr<kiln::runtime::v1::InvokeResponse> RunInvoke(
      grpc::ServerContext* context, const kiln::runtime::v1::InvokeRequest& request);

  ModelManager& models_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_RUNTIME_SERVICE_H_
