#include "server/http_server.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kiln {

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, const HttpServerOptions& options,
    const std::function<void(httplib::Server&)>& routes) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    std::string port_text = listen.substr(colon + 1);
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size()) port = -1;
  }
  if (colon == std::string::npos || port < 0 || port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat(options.flag, " '", listen, "' is not host:port"));
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);

  std::unique_ptr<HttpServer> server(new HttpServer());
  if (options.tls_cert.empty()) {
    server->http_ = std::make_unique<httplib::Server>();
  } else {
    auto https = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
    if (!https->is_valid())
      return absl::InvalidArgumentError(absl::StrCat("cannot serve ", options.what,
                                                     " over TLS with ", options.tls_cert, " and ",
                                                     options.tls_key));
    server->http_ = std::move(https);
  }
  httplib::Server& http = *server->http_;
  if (options.authorize) {
    http.set_pre_routing_handler([authorize = options.authorize, json = options.json_errors](
                                     const httplib::Request& request, httplib::Response& response) {
      absl::Status status = authorize(request);
      if (status.ok()) return httplib::Server::HandlerResponse::Unhandled;
      bool unauthenticated = status.code() == absl::StatusCode::kUnauthenticated;
      response.status = unauthenticated ? 401 : 403;
      if (unauthenticated) response.set_header("WWW-Authenticate", "Bearer");
      if (json) {
        response.set_content(nlohmann::json{{"error", std::string(status.message())}}.dump(),
                             "application/json");
      } else {
        response.set_content(absl::StrCat(status.message(), "\n"), "text/plain");
      }
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  http.new_task_queue = [threads = options.threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  // httplib's default also sets SO_REUSEPORT, which would let a second kilnd share (and
  // silently split) the port instead of failing to start.
  http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  routes(http);
  if (port == 0) {
    port = http.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!http.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0)
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, " (", options.flag, "): ", std::strerror(errno)));
  server->port_ = port;
  server->thread_ = std::thread([&http, &finished = server->finished_] {
    http.listen_after_bind();
    finished = true;
  });
  // stop() before the thread marks the server running would be lost (and Stop would hang).
  while (!http.is_running() && !server->finished_)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (!http_) return;
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kiln
