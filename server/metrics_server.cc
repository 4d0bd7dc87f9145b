#include "server/metrics_server.h"

#include <optional>
#include <string>

namespace kiln::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const Registry& registry, const MetricsServerOptions& options) {
  HttpServerOptions http;
  http.tls_cert = options.tls_cert;
  http.tls_key = options.tls_key;
  http.tls_client_ca = options.tls_client_ca;
  if (options.authorize) {
    http.authorize = [authorize = options.authorize](const httplib::Request& request) {
      std::optional<std::string> header;
      if (request.has_header("Authorization")) header = request.get_header_value("Authorization");
      return authorize(header ? std::optional<std::string_view>(*header) : std::nullopt);
    };
  }
  http.threads = 1;  // scrapes are rare: one handler thread instead of httplib's eight
  http.flag = "--metrics-listen";
  auto started = HttpServer::Start(listen, http, [&registry](httplib::Server& server) {
    server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
      response.set_content(registry.Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("kilnd: metrics at /metrics\n", "text/plain");
    });
  });
  if (!started.ok()) return started.status();
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->port_ = (*started)->port();
  server->http_ = *std::move(started);
  return server;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (http_) http_->Stop();
}

}  // namespace kiln::metrics
