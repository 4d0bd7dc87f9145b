#include "server/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace kiln::tls {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot read ", flag, " ", path, ": ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// OpenSSL's reason for the last failure (its error queue is per thread), cleared.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (code == 0) return "no PEM data";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "unknown OpenSSL error";
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The first certificate in `pem`, or INVALID_ARGUMENT naming the flag and file.
absl::StatusOr<X509Ptr> FirstCertificate(const std::string& flag, const std::string& path,
                                         const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert)
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " holds no PEM certificate (", OpenSslError(), ")"));
  return cert;
}

}  // namespace

absl::StatusOr<TlsMaterial> Load(const TlsFiles& files) {
  TlsMaterial material;
  auto cert = ReadFile("--tls-cert", files.cert);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile("--tls-key", files.key);
  if (!key.ok()) return key.status();
  material.cert_chain = std::move(*cert);
  material.private_key = std::move(*key);

  auto leaf = FirstCertificate("--tls-cert", files.cert, material.cert_chain);
  if (!leaf.ok()) return leaf.status();
  BioPtr key_bio = MemoryBio(material.private_key);
  KeyPtr private_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!private_key)
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key ", files.key, " holds no unencrypted PEM private key (", OpenSslError(), ")"));
  if (X509_check_private_key(leaf->get(), private_key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key ", files.key, " is not the key of the certificate in ", files.cert));
  }

  if (!files.client_ca.empty()) {
    auto ca = ReadFile("--tls-client-ca", files.client_ca);
    if (!ca.ok()) return ca.status();
    material.client_ca = std::move(*ca);
    auto first = FirstCertificate("--tls-client-ca", files.client_ca, material.client_ca);
    if (!first.ok()) return first.status();
  }
  return material;
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(
    const TlsMaterial& material, const std::shared_ptr<grpc::AuthMetadataProcessor>& processor) {
  grpc::SslServerCredentialsOptions options(
      material.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = material.client_ca;
  options.pem_key_cert_pairs.push_back({material.private_key, material.cert_chain});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  if (processor) credentials->SetAuthMetadataProcessor(processor);
  return credentials;
}

}  // namespace kiln::tls
