// Text forms of tensors for command lines (kiln infer --input, kiln-run) and for humans.
//
// Input spec grammar:
//   [NAME=]@PATH.npy          tensor read from a .npy file
//   [NAME=]TYPE=VALUES        TYPE is DIMxDIMx...xDTYPE ("2x3xf32"), or DTYPE alone for a
//                             scalar ("f32"); VALUES are comma-separated, exactly one per
//                             element; '[' and ']' are ignored so "[[1,2],[3,4]]" works.
// Floats accept inf/nan; integers are range-checked; bool takes true/false/0/1.
// Without NAME the tensor's name is empty (a positional input).
#ifndef KILN_RUNTIME_SERVICE_TENSOR_TENSOR_SPEC_H_
#define KILN_RUNTIME_SERVICE_TENSOR_TENSOR_SPEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

absl::StatusOr<HostTensor> ParseTensorSpec(std::string_view spec);

// "2x3xf32" / "f32" -> dtype and shape.
struct TensorTypeSpec {
  DataType dtype = kiln::module::v1::DATA_TYPE_UNSPECIFIED;
  std::vector<int64_t> shape;
};
absl::StatusOr<TensorTypeSpec> ParseTypeSpec(std::string_view text);

// Comma-separated values -> little-endian element bytes; exactly `count` values required.
absl::StatusOr<std::string> ParseTensorValues(DataType dtype, int64_t count,
                                              std::string_view values);

// "result0: f32[1x10] = [0.5, -1.25, ...]"; a scalar prints without brackets, an empty name
// drops the "name: " prefix, and elements past max_elements become "...".
std::string FormatTensor(const HostTensor& tensor, size_t max_elements = 64);

// One element (at `bytes`, little-endian) in the shortest text that reads back to the same
// value: "0.1" rather than "0.100000001".
std::string FormatElement(DataType dtype, const void* bytes);

// One element widened for generic consumers (e.g. JSON): floats of every width as double,
// signed ints as int64, unsigned as uint64, bool as bool. `index` must be in range.
using ElementValue = std::variant<double, int64_t, uint64_t, bool>;
ElementValue ElementAt(const HostTensor& tensor, size_t index);

// IEEE half and bfloat16 conversions; float -> 16-bit rounds to nearest even.
float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_TENSOR_TENSOR_SPEC_H_
