#include "server/access.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/test_certificates.h"

namespace kiln {
namespace {

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "kiln-access-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto certificate = kiln::testing::MakeSelfSignedCertificate("kilnd");
    cert_ = Write("cert.pem", certificate.cert_pem, 0644);
    key_ = Write("key.pem", certificate.key_pem, 0600);
    tokens_ = Write("tokens", "admin 0123456789abcdef0123\ninference abcdef0123456789abcd\n", 0600);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }

  void ExpectRefused(const AccessFlags& flags, std::string_view listen,
                     std::string_view metrics_listen, const std::string& message) {
    auto access = SetUpAccess(flags, listen, metrics_listen);
    ASSERT_FALSE(access.ok());
    EXPECT_EQ(access.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(std::string(access.status().message()), message);
  }

  std::string dir_, cert_, key_, tokens_;
};

TEST_F(AccessTest, LoopbackNeedsNothing) {
  auto access = SetUpAccess({}, "127.0.0.1:8001", "127.0.0.1:8002");
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_NE(access->grpc_credentials, nullptr);
  EXPECT_FALSE(access->tls);
  EXPECT_EQ(access->tokens, nullptr);
  EXPECT_EQ(access->Describe(), "plaintext, no tokens");
  metrics::MetricsServerOptions options = access->MetricsOptions();
  EXPECT_EQ(options.tls_cert, "");
  EXPECT_FALSE(options.authorize);
}

TEST_F(AccessTest, TlsAndTokensMayServeAnywhere) {
  AccessFlags flags{{cert_, key_, ""}, tokens_, false};
  auto access = SetUpAccess(flags, "0.0.0.0:8001", "[::]:8002");
  ASSERT_TRUE(access.ok()) << access.status();
  ASSERT_TRUE(access->tls);
  EXPECT_EQ(access->tls->cert, cert_);
  ASSERT_NE(access->tokens, nullptr);
  EXPECT_EQ(access->tokens->Find("abcdef0123456789abcd"), auth::Role::kInference);
  EXPECT_EQ(access->Describe(), "TLS, bearer tokens (2)");

  // The metrics endpoint: the same files, and a token of either role.
  metrics::MetricsServerOptions options = access->MetricsOptions();
  EXPECT_EQ(options.tls_cert, cert_);
  EXPECT_EQ(options.tls_key, key_);
  EXPECT_EQ(options.tls_client_ca, "");
  ASSERT_TRUE(options.authorize);
  absl::Status status = options.authorize(std::nullopt);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(),
            "GET /metrics needs a bearer token of role inference (metadata 'authorization: "
            "Bearer TOKEN')");
  EXPECT_TRUE(options.authorize("Bearer abcdef0123456789abcd").ok());
  EXPECT_TRUE(options.authorize("Bearer 0123456789abcdef0123").ok());
  EXPECT_EQ(options.authorize("Bearer 0123456789abcdef0124").code(),
            absl::StatusCode::kUnauthenticated);
  flags.tls.client_ca = cert_;
  EXPECT_EQ(SetUpAccess(flags, "0.0.0.0:8001", "")->Describe(), "mutual TLS, bearer tokens (2)");
}

TEST_F(AccessTest, RefusesUnprotectedExposureUnlessInsecure) {
  ExpectRefused({}, "0.0.0.0:0", "",
                "refusing to serve --listen 0.0.0.0:0, which is not a loopback address, without "
                "TLS (--tls-cert, --tls-key) and bearer tokens (--token-file); pass --insecure to "
                "serve it anyway");
  ExpectRefused({{cert_, key_, ""}, "", false}, "127.0.0.1:1", "0.0.0.0:9",
                "refusing to serve --metrics-listen 0.0.0.0:9, which is not a loopback address, "
                "without bearer tokens (--token-file); pass --insecure to serve it anyway");
  AccessFlags insecure;
  insecure.insecure = true;
  auto access = SetUpAccess(insecure, "0.0.0.0:0", "0.0.0.0:0");
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->Describe(), "plaintext, no tokens");
}

TEST_F(AccessTest, RefusesIncompleteFlags) {
  ExpectRefused({{cert_, "", ""}, "", false}, "127.0.0.1:1", "",
                "--tls-cert and --tls-key go together");
  ExpectRefused({{"", key_, ""}, "", false}, "127.0.0.1:1", "",
                "--tls-cert and --tls-key go together");
  ExpectRefused({{"", "", cert_}, "", false}, "127.0.0.1:1", "",
                "--tls-client-ca needs --tls-cert and --tls-key");
  ExpectRefused({{}, tokens_, true}, "127.0.0.1:1", "",
                "--token-file needs --tls-cert and --tls-key: kilnd takes bearer tokens only over "
                "TLS");
}

TEST_F(AccessTest, ReportsFileErrors) {
  ASSERT_EQ(chmod(tokens_.c_str(), 0604), 0);
  auto access = SetUpAccess({{cert_, key_, ""}, tokens_, false}, "127.0.0.1:1", "");
  EXPECT_EQ(access.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access.status().message(),
            absl::StrCat("token file ", tokens_,
                         " is accessible to group or others (mode 0604); chmod 600 it"));
  access = SetUpAccess({{cert_, cert_, ""}, "", false}, "127.0.0.1:1", "");
  EXPECT_EQ(access.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln
