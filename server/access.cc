#include "server/access.h"

#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "server/listen_address.h"

namespace kiln {

void AccessFlags::AddTo(CLI::App& app) {
  app.add_option("--tls-cert", tls.cert,
                 "PEM certificate chain: serve gRPC and /metrics over TLS (with --tls-key)");
  app.add_option("--tls-key", tls.key, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", tls.client_ca,
                 "PEM CA certificates: require client certificates they signed (mutual TLS)");
  app.add_option("--token-file", token_file,
                 "bearer tokens, one 'ROLE TOKEN' per line (roles: inference, admin), mode 0600; "
                 "needs TLS");
  app.add_flag("--insecure", insecure,
               "allow a non-loopback --listen/--metrics-listen without TLS and tokens");
}

metrics::MetricsServerOptions Access::MetricsOptions() const {
  metrics::MetricsServerOptions options;
  if (tls) {
    options.tls_cert = tls->cert;
    options.tls_key = tls->key;
    options.tls_client_ca = tls->client_ca;
  }
  if (tokens) {
    options.authorize = [tokens = tokens](std::optional<std::string_view> authorization) {
      return auth::AuthorizeRole(*tokens, auth::Role::kInference, "GET /metrics", authorization)
          .status();
    };
  }
  return options;
}

HttpServerOptions Access::HttpOptions(
    std::function<std::string(const httplib::Request&)> method_of) const {
  HttpServerOptions options;
  if (tls) {
    options.tls_cert = tls->cert;
    options.tls_key = tls->key;
    options.tls_client_ca = tls->client_ca;
  }
  if (tokens) {
    options.authorize = [tokens = tokens,
                         method_of = std::move(method_of)](const httplib::Request& request) {
      std::optional<std::string> header;
      if (request.has_header("Authorization")) header = request.get_header_value("Authorization");
      return auth::Authorize(*tokens, method_of(request),
                             header ? std::optional<std::string_view>(*header) : std::nullopt)
          .status();
    };
  }
  options.json_errors = true;
  options.flag = "--http-listen";
  options.what = "the KServe HTTP/REST API";
  return options;
}

std::string Access::Describe() const {
  std::string text = !tls ? "plaintext" : tls->client_ca.empty() ? "TLS" : "mutual TLS";
  if (tokens) {
    absl::StrAppend(&text, ", bearer tokens (", tokens->size(), ")");
  } else {
    absl::StrAppend(&text, ", no tokens");
  }
  return text;
}

absl::StatusOr<Access> SetUpAccess(const AccessFlags& flags, std::string_view listen,
                                   std::string_view metrics_listen, std::string_view http_listen) {
  bool tls = !flags.tls.cert.empty() || !flags.tls.key.empty();
  if (tls && (flags.tls.cert.empty() || flags.tls.key.empty()))
    return absl::FailedPreconditionError("--tls-cert and --tls-key go together");
  if (!tls && !flags.tls.client_ca.empty())
    return absl::FailedPreconditionError("--tls-client-ca needs --tls-cert and --tls-key");
  bool tokens = !flags.token_file.empty();
  // gRPC clients refuse to send call credentials over plaintext, and a token sent that way
  // could be read by anyone on the path.
  if (tokens && !tls)
    return absl::FailedPreconditionError(
        "--token-file needs --tls-cert and --tls-key: kilnd takes bearer tokens only over TLS");
  absl::Status exposure = CheckExposure("--listen", listen, tls, tokens, flags.insecure);
  if (exposure.ok() && !metrics_listen.empty())
    exposure = CheckExposure("--metrics-listen", metrics_listen, tls, tokens, flags.insecure);
  if (exposure.ok() && !http_listen.empty())
    exposure = CheckExposure("--http-listen", http_listen, tls, tokens, flags.insecure);
  if (!exposure.ok()) return exposure;

  Access access;
  if (tokens) {
    auto table = auth::TokenTable::Load(flags.token_file);
    if (!table.ok()) return table.status();
    access.tokens = std::make_shared<const auth::TokenTable>(*std::move(table));
  }
  if (!tls) {
    access.grpc_credentials = grpc::InsecureServerCredentials();
    return access;
  }
  auto material = tls::Load(flags.tls);
  if (!material.ok()) return material.status();
  access.tls = flags.tls;
  std::shared_ptr<grpc::AuthMetadataProcessor> processor;
  if (access.tokens) processor = std::make_shared<auth::TokenAuthProcessor>(*access.tokens);
  access.grpc_credentials = tls::GrpcServerCredentials(*material, processor);
  return access;
}

}  // namespace kiln
