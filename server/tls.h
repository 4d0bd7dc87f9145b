// kilnd's TLS material (--tls-cert, --tls-key, --tls-client-ca), read and checked once at
// start-up so that a wrong file is a clear error rather than a failed handshake later.
#ifndef KILN_SERVER_TLS_H_
#define KILN_SERVER_TLS_H_

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::tls {

struct TlsFiles {
  std::string cert;       // PEM certificate chain, the server's certificate first
  std::string key;        // PEM private key of that certificate
  std::string client_ca;  // PEM CA certificates; set: clients must present a certificate
                          // signed by one of them (mutual TLS)
};

struct TlsMaterial {
  std::string cert_chain;
  std::string private_key;
  std::string client_ca;  // empty: no client certificates asked for
};

// Reads the files and checks them with OpenSSL: the chain and the CA file hold certificates,
// the key parses and belongs to the first certificate. INVALID_ARGUMENT (or NOT_FOUND for a
// missing file) naming the file and what is wrong.
absl::StatusOr<TlsMaterial> Load(const TlsFiles& files);

// gRPC server credentials for the material; `processor` (may be null) sees every call's
// metadata before a service does.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(
    const TlsMaterial& material, const std::shared_ptr<grpc::AuthMetadataProcessor>& processor);

}  // namespace kiln::tls

#endif  // KILN_SERVER_TLS_H_
