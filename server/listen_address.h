// Where kilnd listens, and the rule that it does not serve beyond the machine unprotected.
#ifndef KILN_SERVER_LISTEN_ADDRESS_H_
#define KILN_SERVER_LISTEN_ADDRESS_H_

#include <string_view>

#include "absl/status/status.h"

namespace kiln {

// Whether a listen address ("host:port", "[v6]:port", "unix:PATH") only accepts connections
// from this machine: a Unix socket, localhost, 127.0.0.0/8, ::1 (or ::ffff:127.x.y.z). Any
// other host, a wildcard (0.0.0.0, [::], empty) and a name other than localhost are not.
bool IsLoopbackAddress(std::string_view address);

// OK when `address` (the value of `flag`) is loopback, or TLS and bearer tokens are both on, or
// `insecure`; else FAILED_PRECONDITION naming what is missing and --insecure.
absl::Status CheckExposure(std::string_view flag, std::string_view address, bool tls, bool tokens,
                           bool insecure);

}  // namespace kiln

#endif  // KILN_SERVER_LISTEN_ADDRESS_H_
