#include "server/kserve_service.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime_service/runtime.h"
#include "runtime_service/service/grpc_status.h"
#include "server/metrics.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct DatatypeName {
  DataType dtype;
  const char* name;  // a C string: Debian's absl::StrCat takes no std::string_view
};
constexpr DatatypeName kDatatypes[] = {
    {mv1::DATA_TYPE_F32, "FP32"},   {mv1::DATA_TYPE_F64, "FP64"},   {mv1::DATA_TYPE_F16, "FP16"},
    {mv1::DATA_TYPE_BF16, "BF16"},  {mv1::DATA_TYPE_I8, "INT8"},    {mv1::DATA_TYPE_I16, "INT16"},
    {mv1::DATA_TYPE_I32, "INT32"},  {mv1::DATA_TYPE_I64, "INT64"},  {mv1::DATA_TYPE_U8, "UINT8"},
    {mv1::DATA_TYPE_U16, "UINT16"}, {mv1::DATA_TYPE_U32, "UINT32"}, {mv1::DATA_TYPE_U64, "UINT64"},
    {mv1::DATA_TYPE_BOOL, "BOOL"},
};

uint64_t Nanos(std::chrono::nanoseconds d) { return static_cast<uint64_t>(d.count()); }

// IEEE binary16, round to nearest even; NaN stays NaN, overflow becomes infinity.
uint16_t FloatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds past the largest half
  if (abs < 0x38800000) {                       // below 2^-14: a half subnormal (or zero)
    float magnitude;
    std::memcpy(&magnitude, &abs, 4);
    // Scaling by 2^24 is exact; nearbyint rounds half to even in the default mode.
    return sign | static_cast<uint16_t>(std::nearbyint(magnitude * 16777216.0f));
  }
  const uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);  // carries into the exponent
  return sign | static_cast<uint16_t>((rounded - 0x38000000) >> 13);
}

uint16_t FloatToBfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

template <typename T>
void Append(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian host (x86-64, the only target)
  out.append(bytes, sizeof(T));
}

// Every element of `values` converted to T, range-checked.
template <typename T, typename Values>
absl::Status PackIntegers(const Values& values, const std::string& input,
                          const std::string& datatype, std::string& out) {
  for (int i = 0; i < values.size(); ++i) {
    if (!std::in_range<T>(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input, "': value ", values[i],
                                                     " at index ", i, " is out of range for ",
                                                     datatype));
    }
    Append(out, static_cast<T>(values[i]));
  }
  return absl::OkStatus();
}

// The `contents` field KServe assigns to a datatype, by field number in InferTensorContents.
int ContentsField(DataType dtype) {
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      return 1;
    case mv1::DATA_TYPE_I8:
    case mv1::DATA_TYPE_I16:
    case mv1::DATA_TYPE_I32:
      return 2;
    case mv1::DATA_TYPE_I64:
      return 3;
    case mv1::DATA_TYPE_U8:
    case mv1::DATA_TYPE_U16:
    case mv1::DATA_TYPE_U32:
      return 4;
    case mv1::DATA_TYPE_U64:
      return 5;
    case mv1::DATA_TYPE_F32:
    case mv1::DATA_TYPE_F16:
    case mv1::DATA_TYPE_BF16:
      return 6;
    case mv1::DATA_TYPE_F64:
      return 7;
    default:
      return 0;
  }
}

const char* FieldName(int field) {
  static constexpr const char* kNames[] = {"",
                                           "bool_contents",
                                           "int_contents",
                                           "int64_contents",
                                           "uint_contents",
                                           "uint64_contents",
                                           "fp32_contents",
                                           "fp64_contents",
                                           "bytes_contents"};
  return kNames[field];
}

int FieldSize(const inference::InferTensorContents& c, int field) {
  switch (field) {
    case 1:
      return c.bool_contents_size();
    case 2:
      return c.int_contents_size();
    case 3:
      return c.int64_contents_size();
    case 4:
      return c.uint_contents_size();
    case 5:
      return c.uint64_contents_size();
    case 6:
      return c.fp32_contents_size();
    case 7:
      return c.fp64_contents_size();
    case 8:
      return c.bytes_contents_size();
    default:
      return 0;
  }
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::string SupportedDatatypes() {
  std::vector<std::string> names;
  for (const DatatypeName& d : kDatatypes) names.push_back(d.name);
  return absl::StrJoin(names, ", ");
}

void SetDuration(inference::StatisticDuration* d, uint64_t count, uint64_t ns) {
  d->set_count(count);
  d->set_ns(ns);
}

}  // namespace

std::optional<std::string_view> KServeDatatype(DataType dtype) {
  for (const DatatypeName& d : kDatatypes)
    if (d.dtype == dtype) return d.name;
  return std::nullopt;
}

std::optional<DataType> ParseKServeDatatype(std::string_view name) {
  for (const DatatypeName& d : kDatatypes)
    if (d.name == name) return d.dtype;
  return std::nullopt;
}

absl::StatusOr<std::string> PackContents(const std::string& input, DataType dtype, int64_t elements,
                                         const inference::InferTensorContents& contents) {
  const int field = ContentsField(dtype);
  const std::string datatype(KServeDatatype(dtype).value_or("?"));
  for (int other = 1; other <= 8; ++other) {
    if (other == field || FieldSize(contents, other) == 0) continue;
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "' is ", datatype,
                                                   ": its data goes in contents.", FieldName(field),
                                                   ", not ", FieldName(other)));
  }
  const int64_t given = FieldSize(contents, field);
  if (given != elements) {
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "': its shape has ", elements,
                                                   " elements but contents.", FieldName(field),
                                                   " has ", given));
  }
  std::string out;
  out.reserve(static_cast<size_t>(elements) * DataTypeSize(dtype));
  absl::Status status;
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      for (bool b : contents.bool_contents()) out.push_back(b ? 1 : 0);
      break;
    case mv1::DATA_TYPE_I8:
      status = PackIntegers<int8_t>(contents.int_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_I16:
      status = PackIntegers<int16_t>(contents.int_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_I32:
      status = PackIntegers<int32_t>(contents.int_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_I64:
      status = PackIntegers<int64_t>(contents.int64_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U8:
      status = PackIntegers<uint8_t>(contents.uint_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U16:
      status = PackIntegers<uint16_t>(contents.uint_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U32:
      status = PackIntegers<uint32_t>(contents.uint_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U64:
      status = PackIntegers<uint64_t>(contents.uint64_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_F32:
      out.append(reinterpret_cast<const char*>(contents.fp32_contents().data()),
                 static_cast<size_t>(elements) * sizeof(float));
      break;
    case mv1::DATA_TYPE_F16:
      for (float v : contents.fp32_contents()) Append(out, FloatToHalf(v));
      break;
    case mv1::DATA_TYPE_BF16:
      for (float v : contents.fp32_contents()) Append(out, FloatToBfloat16(v));
      break;
    case mv1::DATA_TYPE_F64:
      out.append(reinterpret_cast<const char*>(contents.fp64_contents().data()),
                 static_cast<size_t>(elements) * sizeof(double));
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input, "': no typed contents for this datatype"));
  }
  if (!status.ok()) return status;
  return out;
}

KServeService::KServeService(RuntimeServiceImpl& runtime, ModelRepository& repository,
                             std::string version)
    : runtime_(runtime), repository_(repository), version_(std::move(version)) {}

absl::StatusOr<KServeService::Model> KServeService::FindModel(const std::string& name,
                                                              const std::string& version) const {
  auto handle = runtime_.FindModule(name);
  if (!handle.ok()) {
    std::optional<ModelStatus> status = repository_.Find(name);
    if (status && status->state != ModelState::kReady) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' is not ready (",
                                              std::string(ModelStateName(status->state)), ": ",
                                              status->reason, ")"));
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
  model.function = handle->module->FindFunction("");
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
  return grpc::Status::OK;
}

absl::Status KServeService::Infer(grpc::ServerContext* context,
                                  const inference::ModelInferRequest& request,
                                  inference::ModelInferResponse& response,
                                  std::shared_ptr<Stats>& stats) {
  auto model = FindModel(request.model_name(), request.model_version());
  if (!model.ok()) return model.status();
  // Statistics only for models that exist: a typo in a name must not create an entry.
  stats = StatsFor(request.model_name());
  const mv1::FunctionDef& function = *model->function;
  const Clock::time_point start = Clock::now();

  const int raw_count = request.raw_input_contents_size();
  if (raw_count > 0 && raw_count != request.inputs_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw_input_contents has ", raw_count, " entries for ", request.inputs_size(),
                     " inputs; with raw inputs every input needs one, in order"));
  }
  std::vector<std::string> packed;  // typed contents as bytes; views point into it
  packed.reserve(request.inputs_size());
  std::vector<TensorView> views(request.inputs_size());
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    auto dtype = ParseKServeDatatype(input.datatype());
    if (!dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", input.name(), "': unsupported datatype '", input.datatype(),
          "'; kiln supports ", SupportedDatatypes(), "; signature: ", SignatureString(function)));
    }
    const std::span<const int64_t> shape(input.shape().data(), input.shape().size());
    std::string_view data;
    if (raw_count > 0) {
      if (input.has_contents()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", input.name(), "' has both contents and raw_input_contents; use one"));
      }
      data = request.raw_input_contents(i);
    } else {
      auto elements = ElementCount(shape);
      if (!elements.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "': bad shape ",
                                                       ShapeString(shape), ": ",
                                                       elements.status().message()));
      }
      auto bytes = PackContents(input.name(), *dtype, *elements, input.contents());
      if (!bytes.ok()) return bytes.status();
      packed.push_back(std::move(*bytes));
      data = packed.back();
    }
    if (*dtype == mv1::DATA_TYPE_BOOL) {
      for (char c : data) {
        if (c != 0 && c != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("input '", input.name(), "': BOOL elements must be bytes 0 or 1"));
        }
      }
    }
    views[i].name = input.name();
    views[i].dtype = *dtype;
    views[i].shape = shape;
    views[i].data =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  auto ordered = MatchInputs(function, views);
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

  const Clock::time_point inputs_done = Clock::now();
  auto result = runtime_.Run(model->handle, function, *ordered, context);
  if (!result.ok()) return result.status();
  const Clock::time_point computed = Clock::now();

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
  absl::Status status = Infer(context, *request, *response, stats);
  metrics::RecordRpc("ModelInfer", request->model_name(), status);
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
  // kiln does not batch: every successful request is one inference and one execution.
  out.set_inference_count(successes);
  out.set_execution_count(successes);
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
  return ToGrpcStatus(repository_.Unload(request->model_name()));
}

}  // namespace kiln
