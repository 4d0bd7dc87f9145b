// The REST side of KServe v2: JSON and binary-data requests to ModelInferRequest, responses back,
// status codes and the gRPC method each route amounts to. End to end: rest_test.py.
#include "server/kserve_rest.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<inference::ModelInferRequest> Parse(const std::string& body,
                                                   std::optional<uint64_t> json_length = {}) {
  bool binary = false;
  return ParseRestInferRequest(body, json_length, "m", "2", binary);
}

std::string Error(const std::string& body, std::optional<uint64_t> json_length = {}) {
  auto request = Parse(body, json_length);
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << body;
  return std::string(request.status().message());
}

TEST(KServeRest, JsonTensorsBecomeTypedContents) {
  auto request = Parse(R"({"id": "r1", "inputs": [
      {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2.5], [3, 4]]},
      {"name": "i", "datatype": "INT64", "shape": [1], "data": [-9007199254740993]},
      {"name": "b", "datatype": "BOOL", "shape": [2], "data": [true, false]}],
      "outputs": [{"name": "y", "parameters": {"binary_data": true}}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model_name(), "m");
  EXPECT_EQ(request->model_version(), "2");
  EXPECT_EQ(request->id(), "r1");
  ASSERT_EQ(request->inputs_size(), 3);
  EXPECT_THAT(request->inputs(0).contents().fp32_contents(), ::testing::ElementsAre(1, 2.5, 3, 4));
  EXPECT_EQ(request->inputs(1).contents().int64_contents(0), -9007199254740993);
  EXPECT_THAT(request->inputs(2).contents().bool_contents(), ::testing::ElementsAre(true, false));
  EXPECT_TRUE(request->raw_input_contents().empty());
  EXPECT_TRUE(request->outputs(0).parameters().at("binary_data").bool_param());
}

TEST(KServeRest, BinaryDataMakesEveryInputRaw) {
  const std::string header = R"({"inputs": [
      {"name": "a", "datatype": "INT32", "shape": [2], "parameters": {"binary_data_size": 8}},
      {"name": "b", "datatype": "INT16", "shape": [1], "data": [7]}]})";
  const int32_t a[2] = {5, -6};
  std::string body = header + std::string(reinterpret_cast<const char*>(a), sizeof(a));
  auto request = Parse(body, header.size());
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->raw_input_contents_size(), 2);
  EXPECT_EQ(request->raw_input_contents(0), std::string(reinterpret_cast<const char*>(a), 8));
  EXPECT_EQ(request->raw_input_contents(1), std::string("\x07\x00", 2));
  EXPECT_FALSE(request->inputs(1).has_contents());
}

TEST(KServeRest, MalformedRequestsNameTheField) {
  EXPECT_THAT(Error("[1]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(Error(R"({"inputs": [{"datatype": "FP32"}]})"),
              HasSubstr("an input has no \"name\""));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "x", "shape": [1], "data": [1]}]})"),
              HasSubstr("input 'x' has no \"datatype\""));
  EXPECT_THAT(
      Error(R"({"inputs": [{"name": "x", "datatype": "INT8", "shape": [1.5], "data": [1]}]})"),
      HasSubstr("\"shape\" must hold integers"));
  EXPECT_THAT(
      Error(
          R"({"inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": [3000000000]}]})"),
      HasSubstr("not an integer in its type's range"));
  EXPECT_THAT(
      Error(R"({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [-1]}]})"),
      HasSubstr("not an unsigned integer"));
  EXPECT_THAT(
      Error(R"({"inputs": [{"name": "x", "datatype": "BOOL", "shape": [1], "data": [1]}]})"),
      HasSubstr("not a boolean"));
  EXPECT_THAT(
      Error(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1]}]})"),
      HasSubstr("its shape has 3 elements but \"data\" has 1 values"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]})"),
              HasSubstr("has no \"data\" (or binary_data_size)"));
  EXPECT_THAT(
      Error(R"({"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]})"),
      HasSubstr("parameter \"binary_data\" must be true or false"));
  const std::string header =
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}]})";
  EXPECT_THAT(Error(header + "12345678", header.size()),
              HasSubstr("4 bytes of binary data that no input claims"));
  EXPECT_THAT(Error(header, 1000), HasSubstr("Inference-Header-Content-Length is 1000"));
  // 10^6-deep nesting is parsed and freed without recursion, then refused by depth.
  const std::string deep =
      R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": )" +
      std::string(1000000, '[') + std::string(1000000, ']') + "}]}";
  EXPECT_THAT(Error(deep), HasSubstr("nested deeper than 32 arrays"));
  // JSON tensors are bounded far below the request limit (binary data is not).
  std::string huge = R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [)";
  huge.append(33 << 20, ' ');
  huge += "1]}]}";
  auto refused = Parse(huge);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("over kilnd's limit of 33554432 for JSON tensors; send large tensors as "
                        "binary data (Inference-Header-Content-Length)"));
}

TEST(KServeRest, ResponsesAreJsonOrBinaryAsAsked) {
  inference::ModelInferRequest request;
  request.add_outputs()->set_name("y");
  inference::ModelInferResponse response;
  response.set_model_name("m");
  response.set_id("r");
  auto* out = response.add_outputs();
  out->set_name("y");
  out->set_datatype("FP32");
  out->add_shape(2);
  const float y[2] = {1.5f, -2.f};
  response.add_raw_output_contents(std::string(reinterpret_cast<const char*>(y), sizeof(y)));
  auto json = RestInferResponse(request, response, /*binary_outputs=*/false);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(
      json->body,
      R"({"id":"r","model_name":"m","outputs":[{"data":[1.5,-2.0],"datatype":"FP32","name":"y","shape":[2]}]})");
  EXPECT_EQ(json->json_length, json->body.size());
  auto binary = RestInferResponse(request, response, /*binary_outputs=*/true);
  ASSERT_TRUE(binary.ok());
  EXPECT_THAT(binary->body.substr(0, binary->json_length),
              HasSubstr(R"("parameters":{"binary_data_size":8})"));
  EXPECT_EQ(binary->body.substr(binary->json_length),
            std::string(reinterpret_cast<const char*>(y), sizeof(y)));
}

TEST(KServeRest, StatusesAndMethods) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  const std::string s = "/inference.GRPCInferenceService/";
  EXPECT_EQ(KServeRestMethod("POST", "/v2/models/m/versions/1/infer"), s + "ModelInfer");
  EXPECT_EQ(KServeRestMethod("GET", "/v2/models/m"), s + "ModelMetadata");
  EXPECT_EQ(KServeRestMethod("GET", "/v2/models/m/ready"), s + "ModelReady");
  EXPECT_EQ(KServeRestMethod("GET", "/v2/models/stats"), s + "ModelStatistics");
  EXPECT_EQ(KServeRestMethod("GET", "/v2/health/live"), s + "ServerLive");
  EXPECT_EQ(KServeRestMethod("POST", "/v2/repository/models/m/load"), s + "RepositoryModelLoad");
  EXPECT_EQ(KServeRestMethod("POST", "/v2/repository/index"), s + "RepositoryIndex");
  EXPECT_EQ(KServeRestMethod("GET", "/metrics"), "");
}

}  // namespace
}  // namespace kiln
