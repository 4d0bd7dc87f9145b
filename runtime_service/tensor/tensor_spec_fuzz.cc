// Fuzzes the tensor text specs of kiln-run and kiln infer (ParseTensorSpec, ParseTypeSpec). An
// accepted spec must give exactly its type's bytes, and every element must print (FormatElement)
// as text that parses back to the same element, as tensor_spec.h promises. Specs naming a file
// (@PATH.npy) are skipped: the fuzzer must not read arbitrary paths; npy_fuzz covers the reader.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime_service/tensor/tensor.h"
#include "runtime_service/tensor/tensor_spec.h"
#include "runtime_service/testing/fuzzing.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;

bool IsNan(DataType dtype, const char* bytes) {
  switch (dtype) {
    case mv1::DATA_TYPE_F32: {
      float value;
      std::memcpy(&value, bytes, sizeof(value));
      return std::isnan(value);
    }
    case mv1::DATA_TYPE_F64: {
      double value;
      std::memcpy(&value, bytes, sizeof(value));
      return std::isnan(value);
    }
    case mv1::DATA_TYPE_F16:
    case mv1::DATA_TYPE_BF16: {
      uint16_t bits;
      std::memcpy(&bits, bytes, sizeof(bits));
      return std::isnan(dtype == mv1::DATA_TYPE_F16 ? HalfToFloat(bits) : BFloat16ToFloat(bits));
    }
    default:
      return false;
  }
}

void CheckTensor(const HostTensor& tensor) {
  absl::StatusOr<int64_t> length = ByteLength(tensor.dtype, tensor.shape);
  KILN_FUZZ_CHECK(length.ok() && tensor.data.size() == static_cast<uint64_t>(*length));
  const size_t element_size = DataTypeSize(tensor.dtype);
  KILN_FUZZ_CHECK(element_size > 0);
  // Bounded so that a spec of many short values stays fast.
  const size_t count = std::min<size_t>(tensor.data.size() / element_size, 64);
  for (size_t i = 0; i < count; ++i) {
    const char* element = tensor.data.data() + i * element_size;
    const std::string text = FormatElement(tensor.dtype, element);
    absl::StatusOr<std::string> reparsed = ParseTensorValues(tensor.dtype, 1, text);
    KILN_FUZZ_CHECK(reparsed.ok());
    KILN_FUZZ_CHECK(reparsed->size() == element_size);
    // Any NaN reads back as a NaN, not necessarily with the same payload.
    if (IsNan(tensor.dtype, element)) {
      KILN_FUZZ_CHECK(IsNan(tensor.dtype, reparsed->data()));
    } else {
      KILN_FUZZ_CHECK(std::memcmp(reparsed->data(), element, element_size) == 0);
    }
  }
  (void)FormatTensor(tensor);
}

}  // namespace
}  // namespace kiln

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  if (spec.find('@') != std::string_view::npos) return 0;

  absl::StatusOr<HostTensor> tensor = ParseTensorSpec(spec);
  if (tensor.ok()) CheckTensor(*tensor);

  absl::StatusOr<TensorTypeSpec> type = ParseTypeSpec(spec);
  if (type.ok()) {
    KILN_FUZZ_CHECK(DataTypeSize(type->dtype) > 0);
    KILN_FUZZ_CHECK(ByteLength(type->dtype, type->shape).ok());
  }
  return 0;
}
