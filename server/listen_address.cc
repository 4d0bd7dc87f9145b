#include "server/listen_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

// Debian's absl::string_view is not std::string_view.
absl::string_view AV(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

bool IsLoopbackAddress(std::string_view address) {
  if (address.starts_with("unix:") || address.starts_with("unix-abstract:")) return true;
  std::string_view host;
  if (address.starts_with("[")) {
    size_t close = address.find(']');
    if (close == std::string_view::npos) return false;
    host = address.substr(1, close - 1);
  } else {
    size_t colon = address.rfind(':');
    host = colon == std::string_view::npos ? address : address.substr(0, colon);
    // A bare IPv6 address without brackets cannot carry a port; treat it as unknown.
    if (host.find(':') != std::string_view::npos) return false;
  }
  std::string text(host);
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (text == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // a wildcard or a name that may resolve anywhere
}

absl::Status CheckExposure(std::string_view flag, std::string_view address, bool tls, bool tokens,
                           bool insecure) {
  if (insecure || IsLoopbackAddress(address) || (tls && tokens)) return absl::OkStatus();
  std::string missing;
  if (!tls) missing = "TLS (--tls-cert, --tls-key)";
  if (!tokens)
    absl::StrAppend(&missing, missing.empty() ? "" : " and ", "bearer tokens (--token-file)");
  return absl::FailedPreconditionError(
      absl::StrCat("refusing to serve ", AV(flag), " ", AV(address),
                   ", which is not a loopback address, without ", missing,
                   "; pass --insecure to serve it anyway"));
}

}  // namespace kiln
