// The longest name a request may carry: module and model names, versions, function names and
// tensor names. Names are echoed in errors, used as map keys and (for loaded models) metric
// labels; without a bound, a client sending 4 MiB names grew kilnd by that much per call.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_NAME_LIMIT_H_
#define KILN_RUNTIME_SERVICE_SERVICE_NAME_LIMIT_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln {

inline constexpr size_t kMaxNameBytes = 256;

// INVALID_ARGUMENT "<what> is N bytes long; names are limited to 256 bytes" for a longer name
// (not echoed: it is the problem).
inline absl::Status CheckNameLength(const char* what, std::string_view name) {
  if (name.size() <= kMaxNameBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, " is ", name.size(), " bytes long; names are limited to ", kMaxNameBytes, " bytes"));
}

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_NAME_LIMIT_H_
