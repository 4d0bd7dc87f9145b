// Host tensors and element types shared by the runtime, tools and services.
#ifndef KILN_RUNTIME_SERVICE_TENSOR_TENSOR_H_
#define KILN_RUNTIME_SERVICE_TENSOR_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"

namespace kiln {

using DataType = kiln::module::v1::DataType;

// Bytes per element; 0 for DATA_TYPE_UNSPECIFIED or an unknown value.
size_t DataTypeSize(DataType dtype);
// Short names used everywhere users read or type them: f32 f64 f16 bf16 i8 i16 i32 i64 u8 u16
// u32 u64 bool ("i1" is accepted as an alias of bool when parsing).
std::string_view DataTypeName(DataType dtype);
std::optional<DataType> ParseDataTypeName(std::string_view name);
// KServe datatype names ("FP32", "INT64", "BOOL", ...) for kiln's element types, and back.
// nullopt for types KServe cannot express or kiln cannot run ("BYTES").
std::optional<std::string_view> KServeDatatype(DataType dtype);
std::optional<DataType> ParseKServeDatatype(std::string_view name);

// The largest tensor the runtime takes, in elements and in bytes. Offsets and lengths of
// tensors are int64_t/uint64_t sums of a few of these, which then cannot overflow. The compiler
// refuses signatures beyond it, so that it never caches a module no runtime could load.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 62;

// Element count of a shape; error on negative dims or more than kMaxTensorBytes elements.
absl::StatusOr<int64_t> ElementCount(std::span<const int64_t> shape);
absl::StatusOr<int64_t> ByteLength(DataType dtype, std::span<const int64_t> shape);

// "f32[1x64]", "f32[]" for a scalar.
std::string TypeString(DataType dtype, std::span<const int64_t> shape);
std::string TypeString(const kiln::module::v1::TensorType& type);

// An owning host tensor: dtype, shape, and row-major little-endian bytes.
struct HostTensor {
  std::string name;
  DataType dtype = kiln::module::v1::DATA_TYPE_UNSPECIFIED;
  std::vector<int64_t> shape;
  std::string data;
};

// A non-owning view of a tensor's bytes (inputs to an invocation).
struct TensorView {
  std::string_view name;
  DataType dtype = kiln::module::v1::DATA_TYPE_UNSPECIFIED;
  std::span<const int64_t> shape;
  std::span<const uint8_t> data;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_TENSOR_TENSOR_H_
