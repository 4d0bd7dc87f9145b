#include "server/kserve_rest.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime_service/tensor/tensor.h"
#include "runtime_service/tensor/tensor_spec.h"
#include "server/kserve_inputs.h"

namespace kiln {

namespace mv1 = kiln::module::v1;
using nlohmann::json;

namespace {

constexpr char kService[] = "/inference.GRPCInferenceService/";
constexpr char kHeaderLength[] = "Inference-Header-Content-Length";
// Nested "data" arrays deeper than this are refused (a hostile body must not recurse us out).
constexpr int kMaxDataDepth = 32;
// A parsed JSON number takes ~16 bytes and its typed copy more: a body of JSON tensors is held to
// this (~16M numbers, a few hundred MB while parsed), while binary data may be as large as the
// request limit allows.
constexpr size_t kMaxJsonBytes = size_t{32} << 20;

absl::Status Bad(const std::string& message) { return absl::InvalidArgumentError(message); }

// Appends the leaves of `data` (nested or flat) to `contents` as `dtype` wants them.
absl::Status AddData(const json& data, mv1::DataType dtype, const std::string& input, int depth,
                     inference::InferTensorContents& contents) {
  if (data.is_array()) {
    if (depth >= kMaxDataDepth)
      return Bad(absl::StrCat("input '", input, "': \"data\" is nested deeper than ", kMaxDataDepth,
                              " arrays"));
    for (const json& item : data)
      if (auto s = AddData(item, dtype, input, depth + 1, contents); !s.ok()) return s;
    return absl::OkStatus();
  }
  auto wrong = [&](const char* want) {
    return Bad(absl::StrCat("input '", input, "': \"data\" holds ", data.dump().substr(0, 40),
                            ", not ", want));
  };
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      if (!data.is_boolean()) return wrong("a boolean");
      contents.add_bool_contents(data.get<bool>());
      return absl::OkStatus();
    case mv1::DATA_TYPE_F32:
    case mv1::DATA_TYPE_F16:
    case mv1::DATA_TYPE_BF16:
      if (!data.is_number()) return wrong("a number");
      contents.add_fp32_contents(data.get<float>());
      return absl::OkStatus();
    case mv1::DATA_TYPE_F64:
      if (!data.is_number()) return wrong("a number");
      contents.add_fp64_contents(data.get<double>());
      return absl::OkStatus();
    case mv1::DATA_TYPE_I8:
    case mv1::DATA_TYPE_I16:
    case mv1::DATA_TYPE_I32:
      if (!data.is_number_integer() ||
          (data.is_number_unsigned() && data.get<uint64_t>() > INT32_MAX) ||
          data.get<int64_t>() < INT32_MIN || data.get<int64_t>() > INT32_MAX)
        return wrong("an integer in its type's range");
      contents.add_int_contents(static_cast<int32_t>(data.get<int64_t>()));
      return absl::OkStatus();
    case mv1::DATA_TYPE_I64:
      if (!data.is_number_integer() ||
          (data.is_number_unsigned() && data.get<uint64_t>() > INT64_MAX))
        return wrong("a 64-bit integer");
      contents.add_int64_contents(data.get<int64_t>());
      return absl::OkStatus();
    case mv1::DATA_TYPE_U8:
    case mv1::DATA_TYPE_U16:
    case mv1::DATA_TYPE_U32:
      if (!data.is_number_integer() || data.get<int64_t>() < 0 || data.get<uint64_t>() > UINT32_MAX)
        return wrong("an unsigned integer in its type's range");
      contents.add_uint_contents(static_cast<uint32_t>(data.get<uint64_t>()));
      return absl::OkStatus();
    case mv1::DATA_TYPE_U64:
      if (!data.is_number_unsigned() && !(data.is_number_integer() && data.get<int64_t>() >= 0))
        return wrong("an unsigned 64-bit integer");
      contents.add_uint64_contents(data.get<uint64_t>());
      return absl::OkStatus();
    default:
      return Bad(absl::StrCat("input '", input, "' has an unsupported datatype"));
  }
}

// The elements of a shape, or -1 when it is malformed or overflows.
int64_t Elements(const google::protobuf::RepeatedField<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t dim : shape) {
    if (dim < 0 || (dim > 0 && n > INT64_MAX / dim)) return -1;
    n *= dim;
  }
  return n;
}

// Appends `raw` (little-endian elements of `dtype`) to `out` as a flat JSON array.
void AppendData(const std::string& raw, mv1::DataType dtype, json& out) {
  auto each = [&](auto type_tag, auto convert) {
    using T = decltype(type_tag);
    for (size_t i = 0; i + sizeof(T) <= raw.size(); i += sizeof(T)) {
      T v;
      std::memcpy(&v, raw.data() + i, sizeof(T));
      out.push_back(convert(v));
    }
  };
  auto same = [](auto v) { return v; };
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      each(uint8_t{}, [](uint8_t v) { return v != 0; });
      break;
    case mv1::DATA_TYPE_F32:
      each(float{}, same);
      break;
    case mv1::DATA_TYPE_F64:
      each(double{}, same);
      break;
    case mv1::DATA_TYPE_F16:
      each(uint16_t{}, [](uint16_t v) { return HalfToFloat(v); });
      break;
    case mv1::DATA_TYPE_BF16:
      each(uint16_t{}, [](uint16_t v) { return BFloat16ToFloat(v); });
      break;
    case mv1::DATA_TYPE_I8:
      each(int8_t{}, [](int8_t v) { return int{v}; });
      break;
    case mv1::DATA_TYPE_I16:
      each(int16_t{}, same);
      break;
    case mv1::DATA_TYPE_I32:
      each(int32_t{}, same);
      break;
    case mv1::DATA_TYPE_I64:
      each(int64_t{}, same);
      break;
    case mv1::DATA_TYPE_U8:
      each(uint8_t{}, [](uint8_t v) { return unsigned{v}; });
      break;
    case mv1::DATA_TYPE_U16:
      each(uint16_t{}, same);
      break;
    case mv1::DATA_TYPE_U32:
      each(uint32_t{}, same);
      break;
    case mv1::DATA_TYPE_U64:
      each(uint64_t{}, same);
      break;
    default:
      break;
  }
}

// Reads "parameters": {"binary_data": bool} of an output or the request.
absl::StatusOr<std::optional<bool>> BoolParameter(const json& object, const char* key,
                                                  const std::string& what) {
  if (!object.contains("parameters")) return std::optional<bool>();
  const json& parameters = object["parameters"];
  if (!parameters.is_object()) return Bad(absl::StrCat(what, ": \"parameters\" must be an object"));
  if (!parameters.contains(key)) return std::optional<bool>();
  if (!parameters[key].is_boolean())
    return Bad(absl::StrCat(what, ": parameter \"", key, "\" must be true or false"));
  return std::optional<bool>(parameters[key].get<bool>());
}

void Reply(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void ReplyError(httplib::Response& response, const absl::Status& status) {
  Reply(response, HttpStatusFor(status.code()), json{{"error", std::string(status.message())}});
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// The (model, version) of a route matched by kModelPath.
std::pair<std::string, std::string> ModelOf(const httplib::Request& request) {
  return {request.matches[1].str(), request.matches.size() > 2 ? request.matches[2].str() : ""};
}

// v2/models/<model>[/versions/<version>] and what follows.
constexpr char kModelPath[] = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

json TensorMetadataJson(
    const google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>&
        tensors) {
  json out = json::array();
  for (const auto& t : tensors)
    out.push_back({{"name", t.name()},
                   {"datatype", t.datatype()},
                   {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())}});
  return out;
}

json DurationJson(const inference::StatisticDuration& d) {
  return {{"count", d.count()}, {"ns", d.ns()}};
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::StatusOr<inference::ModelInferRequest> ParseRestInferRequest(
    std::string_view body, std::optional<uint64_t> json_length, const std::string& model,
    const std::string& version, bool& binary_outputs) {
  if (json_length && *json_length > body.size())
    return Bad(absl::StrCat(kHeaderLength, " is ", *json_length, ", but the body has ", body.size(),
                            " bytes"));
  std::string_view text = json_length ? body.substr(0, *json_length) : body;
  std::string_view binary = json_length ? body.substr(*json_length) : std::string_view();
  if (text.size() > kMaxJsonBytes)
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request's JSON is ", text.size(), " bytes, over kilnd's limit of ", kMaxJsonBytes,
        " for JSON tensors; send large tensors as binary data (", kHeaderLength, ")"));
  // Parsed without exceptions; depth is bounded again where data is walked.
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("the request body is not valid JSON");
  if (!doc.is_object()) return Bad("the request body must be a JSON object");
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_model_version(version);
  if (doc.contains("id")) {
    if (!doc["id"].is_string()) return Bad("\"id\" must be a string");
    request.set_id(doc["id"].get<std::string>());
  }
  auto wanted = BoolParameter(doc, "binary_data_output", "the request");
  if (!wanted.ok()) return wanted.status();
  binary_outputs = wanted->value_or(false);
  // The schedule-policy "timeout" (microseconds) goes to the service as gRPC's int64 parameter,
  // which checks it; a number that is not an integer is refused here.
  if (doc.contains("parameters") && doc["parameters"].contains("timeout")) {
    const json& timeout = doc["parameters"]["timeout"];
    if (!timeout.is_number_integer() ||
        (timeout.is_number_unsigned() && timeout.get<uint64_t>() > INT64_MAX))
      return Bad("the request parameter \"timeout\" must be an integer (microseconds)");
    (*request.mutable_parameters())["timeout"].set_int64_param(timeout.get<int64_t>());
  }
  if (!doc.contains("inputs") || !doc["inputs"].is_array())
    return Bad("\"inputs\" must be an array of tensors");

  struct Pending {
    std::string binary;  // the bytes of an input given as binary data
    bool is_binary = false;
  };
  std::vector<Pending> pending;
  size_t offset = 0;
  for (const json& in : doc["inputs"]) {
    if (!in.is_object()) return Bad("every element of \"inputs\" must be an object");
    if (!in.contains("name") || !in["name"].is_string()) return Bad("an input has no \"name\"");
    const std::string name = in["name"].get<std::string>();
    auto* tensor = request.add_inputs();
    tensor->set_name(name);
    if (!in.contains("datatype") || !in["datatype"].is_string())
      return Bad(absl::StrCat("input '", name, "' has no \"datatype\""));
    tensor->set_datatype(in["datatype"].get<std::string>());
    if (!in.contains("shape") || !in["shape"].is_array())
      return Bad(absl::StrCat("input '", name, "' has no \"shape\" array"));
    for (const json& dim : in["shape"]) {
      if (!dim.is_number_integer() || (dim.is_number_unsigned() && dim.get<uint64_t>() > INT64_MAX))
        return Bad(absl::StrCat("input '", name, "': \"shape\" must hold integers"));
      tensor->add_shape(dim.get<int64_t>());
    }
    Pending& p = pending.emplace_back();
    uint64_t binary_size = 0;
    if (in.contains("parameters")) {
      const json& parameters = in["parameters"];
      if (!parameters.is_object())
        return Bad(absl::StrCat("input '", name, "': \"parameters\" must be an object"));
      if (parameters.contains("binary_data_size")) {
        if (!parameters["binary_data_size"].is_number_unsigned())
          return Bad(absl::StrCat("input '", name,
                                  "': \"binary_data_size\" must be a non-negative integer"));
        binary_size = parameters["binary_data_size"].get<uint64_t>();
        p.is_binary = true;
      }
    }
    if (p.is_binary) {
      if (in.contains("data"))
        return Bad(absl::StrCat("input '", name, "' has both \"data\" and binary data"));
      if (binary_size > binary.size() - offset)
        return Bad(absl::StrCat("input '", name, "': binary_data_size ", binary_size,
                                " is beyond the ", binary.size() - offset,
                                " bytes of binary data left in the body"));
      p.binary = std::string(binary.substr(offset, binary_size));
      offset += binary_size;
      continue;
    }
    if (!in.contains("data"))
      return Bad(absl::StrCat("input '", name, "' has no \"data\" (or binary_data_size)"));
    auto dtype = ParseKServeDatatype(tensor->datatype());
    if (!dtype)
      return Bad(absl::StrCat("input '", name, "' has datatype '", tensor->datatype(),
                              "', which kiln does not support"));
    if (auto s = AddData(in["data"], *dtype, name, 0, *tensor->mutable_contents()); !s.ok())
      return s;
    const int64_t elements = Elements(tensor->shape());
    const auto& c = tensor->contents();
    const int64_t values = c.bool_contents_size() + c.int_contents_size() +
                           c.int64_contents_size() + c.uint_contents_size() +
                           c.uint64_contents_size() + c.fp32_contents_size() +
                           c.fp64_contents_size();
    if (elements >= 0 && values != elements)
      return Bad(absl::StrCat("input '", name, "': its shape has ", elements,
                              " elements but \"data\" has ", values, " values"));
  }
  if (offset != binary.size())
    return Bad(absl::StrCat("the body has ", binary.size() - offset,
                            " bytes of binary data that no input claims"));
  // The protocol allows raw contents only for all inputs at once: with any binary input, the
  // JSON inputs are packed to bytes as well (PackContents checks their counts and ranges).
  const bool any_binary =
      std::any_of(pending.begin(), pending.end(), [](const Pending& p) { return p.is_binary; });
  if (any_binary) {
    for (int i = 0; i < request.inputs_size(); ++i) {
      auto* tensor = request.mutable_inputs(i);
      if (pending[i].is_binary) {
        request.add_raw_input_contents(std::move(pending[i].binary));
        continue;
      }
      auto dtype = ParseKServeDatatype(tensor->datatype());
      const int64_t elements = Elements(tensor->shape());
      if (elements < 0)
        return Bad(absl::StrCat("input '", tensor->name(), "' has a malformed shape"));
      auto packed = PackContents(tensor->name(), *dtype, elements, tensor->contents());
      if (!packed.ok()) return packed.status();
      request.add_raw_input_contents(*std::move(packed));
      tensor->clear_contents();
    }
  }

  if (doc.contains("outputs")) {
    if (!doc["outputs"].is_array()) return Bad("\"outputs\" must be an array");
    for (const json& out : doc["outputs"]) {
      if (!out.is_object() || !out.contains("name") || !out["name"].is_string())
        return Bad("every element of \"outputs\" needs a \"name\"");
      auto* wanted_output = request.add_outputs();
      wanted_output->set_name(out["name"].get<std::string>());
      auto binary_output =
          BoolParameter(out, "binary_data", absl::StrCat("output '", wanted_output->name(), "'"));
      if (!binary_output.ok()) return binary_output.status();
      if (*binary_output)
        (*wanted_output->mutable_parameters())["binary_data"].set_bool_param(**binary_output);
    }
  }
  return request;
}

absl::StatusOr<RestBody> RestInferResponse(const inference::ModelInferRequest& request,
                                           inference::ModelInferResponse& response,
                                           bool binary_outputs) {
  json doc = {{"model_name", response.model_name()}, {"outputs", json::array()}};
  if (!response.model_version().empty()) doc["model_version"] = response.model_version();
  if (!response.id().empty()) doc["id"] = response.id();
  std::string binary;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& out = response.outputs(i);
    bool as_binary = binary_outputs;
    if (i < request.outputs_size()) {
      const auto& parameters = request.outputs(i).parameters();
      if (auto it = parameters.find("binary_data"); it != parameters.end())
        as_binary = it->second.bool_param();
    }
    json tensor = {{"name", out.name()},
                   {"datatype", out.datatype()},
                   {"shape", std::vector<int64_t>(out.shape().begin(), out.shape().end())}};
    const std::string& raw = response.raw_output_contents(i);
    if (as_binary) {
      tensor["parameters"] = {{"binary_data_size", raw.size()}};
      binary += raw;
    } else {
      auto dtype = ParseKServeDatatype(out.datatype());
      json data = json::array();
      if (dtype) AppendData(raw, *dtype, data);
      tensor["data"] = std::move(data);
    }
    doc["outputs"].push_back(std::move(tensor));
  }
  RestBody result;
  result.body = doc.dump();
  result.json_length = result.body.size();
  result.body += binary;
  return result;
}

std::string KServeRestMethod(std::string_view http_method, std::string_view path) {
  auto ends = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  const bool model = path.rfind("/v2/models/", 0) == 0;
  std::string method;
  if (path == "/v2/health/live")
    method = "ServerLive";
  else if (path == "/v2/health/ready")
    method = "ServerReady";
  else if (path == "/v2" || path == "/v2/")
    method = "ServerMetadata";
  else if (path.rfind("/v2/repository/", 0) == 0)
    method = ends("/load")     ? "RepositoryModelLoad"
             : ends("/unload") ? "RepositoryModelUnload"
                               : "RepositoryIndex";
  else if (model && ends("/infer"))
    method = "ModelInfer";
  else if (model && ends("/ready"))
    method = "ModelReady";
  else if ((model && ends("/stats")) || path == "/v2/models/stats")
    method = "ModelStatistics";
  else if (model && http_method == "GET")
    method = "ModelMetadata";
  return method.empty() ? "" : absl::StrCat(kService, method);
}

void AddKServeRoutes(httplib::Server& server, KServeService& kserve) {
  server.Get("/v2/health/live", [&](const httplib::Request&, httplib::Response& res) {
    inference::ServerLiveResponse live;
    (void)kserve.ServerLive(nullptr, nullptr, &live);
    Reply(res, live.live() ? 200 : 400, json{{"live", live.live()}});
  });
  server.Get("/v2/health/ready", [&](const httplib::Request&, httplib::Response& res) {
    inference::ServerReadyResponse ready;
    (void)kserve.ServerReady(nullptr, nullptr, &ready);
    Reply(res, ready.ready() ? 200 : 400, json{{"ready", ready.ready()}});
  });
  server.Get("/v2", [&](const httplib::Request&, httplib::Response& res) {
    inference::ServerMetadataResponse meta;
    (void)kserve.ServerMetadata(nullptr, nullptr, &meta);
    Reply(res, 200,
          json{{"name", meta.name()},
               {"version", meta.version()},
               {"extensions",
                std::vector<std::string>(meta.extensions().begin(), meta.extensions().end())}});
  });
  server.Get(
      absl::StrCat(kModelPath, "/ready"), [&](const httplib::Request& req, httplib::Response& res) {
        auto [name, version] = ModelOf(req);
        inference::ModelReadyRequest request;
        request.set_name(name);
        request.set_version(version);
        inference::ModelReadyResponse ready;
        if (grpc::Status s = kserve.ModelReady(nullptr, &request, &ready); !s.ok())
          return ReplyError(res, FromGrpc(s));
        Reply(res, ready.ready() ? 200 : 400, json{{"name", name}, {"ready", ready.ready()}});
      });
  auto stats = [&](const httplib::Request& req, httplib::Response& res) {
    inference::ModelStatisticsRequest request;
    if (req.matches.size() > 1) {
      auto [name, version] = ModelOf(req);
      request.set_name(name);
      request.set_version(version);
    }
    inference::ModelStatisticsResponse response;
    if (grpc::Status s = kserve.ModelStatistics(nullptr, &request, &response); !s.ok())
      return ReplyError(res, FromGrpc(s));
    json models = json::array();
    for (const auto& m : response.model_stats()) {
      const auto& s = m.inference_stats();
      json batches = json::array();
      for (const auto& b : m.batch_stats())
        batches.push_back(
            {{"batch_size", b.batch_size()}, {"compute_infer", DurationJson(b.compute_infer())}});
      models.push_back({{"name", m.name()},
                        {"version", m.version()},
                        {"last_inference", m.last_inference()},
                        {"inference_count", m.inference_count()},
                        {"execution_count", m.execution_count()},
                        {"inference_stats",
                         {{"success", DurationJson(s.success())},
                          {"fail", DurationJson(s.fail())},
                          {"queue", DurationJson(s.queue())},
                          {"compute_input", DurationJson(s.compute_input())},
                          {"compute_infer", DurationJson(s.compute_infer())},
                          {"compute_output", DurationJson(s.compute_output())}}},
                        {"batch_stats", std::move(batches)}});
    }
    Reply(res, 200, json{{"model_stats", std::move(models)}});
  };
  server.Get("/v2/models/stats", stats);
  server.Get(absl::StrCat(kModelPath, "/stats"), stats);
  server.Post(
      absl::StrCat(kModelPath, "/infer"), [&](const httplib::Request& req, httplib::Response& res) {
        auto [name, version] = ModelOf(req);
        std::optional<uint64_t> json_length;
        if (req.has_header(kHeaderLength)) {
          const std::string text = req.get_header_value(kHeaderLength);
          uint64_t n = 0;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
          if (ec != std::errc() || end != text.data() + text.size())
            return ReplyError(res, Bad(absl::StrCat(kHeaderLength, " '", text.substr(0, 40),
                                                    "' is not a byte count")));
          json_length = n;
        }
        bool binary_outputs = false;
        auto request = ParseRestInferRequest(req.body, json_length, name, version, binary_outputs);
        if (!request.ok()) return ReplyError(res, request.status());
        inference::ModelInferResponse response;
        if (grpc::Status s = kserve.ModelInfer(nullptr, &*request, &response); !s.ok())
          return ReplyError(res, FromGrpc(s));
        auto body = RestInferResponse(*request, response, binary_outputs);
        if (!body.ok()) return ReplyError(res, body.status());
        res.status = 200;
        if (body->json_length == body->body.size()) {
          res.set_content(body->body, "application/json");
        } else {
          res.set_header(kHeaderLength, std::to_string(body->json_length));
          res.set_content(body->body, "application/octet-stream");
        }
      });
  server.Get(kModelPath, [&](const httplib::Request& req, httplib::Response& res) {
    auto [name, version] = ModelOf(req);
    inference::ModelMetadataRequest request;
    request.set_name(name);
    request.set_version(version);
    inference::ModelMetadataResponse meta;
    if (grpc::Status s = kserve.ModelMetadata(nullptr, &request, &meta); !s.ok())
      return ReplyError(res, FromGrpc(s));
    json properties = json::object();
    for (const auto& [key, value] : meta.properties()) properties[key] = value;
    Reply(
        res, 200,
        json{{"name", meta.name()},
             {"versions", std::vector<std::string>(meta.versions().begin(), meta.versions().end())},
             {"platform", meta.platform()},
             {"inputs", TensorMetadataJson(meta.inputs())},
             {"outputs", TensorMetadataJson(meta.outputs())},
             {"properties", std::move(properties)}});
  });
  server.Post("/v2/repository/index", [&](const httplib::Request& req, httplib::Response& res) {
    inference::RepositoryIndexRequest request;
    if (!req.body.empty()) {
      if (req.body.size() > kMaxJsonBytes)
        return ReplyError(res, Bad("the request body is too large for a repository index"));
      json doc = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.is_object())
        return ReplyError(res, Bad("the request body must be a JSON object"));
      if (doc.contains("ready")) {
        if (!doc["ready"].is_boolean()) return ReplyError(res, Bad("\"ready\" must be a boolean"));
        request.set_ready(doc["ready"].get<bool>());
      }
    }
    inference::RepositoryIndexResponse index;
    (void)kserve.RepositoryIndex(nullptr, &request, &index);
    json models = json::array();
    for (const auto& m : index.models()) {
      json model = {{"name", m.name()}, {"state", m.state()}};
      if (!m.version().empty()) model["version"] = m.version();
      if (!m.reason().empty()) model["reason"] = m.reason();
      models.push_back(std::move(model));
    }
    Reply(res, 200, models);
  });
  server.Post(R"(/v2/repository/models/([^/]+)/(load|unload))",
              [&](const httplib::Request& req, httplib::Response& res) {
                const std::string name = req.matches[1].str();
                grpc::Status s;
                if (req.matches[2].str() == "load") {
                  inference::RepositoryModelLoadRequest request;
                  request.set_model_name(name);
                  inference::RepositoryModelLoadResponse response;
                  s = kserve.RepositoryModelLoad(nullptr, &request, &response);
                } else {
                  inference::RepositoryModelUnloadRequest request;
                  request.set_model_name(name);
                  inference::RepositoryModelUnloadResponse response;
                  s = kserve.RepositoryModelUnload(nullptr, &request, &response);
                }
                if (!s.ok()) return ReplyError(res, FromGrpc(s));
                Reply(res, 200, json::object());
              });
  // Anything else is the protocol's 404 with a JSON error, not httplib's empty page.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message =
        res.status == 404   ? absl::StrCat("no such endpoint: ", req.method, " ", req.path)
        : res.status == 413 ? "the request body is over kilnd's limit (--max-message-bytes)"
        : res.status == 400 ? "malformed HTTP request (a POST needs a Content-Length)"
                            : absl::StrCat("HTTP ", res.status);
    res.set_content(json{{"error", message}}.dump(), "application/json");
  });
}

}  // namespace kiln
