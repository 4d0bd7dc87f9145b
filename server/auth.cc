#include "server/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::auth {
namespace {

// Debian's absl::string_view is not std::string_view.
absl::string_view AV(std::string_view text) { return {text.data(), text.size()}; }

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view StripLeading(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  return text;
}

std::string_view Strip(std::string_view text) {
  text = StripLeading(text);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

// The blank-separated words of a line.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  for (line = StripLeading(line); !line.empty(); line = StripLeading(line)) {
    size_t end = 0;
    while (end < line.size() && !IsBlank(line[end])) ++end;
    words.push_back(line.substr(0, end));
    line.remove_prefix(end);
  }
  return words;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

std::array<uint8_t, 32> HashToken(std::string_view token) {
  std::array<uint8_t, 32> hash{};
  unsigned int size = 0;
  EVP_Digest(token.data(), token.size(), hash.data(), &size, EVP_sha256(), nullptr);
  return hash;
}

// Admin may do what inference may, and anyone may call an open method.
bool Grants(Role held, Role needed) { return static_cast<int>(held) >= static_cast<int>(needed); }

// Visible ASCII: a token must survive as an HTTP/2 header value and a token-file field.
bool IsTokenChar(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOpen:
      return "open";
    case Role::kInference:
      return "inference";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

Role RequiredRole(std::string_view method) {
  // Probes and discovery stay open: load balancers and grpcurl must not need a token.
  for (std::string_view open_service :
       {"/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
        "/grpc.reflection.v1.ServerReflection/"}) {
    if (method.starts_with(open_service)) return Role::kOpen;
  }
  static const auto* inference_methods = new absl::flat_hash_map<std::string_view, bool>{
      {"/inference.GRPCInferenceService/ServerLive", true},
      {"/inference.GRPCInferenceService/ServerReady", true},
      {"/inference.GRPCInferenceService/ModelReady", true},
      {"/inference.GRPCInferenceService/ServerMetadata", true},
      {"/inference.GRPCInferenceService/ModelMetadata", true},
      {"/inference.GRPCInferenceService/ModelInfer", true},
      {"/inference.GRPCInferenceService/ModelStatistics", true},
      {"/kiln.runtime.v1.RuntimeService/Invoke", true},
      {"/kiln.runtime.v1.RuntimeService/ListModules", true},
  };
  return inference_methods->contains(method) ? Role::kInference : Role::kAdmin;
}

absl::StatusOr<TokenTable> TokenTable::Parse(std::string_view text, std::string_view origin) {
  TokenTable table;
  int line_number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = Strip(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> words = Words(line);
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(AV(origin), ":", line_number, ": ", AV(what)));
    };
    if (words.size() != 2) return error("expected 'ROLE TOKEN' (ROLE: inference or admin)");
    Role role;
    if (words[0] == "inference") {
      role = Role::kInference;
    } else if (words[0] == "admin") {
      role = Role::kAdmin;
    } else {
      return error(absl::StrCat("unknown role '", AV(words[0]), "' (inference or admin)"));
    }
    std::string_view token = words[1];
    if (token.size() < kMinTokenLength)
      return error(absl::StrCat("token shorter than ", kMinTokenLength, " characters"));
    if (!std::all_of(token.begin(), token.end(), IsTokenChar))
      return error("token has characters other than printable ASCII");
    std::array<uint8_t, 32> hash = HashToken(token);
    for (const Entry& entry : table.entries_) {
      if (entry.hash == hash) return error("token listed twice");
    }
    table.entries_.push_back({hash, role});
  }
  if (table.entries_.empty())
    return absl::InvalidArgumentError(absl::StrCat(AV(origin), ": no tokens"));
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat("cannot open token file ", path, ": ", std::strerror(errno)));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("token file ", path, " is not a regular file"));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return absl::PermissionDeniedError(
        absl::StrFormat("token file %s is accessible to group or others (mode %04o); "
                        "chmod 600 it",
                        path, st.st_mode & 07777));
  }
  constexpr off_t kMaxBytes = 1 << 20;
  if (st.st_size > kMaxBytes) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("token file ", path, " is over 1 MiB"));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(done);
  return Parse(text, path);
}

std::optional<Role> TokenTable::Find(std::string_view token) const {
  std::array<uint8_t, 32> hash = HashToken(token);
  std::optional<Role> found;
  // No early exit: every entry is compared whether or not one matched.
  for (const Entry& entry : entries_) {
    if (CRYPTO_memcmp(hash.data(), entry.hash.data(), hash.size()) == 0) found = entry.role;
  }
  return found;
}

absl::StatusOr<Role> Authenticate(const TokenTable& tokens, std::string_view authorization) {
  std::string_view value = Strip(authorization);
  // The scheme is case-insensitive (RFC 7235).
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !StartsWithIgnoreCase(value, kScheme))
    return absl::UnauthenticatedError("authorization is not 'Bearer TOKEN'");
  std::optional<Role> held = tokens.Find(StripLeading(value.substr(kScheme.size())));
  if (!held) return absl::UnauthenticatedError("unknown bearer token");
  return *held;
}

absl::StatusOr<Role> AuthorizeRole(const TokenTable& tokens, Role needed, std::string_view what,
                                   std::optional<std::string_view> authorization) {
  // An open method ignores whatever token comes with it.
  if (needed == Role::kOpen) return Role::kOpen;
  if (!authorization)
    return absl::UnauthenticatedError(absl::StrCat(AV(what), " needs a bearer token of role ",
                                                   AV(RoleName(needed)),
                                                   " (metadata 'authorization: Bearer TOKEN')"));
  absl::StatusOr<Role> held = Authenticate(tokens, *authorization);
  if (!held.ok()) return held.status();
  if (!Grants(*held, needed))
    return absl::PermissionDeniedError(absl::StrCat(AV(what), " needs role ", AV(RoleName(needed)),
                                                    "; this token has role ", AV(RoleName(*held))));
  return *held;
}

absl::StatusOr<Role> Authorize(const TokenTable& tokens, std::string_view method,
                               std::optional<std::string_view> authorization) {
  return AuthorizeRole(tokens, RequiredRole(method), method, authorization);
}

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata,
                                         grpc::AuthContext* context,
                                         OutputMetadata* consumed_auth_metadata,
                                         OutputMetadata* /*response_metadata*/) {
  auto path = auth_metadata.find(":path");
  if (path == auth_metadata.end())
    return {grpc::StatusCode::UNAUTHENTICATED, "call without a method path"};
  std::string_view method(path->second.data(), path->second.size());
  std::optional<std::string_view> authorization;
  auto [first, last] = auth_metadata.equal_range("authorization");
  if (first != last) {
    if (std::next(first) != last)
      return {grpc::StatusCode::UNAUTHENTICATED, "more than one authorization metadata"};
    authorization = std::string_view(first->second.data(), first->second.size());
  }
  absl::StatusOr<Role> held = Authorize(tokens_, method, authorization);
  if (!held.ok())
    return {static_cast<grpc::StatusCode>(held.status().code()),
            std::string(held.status().message())};
  // Services never see the token (nor could they log it).
  if (authorization) consumed_auth_metadata->emplace("authorization", std::string(*authorization));
  context->AddProperty(kRoleProperty, std::string(RoleName(*held)));
  return grpc::Status::OK;
}

}  // namespace kiln::auth
