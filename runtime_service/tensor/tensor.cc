#include "runtime_service/tensor/tensor.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

using kiln::module::v1::DataType;
namespace mv1 = kiln::module::v1;

namespace {
struct DataTypeInfo {
  DataType dtype;
  std::string_view name;
  size_t size;
  std::string_view kserve;  // the KServe v2 / Triton datatype name
};
constexpr DataTypeInfo kDataTypes[] = {
    {mv1::DATA_TYPE_F32, "f32", 4, "FP32"},   {mv1::DATA_TYPE_F64, "f64", 8, "FP64"},
    {mv1::DATA_TYPE_F16, "f16", 2, "FP16"},   {mv1::DATA_TYPE_BF16, "bf16", 2, "BF16"},
    {mv1::DATA_TYPE_I8, "i8", 1, "INT8"},     {mv1::DATA_TYPE_I16, "i16", 2, "INT16"},
    {mv1::DATA_TYPE_I32, "i32", 4, "INT32"},  {mv1::DATA_TYPE_I64, "i64", 8, "INT64"},
    {mv1::DATA_TYPE_U8, "u8", 1, "UINT8"},    {mv1::DATA_TYPE_U16, "u16", 2, "UINT16"},
    {mv1::DATA_TYPE_U32, "u32", 4, "UINT32"}, {mv1::DATA_TYPE_U64, "u64", 8, "UINT64"},
    {mv1::DATA_TYPE_BOOL, "bool", 1, "BOOL"},
};
}  // namespace

size_t DataTypeSize(DataType dtype) {
  for (const auto& info : kDataTypes)
    if (info.dtype == dtype) return info.size;
  return 0;
}

std::string_view DataTypeName(DataType dtype) {
  for (const auto& info : kDataTypes)
    if (info.dtype == dtype) return info.name;
  return "unknown";
}

std::optional<DataType> ParseDataTypeName(std::string_view name) {
  if (name == "i1") return mv1::DATA_TYPE_BOOL;
  for (const auto& info : kDataTypes)
    if (info.name == name) return info.dtype;
  return std::nullopt;
}

std::optional<std::string_view> KServeDatatype(DataType dtype) {
  for (const auto& info : kDataTypes)
    if (info.dtype == dtype) return info.kserve;
  return std::nullopt;
}

std::optional<DataType> ParseKServeDatatype(std::string_view name) {
  for (const auto& info : kDataTypes)
    if (info.kserve == name) return info.dtype;
  return std::nullopt;
}

absl::StatusOr<int64_t> ElementCount(std::span<const int64_t> shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return absl::InvalidArgumentError(absl::StrCat("negative dimension ", dim));
    if (dim != 0 && count > kMaxTensorBytes / dim)
      return absl::InvalidArgumentError("tensor shape is too large");
    count *= dim;
  }
  return count;
}

absl::StatusOr<int64_t> ByteLength(DataType dtype, std::span<const int64_t> shape) {
  size_t size = DataTypeSize(dtype);
  if (size == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported data type ", static_cast<int>(dtype)));
  auto count = ElementCount(shape);
  if (!count.ok()) return count.status();
  if (*count > kMaxTensorBytes / static_cast<int64_t>(size))
    return absl::InvalidArgumentError("tensor shape is too large");
  return *count * static_cast<int64_t>(size);
}

std::string TypeString(DataType dtype, std::span<const int64_t> shape) {
  // A batched model's batch dim is -1 in its signature: "f32[?x64]".
  return absl::StrCat(std::string(DataTypeName(dtype)), "[",
                      absl::StrJoin(shape, "x",
                                    [](std::string* out, int64_t dim) {
                                      absl::StrAppend(out, dim < 0 ? "?" : absl::StrCat(dim));
                                    }),
                      "]");
}

std::string TypeString(const kiln::module::v1::TensorType& type) {
  return TypeString(type.dtype(),
                    std::span<const int64_t>(type.shape().data(), type.shape().size()));
}

}  // namespace kiln
