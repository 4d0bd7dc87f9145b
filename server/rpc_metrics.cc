#include "server/rpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <array>
#include <optional>
#include <utility>

namespace kiln {
namespace {

// Which of kiln's services a method belongs to, from its full name "/package.Service/Method".
enum class Service { kOther, kCompiler, kModels };

Service ServiceOf(std::string_view method) {
  if (method.starts_with("/kiln.compiler.v1.")) return Service::kCompiler;
  if (method.starts_with("/kiln.runtime.v1.") || method.starts_with("/inference."))
    return Service::kModels;
  return Service::kOther;
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(std::string rpc, Service service, metrics::KilnMetrics& metrics,
                        const ModelRpcRecorder& record_model_rpc)
      : rpc_(std::move(rpc)),
        service_(service),
        metrics_(metrics),
        record_model_rpc_(record_model_rpc) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    // Only the runtime's and KServe's messages are read: they are generated protobuf classes
    // (gRPC's own services may carry raw byte buffers).
    if (service_ == Service::kModels && !received_ &&
        methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      if (void* message = methods->GetRecvMessage()) {
        model_ = RequestedModel(*static_cast<google::protobuf::Message*>(message));
        received_ = true;
      }
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      const grpc::Status sent = methods->GetSendStatus();
      // gRPC's and Abseil's status codes have the same numbers.
      const absl::Status status(static_cast<absl::StatusCode>(sent.error_code()),
                                sent.error_message());
      if (model_)
        record_model_rpc_(rpc_, *model_, status);
      else
        metrics_.RecordRpc(rpc_, "", status);
    }
    methods->Proceed();
  }

 private:
  const std::string rpc_;
  const Service service_;
  metrics::KilnMetrics& metrics_;
  const ModelRpcRecorder& record_model_rpc_;
  bool received_ = false;
  std::optional<std::string> model_;  // the model the request names, if it names one
};

class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsInterceptorFactory(metrics::KilnMetrics& metrics, ModelRpcRecorder record_model_rpc)
      : metrics_(metrics), record_model_rpc_(std::move(record_model_rpc)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const std::string_view method = info->method() ? info->method() : "";
    const Service service = ServiceOf(method);
    if (service == Service::kOther) return nullptr;
    return new RpcMetricsInterceptor(std::string(method.substr(method.rfind('/') + 1)), service,
                                     metrics_, record_model_rpc_);
  }

 private:
  metrics::KilnMetrics& metrics_;
  const ModelRpcRecorder record_model_rpc_;
};

}  // namespace

std::optional<std::string> RequestedModel(const google::protobuf::Message& request) {
  const google::protobuf::Descriptor* descriptor = request.GetDescriptor();
  for (const char* name : std::array{"model_name", "module", "name"}) {
    const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByName(name);
    if (field && field->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
        !field->is_repeated())
      return request.GetReflection()->GetString(request, field);
  }
  return std::nullopt;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    metrics::KilnMetrics& metrics, ModelRpcRecorder record_model_rpc) {
  return std::make_unique<RpcMetricsInterceptorFactory>(metrics, std::move(record_model_rpc));
}

}  // namespace kiln
