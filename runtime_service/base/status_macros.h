// Early-return helpers for absl::Status / absl::StatusOr (absl 20220623 has no public ones).
#ifndef KILN_RUNTIME_SERVICE_BASE_STATUS_MACROS_H_
#define KILN_RUNTIME_SERVICE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KILN_STATUS_CONCAT_INNER(a, b) a##b
#define KILN_STATUS_CONCAT(a, b) KILN_STATUS_CONCAT_INNER(a, b)

#define KILN_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status kiln_status_ = (expr);        \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (0)

// `tmp` is a fresh name and `lhs` a declaration (`auto x`); neither can take parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_STATUS_CONCAT(kiln_statusor_, __LINE__), lhs, expr)

#endif  // KILN_RUNTIME_SERVICE_BASE_STATUS_MACROS_H_
