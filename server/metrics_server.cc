#include "server/metrics_server.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"

namespace kiln::metrics {

struct MetricsServer::Impl {
  std::unique_ptr<httplib::Server> http;  // an httplib::SSLServer with TLS
  std::thread thread;
  std::atomic<bool> finished{false};
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const Registry& registry, const MetricsServerOptions& options) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    std::string port_text = listen.substr(colon + 1);
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size()) port = -1;
  }
  if (colon == std::string::npos || port < 0 || port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen '", listen, "' is not host:port"));
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->impl_ = std::make_unique<Impl>();
  if (options.tls_cert.empty()) {
    server->impl_->http = std::make_unique<httplib::Server>();
  } else {
    auto https = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
    if (!https->is_valid())
      return absl::InvalidArgumentError(absl::StrCat("cannot serve metrics over TLS with ",
                                                     options.tls_cert, " and ", options.tls_key));
    server->impl_->http = std::move(https);
  }
  httplib::Server& http = *server->impl_->http;
  if (options.authorize) {
    http.set_pre_routing_handler([authorize = options.authorize](const httplib::Request& request,
                                                                 httplib::Response& response) {
      std::optional<std::string> header;
      if (request.has_header("Authorization")) header = request.get_header_value("Authorization");
      absl::Status status =
          authorize(header ? std::optional<std::string_view>(*header) : std::nullopt);
      if (status.ok()) return httplib::Server::HandlerResponse::Unhandled;
      bool unauthenticated = status.code() == absl::StatusCode::kUnauthenticated;
      response.status = unauthenticated ? 401 : 403;
      if (unauthenticated) response.set_header("WWW-Authenticate", "Bearer");
      response.set_content(absl::StrCat(status.message(), "\n"), "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  // Scrapes are rare: one handler thread instead of httplib's default pool of eight.
  http.new_task_queue = [] { return new httplib::ThreadPool(1); };
  // httplib's default also sets SO_REUSEPORT, which would let a second kilnd share (and
  // silently split) the port instead of failing to start.
  http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("kilnd: metrics at /metrics\n", "text/plain");
  });
  if (port == 0) {
    port = http.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!http.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0)
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", listen, ": ", std::strerror(errno)));
  server->port_ = port;
  std::atomic<bool>& finished = server->impl_->finished;
  server->impl_->thread = std::thread([&http, &finished] {
    http.listen_after_bind();
    finished = true;
  });
  // stop() before the thread marks the server running would be lost (and Stop would hang).
  while (!http.is_running() && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (!impl_ || !impl_->http) return;
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace kiln::metrics
