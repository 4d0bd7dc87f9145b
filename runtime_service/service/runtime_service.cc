#include "runtime_service/service/runtime_service.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc_edge/grpc_status.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/service/name_limit.h"
#include "runtime_service/service/out_of_memory.h"

namespace kiln {

namespace rv1 = kiln::runtime::v1;
using Clock = std::chrono::steady_clock;

grpc::Status RuntimeServiceImpl::LoadModule(grpc::ServerContext*,
                                            const rv1::LoadModuleRequest* request,
                                            rv1::LoadModuleResponse* response) {
  auto start = Clock::now();
  auto info =
      CatchOutOfMemory([&] { return models_.LoadFromStore(request->digest(), request->name()); },
                       "loading a module");
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_module() = std::move(*info);
  response->set_load_milliseconds(
      std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::UnloadModule(grpc::ServerContext*,
                                              const rv1::UnloadModuleRequest* request,
                                              rv1::UnloadModuleResponse*) {
  absl::Status status = CheckNameLength("the module name", request->name());
  if (status.ok()) status = models_.Unload(request->name());
  return ToGrpcStatus(status);
}

grpc::Status RuntimeServiceImpl::ListModules(grpc::ServerContext*, const rv1::ListModulesRequest*,
                                             rv1::ListModulesResponse* response) {
  for (const ModuleHandle& entry : models_.Modules())
    *response->add_modules() = models_.Describe(entry);
  return grpc::Status::OK;
}

absl::StatusOr<rv1::InvokeResponse> RuntimeServiceImpl::RunInvoke(
    grpc::ServerContext* context, const rv1::InvokeRequest& request) {
  KILN_RETURN_IF_ERROR(CheckNameLength("the module name", request.module()));
  KILN_RETURN_IF_ERROR(CheckNameLength("the function name", request.function()));
  for (const rv1::Tensor& tensor : request.inputs())
    KILN_RETURN_IF_ERROR(CheckNameLength("an input name", tensor.name()));
  auto entry = models_.FindModule(request.module());
  if (!entry.ok()) return entry.status();
  const module::v1::FunctionDef* function = entry->module->FindFunction(request.function());
  if (function == nullptr) {
    std::vector<std::string> names;
    for (const auto& fn : entry->module->def().functions()) names.push_back(fn.name());
    return absl::NotFoundError(
        absl::StrCat("module '", request.module(), "' has no function '",
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
  GrpcCallControl control(context);
  auto result = models_.Run(*entry, *function, *ordered, context != nullptr ? &control : nullptr);
  if (!result.ok()) return result.status();

  rv1::InvokeResponse response;
  response.set_request_id(request.request_id());
  response.set_compute_milliseconds(
      std::chrono::duration<double, std::milli>(result->compute_time).count());
  for (HostTensor& out : result->outputs) {
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
  const auto start = Clock::now();
  auto result =
      CatchOutOfMemory([&] { return RunInvoke(context, *request); }, "handling an Invoke request");
  if (result.ok()) models_.ObserveRequest(request->module(), Clock::now() - start);
  models_.RequestFinished(request->ByteSizeLong());
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace kiln
