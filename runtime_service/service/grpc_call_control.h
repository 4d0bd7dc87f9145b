// gRPC's side of CallControl (model_manager.h), for every gRPC service that runs inference.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_GRPC_CALL_CONTROL_H_
#define KILN_RUNTIME_SERVICE_SERVICE_GRPC_CALL_CONTROL_H_

#include <chrono>
#include <optional>

#include "grpcpp/server_context.h"
#include "runtime_service/service/model_manager.h"

namespace kiln {

// A gRPC call's deadline and cancellation, as the model manager asks for them; and a deadline of
// the request's own (KServe's "timeout" parameter), whichever passes first. `context` may be
// null (a request that did not come over gRPC: KServe over HTTP/REST).
class GrpcCallControl final : public CallControl {
 public:
  explicit GrpcCallControl(grpc::ServerContext* context,
                           std::optional<std::chrono::steady_clock::time_point> timeout_at = {})
      : context_(context), deadline_(timeout_at) {
    if (context_ == nullptr) return;
    // gRPC reports "no deadline" as a time point at the end of time.
    const auto grpc_deadline = context_->deadline();
    const auto now = std::chrono::system_clock::now();
    if (grpc_deadline - now > std::chrono::hours(24 * 365)) return;
    const auto at =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(grpc_deadline - now);
    if (!deadline_ || at < *deadline_) deadline_ = at;
  }
  bool DeadlinePassed() const override {
    return deadline_ && *deadline_ <= std::chrono::steady_clock::now();
  }
  bool Cancelled() const override { return context_ != nullptr && context_->IsCancelled(); }
  std::optional<std::chrono::steady_clock::time_point> Deadline() const override {
    return deadline_;
  }

 private:
  grpc::ServerContext* context_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_GRPC_CALL_CONTROL_H_
