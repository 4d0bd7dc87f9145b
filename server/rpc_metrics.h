// Counts every RPC of kiln's own services (compiler, runtime, KServe) in KilnMetrics, in one
// gRPC server interceptor instead of by hand in each handler: by RPC name and model, and each
// failure by status code.
#ifndef KILN_SERVER_RPC_METRICS_H_
#define KILN_SERVER_RPC_METRICS_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "metrics/kiln_metrics.h"

namespace kiln {

// Records an RPC about the model a request names. Whoever knows which models are loaded decides
// the label (a loaded model's name, else metrics::kUnknownModel), so that names clients make up
// never become series.
using ModelRpcRecorder =
    std::function<void(std::string_view rpc, const std::string& model, const absl::Status&)>;

// The model a request names: its string field `model_name` (KServe), `module` or `name` (the
// runtime), in that order; nullopt when it has none of them.
std::optional<std::string> RequestedModel(const google::protobuf::Message& request);

// RPCs of the runtime and KServe services that name a model go to `record_model_rpc`; every
// other RPC of kiln's services is counted with model "". gRPC's own services (health,
// reflection) are not counted.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    metrics::KilnMetrics& metrics, ModelRpcRecorder record_model_rpc);

}  // namespace kiln

#endif  // KILN_SERVER_RPC_METRICS_H_
