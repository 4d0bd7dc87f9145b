// Allocation failures as statuses. Request-sized memory (tensors, outputs, names) is allocated
// with operator new, which throws std::bad_alloc when the system refuses; uncaught on a worker
// or handler thread that would end kilnd and every model it serves. Thread and task
// boundaries run their work through CatchOutOfMemory, so the request fails with
// RESOURCE_EXHAUSTED instead.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_OUT_OF_MEMORY_H_
#define KILN_RUNTIME_SERVICE_SERVICE_OUT_OF_MEMORY_H_

#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln {

// RESOURCE_EXHAUSTED "out of memory <while_doing...>" (pieces as absl::StrCat takes them). If
// even the message cannot be allocated, the status carries the code alone.
template <typename... Pieces>
absl::Status OutOfMemoryError(const Pieces&... while_doing) noexcept {
  try {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory ", while_doing...));
  } catch (const std::bad_alloc&) {
    return absl::Status(absl::StatusCode::kResourceExhausted, "");
  }
}

// Runs `body` (returning absl::Status or absl::StatusOr<T>); a std::bad_alloc it throws becomes
// OutOfMemoryError(while_doing...). The pieces are only read on failure.
template <typename Body, typename... Pieces>
auto CatchOutOfMemory(Body&& body, const Pieces&... while_doing) -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return OutOfMemoryError(while_doing...);
  }
}

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_OUT_OF_MEMORY_H_
