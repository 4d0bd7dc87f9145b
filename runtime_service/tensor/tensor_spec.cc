#include "runtime_service/tensor/tensor_spec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime_service/tensor/npy.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

// ---- 16-bit floats ----

float HalfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t FloatToHalf(float value) {
  // Round-to-nearest-even without FPU half support (after F. Giesen, float_to_half_fast3_rtne).
  uint32_t bits = std::bit_cast<uint32_t>(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  bits &= 0x7fffffffu;
  if (bits >= 0x7f800000u) {  // inf or nan (nan stays a quiet nan)
    return sign | (bits > 0x7f800000u ? 0x7e00 | ((bits >> 13) & 0x3ff) : 0x7c00);
  }
  if (bits >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 rounds to inf
  if (bits < 0x38800000u) {
    // Result is subnormal or zero: adding 0.5 shifts the mantissa into place and the FPU's
    // default round-to-nearest-even does the rounding.
    constexpr uint32_t kDenormMagic = ((127 - 15) + (23 - 10) + 1) << 23;
    float shifted = std::bit_cast<float>(bits) + std::bit_cast<float>(kDenormMagic);
    return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(shifted) - kDenormMagic);
  }
  uint32_t mantissa_odd = (bits >> 13) & 1;
  bits += (static_cast<uint32_t>(15 - 127) << 23) + 0xfff;  // rebias, round half up
  bits += mantissa_odd;                                     // ... ties to even
  return sign | static_cast<uint16_t>(bits >> 13);
}

float BFloat16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t FloatToBFloat16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

namespace {

// Debian's absl has its own string_view type, which StrCat does not accept std::string_view for.
absl::string_view AV(std::string_view text) { return absl::string_view(text.data(), text.size()); }

template <typename T>
T Load(const void* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

template <typename T>
void Append(std::string* out, T value) {
  char buffer[sizeof(T)];
  std::memcpy(buffer, &value, sizeof(T));
  out->append(buffer, sizeof(T));
}

bool IsFloat(DataType dtype) {
  return dtype == mv1::DATA_TYPE_F16 || dtype == mv1::DATA_TYPE_BF16 ||
         dtype == mv1::DATA_TYPE_F32 || dtype == mv1::DATA_TYPE_F64;
}

bool IsSigned(DataType dtype) {
  return dtype == mv1::DATA_TYPE_I8 || dtype == mv1::DATA_TYPE_I16 || dtype == mv1::DATA_TYPE_I32 ||
         dtype == mv1::DATA_TYPE_I64;
}

std::string TypeText(const TensorTypeSpec& type) {
  if (type.shape.empty()) return std::string(DataTypeName(type.dtype));
  return absl::StrCat(absl::StrJoin(type.shape, "x"), "x", AV(DataTypeName(type.dtype)));
}

absl::Status AppendValue(DataType dtype, std::string_view text, std::string* out) {
  auto out_of_range = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("value ", AV(text), " is out of range for ", AV(DataTypeName(dtype))));
  };
  auto not_a = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("'", AV(text), "' is not ", AV(what)));
  };
  if (dtype == mv1::DATA_TYPE_BOOL) {
    if (text == "true" || text == "True" || text == "1") {
      out->push_back(1);
    } else if (text == "false" || text == "False" || text == "0") {
      out->push_back(0);
    } else {
      return not_a("a bool (true, false, 1 or 0)");
    }
    return absl::OkStatus();
  }
  if (IsFloat(dtype)) {
    double value;
    if (!absl::SimpleAtod(AV(text), &value)) return not_a("a number");
    if (dtype == mv1::DATA_TYPE_F64) {
      Append(out, value);
      return absl::OkStatus();
    }
    float narrowed = static_cast<float>(value);
    if (std::isfinite(value) && !std::isfinite(narrowed)) return out_of_range();
    if (dtype == mv1::DATA_TYPE_F32) {
      Append(out, narrowed);
    } else {
      uint16_t half =
          dtype == mv1::DATA_TYPE_F16 ? FloatToHalf(narrowed) : FloatToBFloat16(narrowed);
      float back = dtype == mv1::DATA_TYPE_F16 ? HalfToFloat(half) : BFloat16ToFloat(half);
      if (std::isfinite(value) && !std::isfinite(back)) return out_of_range();
      Append(out, half);
    }
    return absl::OkStatus();
  }
  if (IsSigned(dtype)) {
    int64_t value;
    if (!absl::SimpleAtoi(AV(text), &value)) {
      uint64_t unused;
      if (absl::SimpleAtoi(AV(text), &unused)) return out_of_range();
      return not_a("an integer");
    }
    switch (dtype) {
      case mv1::DATA_TYPE_I8:
        if (value < INT8_MIN || value > INT8_MAX) return out_of_range();
        Append(out, static_cast<int8_t>(value));
        break;
      case mv1::DATA_TYPE_I16:
        if (value < INT16_MIN || value > INT16_MAX) return out_of_range();
        Append(out, static_cast<int16_t>(value));
        break;
      case mv1::DATA_TYPE_I32:
        if (value < INT32_MIN || value > INT32_MAX) return out_of_range();
        Append(out, static_cast<int32_t>(value));
        break;
      default:
        Append(out, value);
        break;
    }
    return absl::OkStatus();
  }
  uint64_t value;
  if (!absl::SimpleAtoi(AV(text), &value)) {
    int64_t negative;
    if (absl::SimpleAtoi(AV(text), &negative)) return out_of_range();
    return not_a("an unsigned integer");
  }
  switch (dtype) {
    case mv1::DATA_TYPE_U8:
      if (value > UINT8_MAX) return out_of_range();
      Append(out, static_cast<uint8_t>(value));
      break;
    case mv1::DATA_TYPE_U16:
      if (value > UINT16_MAX) return out_of_range();
      Append(out, static_cast<uint16_t>(value));
      break;
    case mv1::DATA_TYPE_U32:
      if (value > UINT32_MAX) return out_of_range();
      Append(out, static_cast<uint32_t>(value));
      break;
    case mv1::DATA_TYPE_U64:
      Append(out, value);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported data type ", static_cast<int>(dtype)));
  }
  return absl::OkStatus();
}

// Shortest "%.Ng" text for which `same(text)` holds (it reads back to the same value).
template <typename Same>
std::string Shortest(double value, int max_precision, Same same) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buffer[64];
  // Whole numbers print as such ("10", not "1e+01") below 1e7, where that is no longer.
  if (value == std::trunc(value) && std::fabs(value) < 1e7) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    if (same(buffer)) return buffer;
  }
  for (int precision = 1; precision < max_precision; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (same(buffer)) return buffer;
  }
  std::snprintf(buffer, sizeof(buffer), "%.*g", max_precision, value);
  return buffer;
}

std::vector<std::string_view> SplitValues(std::string_view values) {
  std::vector<std::string_view> items;
  for (absl::string_view item :
       absl::StrSplit(AV(values), absl::ByAnyChar(", \t\n[]"), absl::SkipEmpty()))
    items.emplace_back(item.data(), item.size());
  return items;
}

}  // namespace

absl::StatusOr<TensorTypeSpec> ParseTypeSpec(std::string_view text) {
  std::vector<std::string_view> parts;
  for (absl::string_view part : absl::StrSplit(AV(text), 'x'))
    parts.emplace_back(part.data(), part.size());
  TensorTypeSpec type;
  auto dtype = ParseDataTypeName(parts.back());
  if (!dtype)
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown element type '", AV(parts.back()), "' in '", AV(text),
        "' (expected e.g. 2x3xf32; types: f32 f64 f16 bf16 i8 i16 i32 i64 u8 u16 u32 u64 bool)"));
  type.dtype = *dtype;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int64_t dim;
    if (parts[i].empty() || parts[i][0] == '-' || parts[i][0] == '+' ||
        !absl::SimpleAtoi(AV(parts[i]), &dim))
      return absl::InvalidArgumentError(absl::StrCat("bad dimension '", AV(parts[i]), "' in '",
                                                     AV(text), "' (expected e.g. 2x3xf32)"));
    type.shape.push_back(dim);
  }
  auto bytes = ByteLength(type.dtype, type.shape);
  if (!bytes.ok()) return bytes.status();
  return type;
}

absl::StatusOr<std::string> ParseTensorValues(DataType dtype, int64_t count,
                                              std::string_view values) {
  std::vector<std::string_view> items = SplitValues(values);
  if (static_cast<int64_t>(items.size()) != count)
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", count, " values, got ", items.size()));
  std::string bytes;
  bytes.reserve(static_cast<size_t>(count) * DataTypeSize(dtype));
  for (std::string_view item : items) {
    absl::Status status = AppendValue(dtype, item, &bytes);
    if (!status.ok()) return status;
  }
  return bytes;
}

absl::StatusOr<HostTensor> ParseTensorSpec(std::string_view spec) {
  // Values and types never contain '=', so the number of '=' before any '@' decides the form;
  // a path after '@' may contain anything.
  std::string_view name;
  std::string_view rest = spec;
  if (!rest.empty() && rest[0] != '@') {
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos)
      return absl::InvalidArgumentError(
          "expected [NAME=]TYPE=VALUES (e.g. x=2x3xf32=1,2,3,4,5,6) or [NAME=]@FILE.npy");
    std::string_view tail = rest.substr(eq + 1);
    if (!tail.empty() && (tail[0] == '@' || tail.find('=') != std::string_view::npos)) {
      name = rest.substr(0, eq);
      rest = tail;
      if (name.empty()) return absl::InvalidArgumentError("empty tensor name before '='");
    }
  }

  HostTensor tensor;
  if (!rest.empty() && rest[0] == '@') {
    std::string path(rest.substr(1));
    if (path.empty()) return absl::InvalidArgumentError("empty file name after '@'");
    auto loaded = ReadNpyFile(path);
    if (!loaded.ok()) return loaded.status();
    tensor = *std::move(loaded);
  } else {
    size_t eq = rest.find('=');
    auto type = ParseTypeSpec(rest.substr(0, eq));
    if (!type.ok()) return type.status();
    auto count = ElementCount(type->shape);
    if (!count.ok()) return count.status();
    std::string_view values = rest.substr(eq + 1);
    size_t given = SplitValues(values).size();
    if (static_cast<int64_t>(given) != *count)
      return absl::InvalidArgumentError(absl::StrCat(
          TypeText(*type), " needs ", *count, *count == 1 ? " value" : " values", ", got ", given));
    auto bytes = ParseTensorValues(type->dtype, *count, values);
    if (!bytes.ok()) return bytes.status();
    tensor.dtype = type->dtype;
    tensor.shape = std::move(type->shape);
    tensor.data = *std::move(bytes);
  }
  tensor.name = std::string(name);
  return tensor;
}

std::string FormatElement(DataType dtype, const void* bytes) {
  switch (dtype) {
    case mv1::DATA_TYPE_F32: {
      float value = Load<float>(bytes);
      return Shortest(value, 9,
                      [&](const char* text) { return std::strtof(text, nullptr) == value; });
    }
    case mv1::DATA_TYPE_F64: {
      double value = Load<double>(bytes);
      return Shortest(value, 17,
                      [&](const char* text) { return std::strtod(text, nullptr) == value; });
    }
    case mv1::DATA_TYPE_F16: {
      uint16_t bits = Load<uint16_t>(bytes);
      return Shortest(HalfToFloat(bits), 9, [&](const char* text) {
        return FloatToHalf(std::strtof(text, nullptr)) == bits;
      });
    }
    case mv1::DATA_TYPE_BF16: {
      uint16_t bits = Load<uint16_t>(bytes);
      return Shortest(BFloat16ToFloat(bits), 9, [&](const char* text) {
        return FloatToBFloat16(std::strtof(text, nullptr)) == bits;
      });
    }
    case mv1::DATA_TYPE_I8:
      return absl::StrCat(Load<int8_t>(bytes));
    case mv1::DATA_TYPE_I16:
      return absl::StrCat(Load<int16_t>(bytes));
    case mv1::DATA_TYPE_I32:
      return absl::StrCat(Load<int32_t>(bytes));
    case mv1::DATA_TYPE_I64:
      return absl::StrCat(Load<int64_t>(bytes));
    case mv1::DATA_TYPE_U8:
      return absl::StrCat(Load<uint8_t>(bytes));
    case mv1::DATA_TYPE_U16:
      return absl::StrCat(Load<uint16_t>(bytes));
    case mv1::DATA_TYPE_U32:
      return absl::StrCat(Load<uint32_t>(bytes));
    case mv1::DATA_TYPE_U64:
      return absl::StrCat(Load<uint64_t>(bytes));
    case mv1::DATA_TYPE_BOOL:
      return Load<uint8_t>(bytes) ? "true" : "false";
    default:
      return "?";
  }
}

ElementValue ElementAt(const HostTensor& tensor, size_t index) {
  const char* p = tensor.data.data() + index * DataTypeSize(tensor.dtype);
  switch (tensor.dtype) {
    case mv1::DATA_TYPE_F32:
      return static_cast<double>(Load<float>(p));
    case mv1::DATA_TYPE_F64:
      return Load<double>(p);
    case mv1::DATA_TYPE_F16:
      return static_cast<double>(HalfToFloat(Load<uint16_t>(p)));
    case mv1::DATA_TYPE_BF16:
      return static_cast<double>(BFloat16ToFloat(Load<uint16_t>(p)));
    case mv1::DATA_TYPE_I8:
      return static_cast<int64_t>(Load<int8_t>(p));
    case mv1::DATA_TYPE_I16:
      return static_cast<int64_t>(Load<int16_t>(p));
    case mv1::DATA_TYPE_I32:
      return static_cast<int64_t>(Load<int32_t>(p));
    case mv1::DATA_TYPE_I64:
      return Load<int64_t>(p);
    case mv1::DATA_TYPE_U8:
      return static_cast<uint64_t>(Load<uint8_t>(p));
    case mv1::DATA_TYPE_U16:
      return static_cast<uint64_t>(Load<uint16_t>(p));
    case mv1::DATA_TYPE_U32:
      return static_cast<uint64_t>(Load<uint32_t>(p));
    case mv1::DATA_TYPE_U64:
      return Load<uint64_t>(p);
    case mv1::DATA_TYPE_BOOL:
      return Load<uint8_t>(p) != 0;
    default:
      return 0.0;
  }
}

std::string FormatTensor(const HostTensor& tensor, size_t max_elements) {
  std::string out;
  if (!tensor.name.empty()) absl::StrAppend(&out, tensor.name, ": ");
  absl::StrAppend(&out, TypeString(tensor.dtype, tensor.shape), " = ");
  size_t size = DataTypeSize(tensor.dtype);
  auto count = ElementCount(tensor.shape);
  if (size == 0 || !count.ok() || tensor.data.size() != static_cast<uint64_t>(*count) * size) {
    absl::StrAppend(&out, "<", tensor.data.size(), " bytes, malformed>");
    return out;
  }
  if (tensor.shape.empty()) {
    absl::StrAppend(&out, FormatElement(tensor.dtype, tensor.data.data()));
    return out;
  }
  out.push_back('[');
  size_t shown = std::min(static_cast<size_t>(*count), max_elements);
  for (size_t i = 0; i < shown; ++i) {
    if (i) out.append(", ");
    out.append(FormatElement(tensor.dtype, tensor.data.data() + i * size));
  }
  if (shown < static_cast<size_t>(*count)) out.append(shown ? ", ..." : "...");
  out.push_back(']');
  return out;
}

}  // namespace kiln
