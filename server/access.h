// kilnd's access-control flags (--tls-cert, --tls-key, --tls-client-ca, --token-file,
// --insecure) and what they turn into: gRPC server credentials enforcing token roles, and the
// same TLS material and tokens for the metrics endpoint.
#ifndef KILN_SERVER_ACCESS_H_
#define KILN_SERVER_ACCESS_H_

#include <grpcpp/security/server_credentials.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "server/auth.h"
#include "server/metrics_server.h"
#include "server/tls.h"

namespace kiln {

struct AccessFlags {
  tls::TlsFiles tls;
  std::string token_file;
  bool insecure = false;

  void AddTo(CLI::App& app);
};

struct Access {
  // Credentials for every gRPC listening port.
  std::shared_ptr<grpc::ServerCredentials> grpc_credentials;
  // Set when TLS is on (the metrics endpoint serves HTTPS with the same files).
  std::optional<tls::TlsFiles> tls;
  // Set when tokens are on; shared with the metrics endpoint.
  std::shared_ptr<const auth::TokenTable> tokens;
  // The metrics endpoint's TLS files, and with tokens a check that GET /metrics carries one
  // (either role: metrics are read-only).
  metrics::MetricsServerOptions MetricsOptions() const;
  // The HTTP API's TLS files, and with tokens the role check of the gRPC method each request
  // amounts to (`method_of`, e.g. KServeRestMethod).
  HttpServerOptions HttpOptions(
      std::function<std::string(const httplib::Request&)> method_of) const;
  // One line for the log: "TLS, mutual TLS, bearer tokens (2)" or "plaintext, no tokens".
  std::string Describe() const;
};

// Checks the flags against the listen addresses (empty metrics_listen, http_listen: none) and loads
// the files. FAILED_PRECONDITION for a refused combination (tokens without TLS, a non-loopback
// address without TLS and tokens and without --insecure), else the loading error.
absl::StatusOr<Access> SetUpAccess(const AccessFlags& flags, std::string_view listen,
                                   std::string_view metrics_listen,
                                   std::string_view http_listen = {});

}  // namespace kiln

#endif  // KILN_SERVER_ACCESS_H_
