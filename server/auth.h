// Bearer-token access control for kilnd: a token file mapping tokens to roles, the role each
// gRPC method needs, and the gRPC AuthMetadataProcessor that enforces both before a call
// reaches a service.
//
// Roles: `inference` (infer, metadata, readiness, statistics) and `admin` (everything,
// including compile, load, unload, evict and the repository). Health and reflection need no
// token. A method not listed needs admin, so a new RPC is closed until someone opens it.
#ifndef KILN_SERVER_AUTH_H_
#define KILN_SERVER_AUTH_H_

#include <grpcpp/security/auth_metadata_processor.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::auth {

enum class Role {
  kOpen,       // needs no token
  kInference,  // infer, metadata, readiness
  kAdmin,      // everything
};

// "open", "inference", "admin".
std::string_view RoleName(Role role);

// The role a full gRPC method name ("/package.Service/Method") needs.
Role RequiredRole(std::string_view method);

// Tokens and their roles, read from a token file: one `ROLE TOKEN` per line, `#` starts a
// comment, blank lines are ignored. Only hashes of the tokens are kept.
class TokenTable {
 public:
  // Tokens shorter than this are refused: they could be guessed.
  static constexpr size_t kMinTokenLength = 16;

  // `origin` names the text in error messages (the file's path).
  static absl::StatusOr<TokenTable> Parse(std::string_view text, std::string_view origin);
  // Reads and parses `path`; refuses a file that its group or others may read or write.
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The role of `token`, or nullopt. Compares against every entry in constant time, so the
  // time taken says nothing about how much of a token matched.
  std::optional<Role> Find(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> hash;  // SHA-256 of the token
    Role role;
  };
  std::vector<Entry> entries_;
};

// The role of the bearer token in an `authorization` metadata value ("Bearer TOKEN"), or
// UNAUTHENTICATED (malformed or unknown token).
absl::StatusOr<Role> Authenticate(const TokenTable& tokens, std::string_view authorization);

// Whether a call to `method` may proceed with this `authorization` metadata value (nullopt: the
// call carried none). Returns the caller's role (kOpen for an open method, whatever it carried),
// UNAUTHENTICATED (no, malformed or unknown token) or PERMISSION_DENIED (the token's role is
// not enough), with a message saying which.
absl::StatusOr<Role> Authorize(const TokenTable& tokens, std::string_view method,
                               std::optional<std::string_view> authorization);
// The same for something that is not a gRPC method (`what`, e.g. "GET /metrics") needing `needed`.
absl::StatusOr<Role> AuthorizeRole(const TokenTable& tokens, Role needed, std::string_view what,
                                   std::optional<std::string_view> authorization);

// Enforces Authorize on every call of a server built with secure (TLS) credentials. On success
// the auth context gets the property "kiln-role" (the caller's role: "admin", "inference",
// or "open" for an open method) and the authorization metadata is consumed, so services never
// see the token.
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenAuthProcessor(TokenTable tokens) : tokens_(std::move(tokens)) {}

  // Hashing a token and a few comparisons: cheap enough for gRPC's own threads.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const TokenTable tokens_;
};

// The auth context property TokenAuthProcessor sets.
inline constexpr char kRoleProperty[] = "kiln-role";

}  // namespace kiln::auth

#endif  // KILN_SERVER_AUTH_H_
