// Self-signed certificates made with OpenSSL at test time, for tests that need TLS.
#ifndef KILN_SERVER_TEST_CERTIFICATES_H_
#define KILN_SERVER_TEST_CERTIFICATES_H_

#include <string>

namespace kiln::testing {

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

// A P-256 certificate for localhost and 127.0.0.1, valid for an hour, that is its own CA.
TestCertificate MakeSelfSignedCertificate(const std::string& common_name);

}  // namespace kiln::testing

#endif  // KILN_SERVER_TEST_CERTIFICATES_H_
