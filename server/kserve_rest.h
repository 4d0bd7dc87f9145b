// The KServe v2 / Open Inference Protocol over HTTP/REST (--http-listen), with Triton's
// binary-data, statistics and repository extensions. Every route is translated to the gRPC
// service's message and answered by the same KServeService code, so both protocols validate,
// batch, count and fail alike; errors are {"error": message} with the HTTP status of the gRPC
// code (HttpStatusFor).
#ifndef KILN_SERVER_KSERVE_REST_H_
#define KILN_SERVER_KSERVE_REST_H_

#include <httplib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "server/kserve_service.h"

namespace kiln {

// 400 for a bad request (INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION), 404, 409, 429
// (RESOURCE_EXHAUSTED), 499 (CANCELLED), 401, 403, 501, 503, 504, else 500.
int HttpStatusFor(absl::StatusCode code);

// A REST infer request body as a ModelInferRequest. `json_length` is the
// Inference-Header-Content-Length header (Triton's binary-data extension: the JSON is the first
// `json_length` bytes and the inputs with "binary_data_size" follow in order), nullopt when the
// whole body is JSON. INVALID_ARGUMENT naming the field for anything malformed.
// `binary_outputs` is set to whether outputs are wanted as binary by default.
absl::StatusOr<inference::ModelInferRequest> ParseRestInferRequest(
    std::string_view body, std::optional<uint64_t> json_length, const std::string& model,
    const std::string& version, bool& binary_outputs);

// The response body for `response` and the length of its JSON part (equal to the body's length
// when no output is binary). An output is binary when asked for by name
// ("parameters": {"binary_data": true}) or, for outputs not named, when `binary_outputs`.
struct RestBody {
  std::string body;
  size_t json_length = 0;
};
absl::StatusOr<RestBody> RestInferResponse(const inference::ModelInferRequest& request,
                                           inference::ModelInferResponse& response,
                                           bool binary_outputs);

// The gRPC method a REST request amounts to ("/inference.GRPCInferenceService/ModelInfer"), for
// access control; empty for paths that are not the API's.
std::string KServeRestMethod(std::string_view http_method, std::string_view path);

// Adds the v2 routes to `server`.
void AddKServeRoutes(httplib::Server& server, KServeService& kserve);

}  // namespace kiln

#endif  // KILN_SERVER_KSERVE_REST_H_
