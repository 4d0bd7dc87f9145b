// Matching a caller's tensors to a function's signature: the first check every invocation
// path (kiln-run, the runtime service, KServe) makes on what a user sent.
#ifndef KILN_RUNTIME_SERVICE_INPUT_MATCHING_H_
#define KILN_RUNTIME_SERVICE_INPUT_MATCHING_H_

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

// Orders caller tensors to the function's inputs: a named tensor goes to the input of that name,
// unnamed ones fill the remaining inputs in order. Checks count, dtype, shape and byte length;
// errors are INVALID_ARGUMENT and state the expected signature.
absl::StatusOr<std::vector<TensorView>> MatchInputs(const kiln::module::v1::FunctionDef& function,
                                                    std::span<const TensorView> tensors);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_INPUT_MATCHING_H_
