// gRPC's side of CallControl (model_manager.h), for every gRPC service that runs inference.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_GRPC_CALL_CONTROL_H_
#define KILN_RUNTIME_SERVICE_SERVICE_GRPC_CALL_CONTROL_H_

#include <chrono>

#include "grpcpp/server_context.h"
#include "runtime_service/service/model_manager.h"

namespace kiln {

// A gRPC call's deadline and cancellation, as the model manager asks for them.
class GrpcCallControl final : public CallControl {
 public:
  explicit GrpcCallControl(grpc::ServerContext* context) : context_(context) {}
  bool DeadlinePassed() const override {
    return context_->deadline() < std::chrono::system_clock::now();
  }
  bool Cancelled() const override { return context_->IsCancelled(); }

 private:
  grpc::ServerContext* context_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_GRPC_CALL_CONTROL_H_
