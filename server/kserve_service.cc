#include "server/kserve_service.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc_edge/grpc_status.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/service/grpc_call_control.h"
#include "runtime_service/service/name_limit.h"
#include "runtime_service/service/out_of_memory.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

namespace {

uint64_t Nanos(std::chrono::nanoseconds d) { return static_cast<uint64_t>(d.count()); }

void SetDuration(inference::StatisticDuration* d, uint64_t count, uint64_t ns) {
  d->set_count(count);
  d->set_ns(ns);
}

// The model name and version every model RPC carries, within the name limit.
absl::Status CheckModelNames(const std::string& name, const std::string& version) {
  KILN_RETURN_IF_ERROR(CheckNameLength("the model name", name));
  return CheckNameLength("the model version", version);
}

}  // namespace

KServeService::KServeService(ModelManager& runtime, ModelRepository& repository,
                             std::string version)
    : runtime_(runtime), repository_(repository), version_(std::move(version)) {}

absl::StatusOr<KServeService::Model> KServeService::FindModel(const std::string& name,
                                                              const std::string& version) const {
  auto handle = runtime_.FindModule(name);
  if (!handle.ok()) {
    std::optional<ModelStatus> status = repository_.Find(name);
    if (status && status->state != ModelState::kReady) {
      // Inference clients get what failed, not the details: those name server paths and
      // compiler output (the repository index, an admin call, and kilnd's log have them).
      std::string what = status->reason.substr(0, status->reason.find(": "));
      return absl::NotFoundError(absl::StrCat("model '", name, "' is not ready (",
                                              std::string(ModelStateName(status->state)),
                                              what.empty() ? "" : ": ", what, ")"));
    }
    return absl::NotFoundError(absl::StrCat("unknown model: ", handle.status().message()));
  }
  Model model;
  model.version = repository_.ServedVersion(name, handle->digest);
  if (!version.empty() && version != model.version) {
    return absl::NotFoundError(absl::StrCat(
        "model '", name, "' has no version '", version, "' loaded",
        model.version.empty() ? std::string(" (it was loaded by digest and has no version)")
                              : absl::StrCat("; it serves version ", model.version)));
  }
  model.batched = repository_.Batched(name, handle->digest);
  model.function = model.batched ? &model.batched->signature() : handle->module->FindFunction("");
  if (model.function == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name,
                     "' has several functions and none is named 'main'; use the kiln "
                     "RuntimeService Invoke to pick one"));
  }
  model.handle = std::move(*handle);
  return model;
}

std::shared_ptr<KServeService::Stats> KServeService::StatsFor(const std::string& name) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  std::shared_ptr<Stats>& stats = stats_[name];
  if (!stats) stats = std::make_shared<Stats>();
  return stats;
}

grpc::Status KServeService::ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return grpc::Status::OK;
}

grpc::Status KServeService::ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) {
  response->set_ready(ready_.load());
  return grpc::Status::OK;
}

grpc::Status KServeService::ModelReady(grpc::ServerContext*,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) {
  if (absl::Status names = CheckModelNames(request->name(), request->version()); !names.ok())
    return ToGrpcStatus(names);
  // Unknown models are simply not ready (KServe answers this RPC without an error).
  response->set_ready(FindModel(request->name(), request->version()).ok());
  return grpc::Status::OK;
}

grpc::Status KServeService::ServerMetadata(grpc::ServerContext*,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) {
  response->set_name("kiln");
  response->set_version(version_);
  response->add_extensions("model_repository");
  response->add_extensions("statistics");
  return grpc::Status::OK;
}

grpc::Status KServeService::ModelMetadata(grpc::ServerContext*,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) {
  if (absl::Status names = CheckModelNames(request->name(), request->version()); !names.ok())
    return ToGrpcStatus(names);
  auto model = FindModel(request->name(), request->version());
  if (!model.ok()) return ToGrpcStatus(model.status());
  response->set_name(request->name());
  if (!model->version.empty()) response->add_versions(model->version);
  response->set_platform("kiln");
  auto describe = [](const mv1::ArgumentDef& arg,
                     inference::ModelMetadataResponse::TensorMetadata* out) {
    out->set_name(arg.name());
    out->set_datatype(std::string(KServeDatatype(arg.type().dtype()).value_or("UNSUPPORTED")));
    for (int64_t dim : arg.type().shape()) out->add_shape(dim);
  };
  for (const mv1::ArgumentDef& arg : model->function->inputs())
    describe(arg, response->add_inputs());
  for (const mv1::ArgumentDef& arg : model->function->outputs())
    describe(arg, response->add_outputs());
  auto& properties = *response->mutable_properties();
  properties["digest"] = model->handle.digest;
  properties["function"] = model->function->name();
  properties["execution_model"] = mv1::ExecutionModel_Name(model->function->execution_model());
  if (model->batched) {
    const BatchingConfig& batching = model->batched->config();
    properties["max_batch_size"] = absl::StrCat(batching.max_batch_size);
    properties["batch_buckets"] = absl::StrJoin(model->batched->buckets(), ",");
    properties["dynamic_batching"] = batching.dynamic ? "true" : "false";
  }
  return grpc::Status::OK;
}

absl::Status KServeService::Infer(grpc::ServerContext* context,
                                  const inference::ModelInferRequest& request,
                                  inference::ModelInferResponse& response,
                                  std::shared_ptr<Stats>& stats) {
  KILN_RETURN_IF_ERROR(CheckModelNames(request.model_name(), request.model_version()));
  for (const auto& input : request.inputs())
    KILN_RETURN_IF_ERROR(CheckNameLength("an input name", input.name()));
  for (const auto& output : request.outputs())
    KILN_RETURN_IF_ERROR(CheckNameLength("a requested output name", output.name()));
  auto model = FindModel(request.model_name(), request.model_version());
  if (!model.ok()) return model.status();
  // Statistics only for models that exist: a typo in a name must not create an entry.
  stats = StatsFor(request.model_name());
  const mv1::FunctionDef& function = *model->function;
  const Clock::time_point start = Clock::now();
  // Triton's schedule-policy "timeout" (int64, microseconds; 0: none) is the request's own
  // deadline, beside a gRPC deadline: what has not started running when it passes (queued,
  // or waiting for a batch) fails with DEADLINE_EXCEEDED. HTTP/REST has no other deadline.
  std::optional<Clock::time_point> timeout_at;
  if (auto it = request.parameters().find("timeout"); it != request.parameters().end()) {
    if (it->second.parameter_choice_case() != inference::InferParameter::kInt64Param ||
        it->second.int64_param() < 0)
      return absl::InvalidArgumentError(
          "the request parameter 'timeout' must be a non-negative int64 (microseconds; 0: none)");
    // Saturated at a year: a bigger number means none.
    const int64_t micros = std::min<int64_t>(it->second.int64_param(), int64_t{365} * 86400000000);
    if (micros > 0) timeout_at = start + std::chrono::microseconds(micros);
  }

  std::vector<std::string> packed;  // typed contents as bytes; the inputs point into it
  auto ordered = DecodeInferInputs(request, function, packed);
  if (!ordered.ok()) return ordered.status();

  // Requested outputs are checked before running: a typo must not cost a computation.
  std::vector<int> selected;  // indices into the function's outputs, in response order
  for (const auto& wanted : request.outputs()) {
    int index = 0;
    while (index < function.outputs_size() && function.outputs(index).name() != wanted.name())
      ++index;
    if (index == function.outputs_size()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown output '", wanted.name(),
                                                     "'; signature: ", SignatureString(function)));
    }
    selected.push_back(index);
  }
  if (request.outputs().empty())
    for (int i = 0; i < function.outputs_size(); ++i) selected.push_back(i);
  // The response carries the selected outputs (one asked for twice, twice); Run checks what is
  // computed, all of the function's outputs.
  const int64_t batch = model->batched ? model->batched->BatchOf(*ordered) : 1;
  KILN_RETURN_IF_ERROR(runtime_.CheckOutputBytes(model->handle, function,
                                                 model->batched
                                                     ? model->batched->OutputBytes(batch, selected)
                                                     : OutputBytes(function, selected)));

  const Clock::time_point inputs_done = Clock::now();
  GrpcCallControl control(context, timeout_at);
  const CallControl* call = context != nullptr || timeout_at ? &control : nullptr;
  int64_t executed = 1;  // the batch of the execution this request led (0: it did not lead)
  absl::StatusOr<InvocationResult> result;
  if (model->batched) {
    auto run = model->batched->Run(*ordered, call);
    if (!run.ok()) return run.status();
    executed = run->executed_batch;
    result = std::move(run->result);
  } else {
    result = runtime_.Run(model->handle, function, *ordered, call);
  }
  if (!result.ok()) return result.status();
  const Clock::time_point computed = Clock::now();
  stats->inferences.fetch_add(static_cast<uint64_t>(batch));
  if (executed > 0) {
    stats->executions.fetch_add(1);
    std::lock_guard<std::mutex> lock(stats->batch_mutex);
    ++stats->batch_executions[executed];
  }

  response.set_model_name(request.model_name());
  response.set_model_version(model->version);
  response.set_id(request.id());
  for (int index : selected) {
    HostTensor& out = result->outputs[index];
    auto* tensor = response.add_outputs();
    tensor->set_name(out.name);
    tensor->set_datatype(std::string(KServeDatatype(out.dtype).value_or("UNSUPPORTED")));
    for (int64_t dim : out.shape) tensor->add_shape(dim);
    // Moved unless the same output was requested twice.
    if (std::count(selected.begin(), selected.end(), index) > 1) {
      response.add_raw_output_contents(out.data);
    } else {
      *response.add_raw_output_contents() = std::move(out.data);
    }
  }

  const Clock::time_point end = Clock::now();
  const uint64_t queue_ns = Nanos(result->queue_time);
  stats->queue_ns.fetch_add(queue_ns);
  stats->input_ns.fetch_add(Nanos(inputs_done - start));
  stats->infer_ns.fetch_add(Nanos(computed - inputs_done) - queue_ns);
  stats->output_ns.fetch_add(Nanos(end - computed));
  return absl::OkStatus();
}

grpc::Status KServeService::ModelInfer(grpc::ServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) {
  const Clock::time_point start = Clock::now();
  std::shared_ptr<Stats> stats;
  absl::Status status = CatchOutOfMemory([&] { return Infer(context, *request, *response, stats); },
                                         "handling a ModelInfer request");
  runtime_.RequestFinished(request->ByteSizeLong());
  if (stats) {
    const uint64_t ns = Nanos(Clock::now() - start);
    if (status.ok()) {
      stats->success_count.fetch_add(1);
      stats->success_ns.fetch_add(ns);
      stats->last_inference_ms.store(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count()));
    } else {
      stats->fail_count.fetch_add(1);
      stats->fail_ns.fetch_add(ns);
    }
  }
  if (!status.ok()) {
    spdlog::debug("ModelInfer '{}' failed: {}", request->model_name(), status.ToString());
    return ToGrpcStatus(status);
  }
  return grpc::Status::OK;
}

void KServeService::FillStatistics(const std::string& name, const std::string& version,
                                   const Stats& stats, inference::ModelStatistics& out) const {
  out.set_name(name);
  out.set_version(version);
  const uint64_t successes = stats.success_count.load();
  out.set_last_inference(stats.last_inference_ms.load());
  // As Triton counts them: inferences are batch elements (a request of batch 4 is 4), executions
  // are runs of the model (requests merged by the dynamic batcher run once).
  out.set_inference_count(stats.inferences.load());
  out.set_execution_count(stats.executions.load());
  {
    std::lock_guard<std::mutex> lock(stats.batch_mutex);
    for (const auto& [batch, count] : stats.batch_executions) {
      auto* batch_stats = out.add_batch_stats();
      batch_stats->set_batch_size(static_cast<uint64_t>(batch));
      batch_stats->mutable_compute_infer()->set_count(count);
    }
  }
  auto* infer = out.mutable_inference_stats();
  SetDuration(infer->mutable_success(), successes, stats.success_ns.load());
  SetDuration(infer->mutable_fail(), stats.fail_count.load(), stats.fail_ns.load());
  SetDuration(infer->mutable_queue(), successes, stats.queue_ns.load());
  SetDuration(infer->mutable_compute_input(), successes, stats.input_ns.load());
  SetDuration(infer->mutable_compute_infer(), successes, stats.infer_ns.load());
  SetDuration(infer->mutable_compute_output(), successes, stats.output_ns.load());
}

grpc::Status KServeService::ModelStatistics(grpc::ServerContext*,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) {
  if (absl::Status names = CheckModelNames(request->name(), request->version()); !names.ok())
    return ToGrpcStatus(names);
  std::vector<ModelStatus> models;
  if (request->name().empty()) {
    for (ModelStatus& status : repository_.Index())
      if (status.state == ModelState::kReady) models.push_back(std::move(status));
  } else {
    std::optional<ModelStatus> status = repository_.Find(request->name());
    if (!status)
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("unknown model '", request->name(), "'"));
    if (!request->version().empty() && request->version() != status->version)
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("model '", request->name(), "' has no version '", request->version(), "'"));
    models.push_back(std::move(*status));
  }
  const Stats none;
  for (const ModelStatus& model : models) {
    std::shared_ptr<Stats> stats;
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      if (auto it = stats_.find(model.name); it != stats_.end()) stats = it->second;
    }
    FillStatistics(model.name, model.version, stats ? *stats : none, *response->add_model_stats());
  }
  return grpc::Status::OK;
}

grpc::Status KServeService::RepositoryIndex(grpc::ServerContext*,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) {
  for (const ModelStatus& status : repository_.Index()) {
    if (request->ready() && status.state != ModelState::kReady) continue;
    auto* model = response->add_models();
    model->set_name(status.name);
    model->set_version(status.version);
    model->set_state(std::string(ModelStateName(status.state)));
    model->set_reason(status.reason);
  }
  return grpc::Status::OK;
}

grpc::Status KServeService::RepositoryModelLoad(
    grpc::ServerContext*, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  if (request->model_name().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a model_name is required");
  if (absl::Status name = CheckNameLength("the model name", request->model_name()); !name.ok())
    return ToGrpcStatus(name);
  if (!request->parameters().empty()) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        absl::StrCat("kiln loads models from the repository as they are; load "
                                     "parameters (got '",
                                     request->parameters().begin()->first, "') are not supported"));
  }
  return ToGrpcStatus(repository_.Load(request->model_name()));
}

grpc::Status KServeService::RepositoryModelUnload(
    grpc::ServerContext*, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  if (request->model_name().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a model_name is required");
  if (absl::Status name = CheckNameLength("the model name", request->model_name()); !name.ok())
    return ToGrpcStatus(name);
  return ToGrpcStatus(repository_.Unload(request->model_name()));
}

}  // namespace kiln
