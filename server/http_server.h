// kilnd's HTTP endpoints (--metrics-listen, --http-listen): cpp-httplib on a background thread,
// with kilnd's TLS files and bearer-token check.
#ifndef KILN_SERVER_HTTP_SERVER_H_
#define KILN_SERVER_HTTP_SERVER_H_

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace kiln {

struct HttpServerOptions {
  // PEM files; an empty tls_cert serves plain HTTP. With tls_client_ca, clients must present a
  // certificate it signed (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Set: a request is answered only if this accepts it; otherwise HTTP 401 (UNAUTHENTICATED,
  // with WWW-Authenticate: Bearer) or 403, the status message as the body.
  std::function<absl::Status(const httplib::Request& request)> authorize;
  // Content type of a refusal's body; `json_errors` answers {"error": message} instead (KServe).
  bool json_errors = false;
  int threads = 1;                        // handler threads
  size_t max_body_bytes = 64 << 20;       // larger request bodies get 413
  std::string flag = "--metrics-listen";  // names the address in errors
  std::string what = "metrics";           // what is served, in errors
};

class HttpServer {
 public:
  // `listen` is "host:port" (port 0 picks a free one); `routes` adds the handlers.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, const HttpServerOptions& options,
      const std::function<void(httplib::Server&)>& routes);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  void Stop();
  int port() const { return port_; }

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> http_;  // an httplib::SSLServer with TLS
  std::thread thread_;
  std::atomic<bool> finished_{false};
  int port_ = 0;
};

}  // namespace kiln

#endif  // KILN_SERVER_HTTP_SERVER_H_
