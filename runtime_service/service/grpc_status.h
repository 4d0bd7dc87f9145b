// The one place absl::Status becomes grpc::Status (the service edge).
#ifndef KILN_RUNTIME_SERVICE_SERVICE_GRPC_STATUS_H_
#define KILN_RUNTIME_SERVICE_SERVICE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace kiln {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_GRPC_STATUS_H_
