// The one place absl::Status becomes grpc::Status: the edge of every gRPC adapter (the
// compiler, runtime and KServe services), shared here so that none includes another's folder.
#ifndef KILN_GRPC_EDGE_GRPC_STATUS_H_
#define KILN_GRPC_EDGE_GRPC_STATUS_H_

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

#endif  // KILN_GRPC_EDGE_GRPC_STATUS_H_
