// Early-return helpers for absl::Status, which Abseil 20220623 lacks.
#ifndef GHOSTPEER_COMMON_STATUS_MACROS_H_
#define GHOSTPEER_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status of `expr` from the enclosing function if it is not OK.
#define GHOSTPEER_RETURN_IF_ERROR(expr)                    \
  do {                                                     \
    const ::absl::Status ghostpeer_status_ = (expr);       \
    if (!ghostpeer_status_.ok()) return ghostpeer_status_; \
  } while (0)

#define GHOSTPEER_STATUS_CONCAT_INNER_(a, b) a##b
#define GHOSTPEER_STATUS_CONCAT_(a, b) GHOSTPEER_STATUS_CONCAT_INNER_(a, b)

// `GHOSTPEER_ASSIGN_OR_RETURN(auto x, MakeX());` declares/assigns `x` from a
// StatusOr, or returns its error status.
#define GHOSTPEER_ASSIGN_OR_RETURN(lhs, expr) \
  GHOSTPEER_ASSIGN_OR_RETURN_IMPL_(           \
      GHOSTPEER_STATUS_CONCAT_(ghostpeer_statusor_, __LINE__), lhs, expr)

#define GHOSTPEER_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // GHOSTPEER_COMMON_STATUS_MACROS_H_
