#include "server/metrics_server.h"

#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "server/test_certificates.h"

namespace kiln::metrics {
namespace {

TEST(MetricsServerTest, ServesTheTextOverHttp) {
  Registry registry;
  registry.AddCounter("kiln_up_total", "Up.").Get().Increment();
  auto server = MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, registry.Render());
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  // A taken port is an error, not a silent absence of metrics.
  auto taken = MetricsServer::Start("127.0.0.1:" + std::to_string((*server)->port()), registry);
  EXPECT_FALSE(taken.ok());
  EXPECT_FALSE(MetricsServer::Start("no-port", registry).ok());
  (*server)->Stop();
}

TEST(MetricsServerTest, ServesHttpsAndAsksForAuthorization) {
  Registry registry;
  registry.AddCounter("kiln_up_total", "Up.").Get().Increment();
  std::string dir = ::testing::TempDir() + "kiln-metrics-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto certificate = kiln::testing::MakeSelfSignedCertificate("kilnd");
  MetricsServerOptions options{dir + "/cert.pem", dir + "/key.pem", "", nullptr};
  std::ofstream(options.tls_cert) << certificate.cert_pem;
  std::ofstream(options.tls_key) << certificate.key_pem;
  options.authorize = [](std::optional<std::string_view> authorization) -> absl::Status {
    if (!authorization) return absl::UnauthenticatedError("GET /metrics needs a token");
    if (*authorization != "Bearer good") return absl::PermissionDeniedError("not this token");
    return absl::OkStatus();
  };
  auto server = MetricsServer::Start("127.0.0.1:0", registry, options);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::SSLClient client("127.0.0.1", (*server)->port());
  client.set_ca_cert_path(options.tls_cert);
  client.enable_server_certificate_verification(true);
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(response->body, "GET /metrics needs a token\n");
  EXPECT_EQ(response->get_header_value("WWW-Authenticate"), "Bearer");
  client.set_bearer_token_auth("bad");
  response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 403);
  EXPECT_EQ(response->body, "not this token\n");
  client.set_bearer_token_auth("good");
  response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, registry.Render());
  // Plain HTTP gets no answer from the TLS port.
  httplib::Client plain("127.0.0.1", (*server)->port());
  auto plain_response = plain.Get("/metrics");
  EXPECT_TRUE(!plain_response || plain_response->status != 200);
  (*server)->Stop();

  // A key that is not the certificate's is refused at start.
  options.tls_key = options.tls_cert;
  auto refused = MetricsServer::Start("127.0.0.1:0", registry, options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "cannot serve metrics over TLS with " + options.tls_cert + " and " + options.tls_cert);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kiln::metrics
