#include "server/tls.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_certificates.h"

namespace kiln::tls {
namespace {

using ::testing::HasSubstr;

class TlsLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "kiln-tls-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    server_ = kiln::testing::MakeSelfSignedCertificate("server");
    other_ = kiln::testing::MakeSelfSignedCertificate("other");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
  kiln::testing::TestCertificate server_, other_;
};

TEST_F(TlsLoadTest, LoadsMatchingCertificateKeyAndClientCa) {
  TlsFiles files{Write("cert.pem", server_.cert_pem), Write("key.pem", server_.key_pem),
                 Write("ca.pem", other_.cert_pem)};
  auto material = Load(files);
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(material->cert_chain, server_.cert_pem);
  EXPECT_EQ(material->private_key, server_.key_pem);
  EXPECT_EQ(material->client_ca, other_.cert_pem);
  files.client_ca.clear();
  material = Load(files);
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(material->client_ca, "");
}

TEST_F(TlsLoadTest, NamesTheWrongFile) {
  std::string cert = Write("cert.pem", server_.cert_pem);
  std::string key = Write("key.pem", server_.key_pem);
  std::string other_key = Write("other-key.pem", other_.key_pem);
  std::string garbage = Write("garbage.pem", "not a certificate\n");

  auto status = Load({cert, other_key, ""}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            absl::StrCat("--tls-key ", other_key, " is not the key of the certificate in ", cert));

  status = Load({garbage, key, ""}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("--tls-cert ", garbage, " holds no PEM certificate")));

  status = Load({cert, cert, ""}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("--tls-key ", cert, " holds no unencrypted PEM private key")));

  status = Load({cert, key, garbage}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("--tls-client-ca ", garbage, " holds no PEM certificate")));

  status = Load({dir_ + "/absent.pem", key, ""}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), absl::StrCat("cannot read --tls-cert ", dir_,
                                           "/absent.pem: No such file or directory"));
}

}  // namespace
}  // namespace kiln::tls
