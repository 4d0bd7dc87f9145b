// The HTTP endpoint kilnd serves a metrics registry on (--metrics-listen).
#ifndef KILN_SERVER_METRICS_SERVER_H_
#define KILN_SERVER_METRICS_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "metrics/registry.h"
#include "server/http_server.h"

namespace kiln::metrics {

// TLS and access control of the metrics endpoint (kilnd's --tls-* flags and token file).
struct MetricsServerOptions {
  // PEM files; an empty tls_cert serves plain HTTP. With tls_client_ca, clients must present a
  // certificate it signed (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Set: a request is answered only if this accepts its Authorization header (nullopt: none);
  // otherwise HTTP 401 (UNAUTHENTICATED) or 403 with the status message.
  std::function<absl::Status(std::optional<std::string_view> authorization)> authorize;
};

// Serves GET /metrics with a registry's text on a background thread.
class MetricsServer {
 public:
  // `listen` is "host:port" (port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, const Registry& registry,
      const MetricsServerOptions& options = {});
  ~MetricsServer();  // Stop()
  void Stop();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
};

}  // namespace kiln::metrics

#endif  // KILN_SERVER_METRICS_SERVER_H_
