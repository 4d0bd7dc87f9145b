// KServe v2 tensors: the datatype names, and the decoding of a ModelInferRequest's inputs
// (typed contents or raw_input_contents) into tensors for a function. Separate from the
// service so that the decoding of untrusted request bytes can be tested and fuzzed on its own
// (kserve_inputs_fuzz.cc).
#ifndef KILN_SERVER_KSERVE_INPUTS_H_
#define KILN_SERVER_KSERVE_INPUTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

// KServeDatatype and ParseKServeDatatype (the KServe datatype names) are in tensor.h.

// The bytes of one input given through typed `contents`: the field KServe assigns to the
// datatype (int_contents for INT8/16/32, uint_contents for UINT8/16/32, ...), range-checked
// and packed little-endian. FP16 and BF16, which have no field, are accepted from
// fp32_contents (rounded to nearest even). INVALID_ARGUMENT for a wrong field, an out-of-range
// value or an element count that is not `elements`.
absl::StatusOr<std::string> PackContents(const std::string& input, DataType dtype, int64_t elements,
                                         const inference::InferTensorContents& contents);

// A request's inputs as `function`'s arguments, in signature order (MatchInputs): datatypes
// parsed, typed contents packed into `packed`, raw_input_contents (one per input, in order, or
// none) taken as they are, BOOL bytes checked to be 0 or 1. The views point into `request` and
// `packed`, which must outlive them. INVALID_ARGUMENT naming the input for any mismatch.
absl::StatusOr<std::vector<TensorView>> DecodeInferInputs(
    const inference::ModelInferRequest& request, const kiln::module::v1::FunctionDef& function,
    std::vector<std::string>& packed);

}  // namespace kiln

#endif  // KILN_SERVER_KSERVE_INPUTS_H_
