#include "server/kserve_inputs.h"

#include <cmath>
#include <cstring>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/loaded_module.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

namespace {

// IEEE binary16, round to nearest even; NaN stays NaN, overflow becomes infinity.
uint16_t FloatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds past the largest half
  if (abs < 0x38800000) {                       // below 2^-14: a half subnormal (or zero)
    float magnitude;
    std::memcpy(&magnitude, &abs, 4);
    // Scaling by 2^24 is exact; nearbyint rounds half to even in the default mode.
    return sign | static_cast<uint16_t>(std::nearbyint(magnitude * 16777216.0f));
  }
  const uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);  // carries into the exponent
  return sign | static_cast<uint16_t>((rounded - 0x38000000) >> 13);
}

uint16_t FloatToBfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

template <typename T>
void Append(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian host (x86-64, the only target)
  out.append(bytes, sizeof(T));
}

// Every element of `values` converted to T, range-checked.
template <typename T, typename Values>
absl::Status PackIntegers(const Values& values, const std::string& input,
                          const std::string& datatype, std::string& out) {
  for (int i = 0; i < values.size(); ++i) {
    if (!std::in_range<T>(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input, "': value ", values[i],
                                                     " at index ", i, " is out of range for ",
                                                     datatype));
    }
    Append(out, static_cast<T>(values[i]));
  }
  return absl::OkStatus();
}

// The `contents` field KServe assigns to a datatype, by field number in InferTensorContents.
int ContentsField(DataType dtype) {
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      return 1;
    case mv1::DATA_TYPE_I8:
    case mv1::DATA_TYPE_I16:
    case mv1::DATA_TYPE_I32:
      return 2;
    case mv1::DATA_TYPE_I64:
      return 3;
    case mv1::DATA_TYPE_U8:
    case mv1::DATA_TYPE_U16:
    case mv1::DATA_TYPE_U32:
      return 4;
    case mv1::DATA_TYPE_U64:
      return 5;
    case mv1::DATA_TYPE_F32:
    case mv1::DATA_TYPE_F16:
    case mv1::DATA_TYPE_BF16:
      return 6;
    case mv1::DATA_TYPE_F64:
      return 7;
    default:
      return 0;
  }
}

const char* FieldName(int field) {
  static constexpr const char* kNames[] = {"",
                                           "bool_contents",
                                           "int_contents",
                                           "int64_contents",
                                           "uint_contents",
                                           "uint64_contents",
                                           "fp32_contents",
                                           "fp64_contents",
                                           "bytes_contents"};
  return kNames[field];
}

int FieldSize(const inference::InferTensorContents& c, int field) {
  switch (field) {
    case 1:
      return c.bool_contents_size();
    case 2:
      return c.int_contents_size();
    case 3:
      return c.int64_contents_size();
    case 4:
      return c.uint_contents_size();
    case 5:
      return c.uint64_contents_size();
    case 6:
      return c.fp32_contents_size();
    case 7:
      return c.fp64_contents_size();
    case 8:
      return c.bytes_contents_size();
    default:
      return 0;
  }
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::string SupportedDatatypes() {
  std::vector<std::string> names;
  for (int d = mv1::DataType_MIN; d <= mv1::DataType_MAX; ++d)
    if (auto name = KServeDatatype(static_cast<DataType>(d))) names.emplace_back(*name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<std::string> PackContents(const std::string& input, DataType dtype, int64_t elements,
                                         const inference::InferTensorContents& contents) {
  const int field = ContentsField(dtype);
  const std::string datatype(KServeDatatype(dtype).value_or("?"));
  for (int other = 1; other <= 8; ++other) {
    if (other == field || FieldSize(contents, other) == 0) continue;
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "' is ", datatype,
                                                   ": its data goes in contents.", FieldName(field),
                                                   ", not ", FieldName(other)));
  }
  const int64_t given = FieldSize(contents, field);
  if (given != elements) {
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "': its shape has ", elements,
                                                   " elements but contents.", FieldName(field),
                                                   " has ", given));
  }
  std::string out;
  out.reserve(static_cast<size_t>(elements) * DataTypeSize(dtype));
  absl::Status status;
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      for (bool b : contents.bool_contents()) out.push_back(b ? 1 : 0);
      break;
    case mv1::DATA_TYPE_I8:
      status = PackIntegers<int8_t>(contents.int_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_I16:
      status = PackIntegers<int16_t>(contents.int_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_I32:
      status = PackIntegers<int32_t>(contents.int_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_I64:
      status = PackIntegers<int64_t>(contents.int64_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U8:
      status = PackIntegers<uint8_t>(contents.uint_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U16:
      status = PackIntegers<uint16_t>(contents.uint_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U32:
      status = PackIntegers<uint32_t>(contents.uint_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_U64:
      status = PackIntegers<uint64_t>(contents.uint64_contents(), input, datatype, out);
      break;
    case mv1::DATA_TYPE_F32:
      out.append(reinterpret_cast<const char*>(contents.fp32_contents().data()),
                 static_cast<size_t>(elements) * sizeof(float));
      break;
    case mv1::DATA_TYPE_F16:
      for (float v : contents.fp32_contents()) Append(out, FloatToHalf(v));
      break;
    case mv1::DATA_TYPE_BF16:
      for (float v : contents.fp32_contents()) Append(out, FloatToBfloat16(v));
      break;
    case mv1::DATA_TYPE_F64:
      out.append(reinterpret_cast<const char*>(contents.fp64_contents().data()),
                 static_cast<size_t>(elements) * sizeof(double));
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input, "': no typed contents for this datatype"));
  }
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<TensorView>> DecodeInferInputs(
    const inference::ModelInferRequest& request, const mv1::FunctionDef& function,
    std::vector<std::string>& packed) {
  const int raw_count = request.raw_input_contents_size();
  if (raw_count > 0 && raw_count != request.inputs_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw_input_contents has ", raw_count, " entries for ", request.inputs_size(),
                     " inputs; with raw inputs every input needs one, in order"));
  }
  // Reserved up front: the views point into the strings, which must not move.
  packed.clear();
  packed.reserve(request.inputs_size());
  std::vector<TensorView> views(request.inputs_size());
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    auto dtype = ParseKServeDatatype(input.datatype());
    if (!dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", input.name(), "': unsupported datatype '", input.datatype(),
          "'; kiln supports ", SupportedDatatypes(), "; signature: ", SignatureString(function)));
    }
    const std::span<const int64_t> shape(input.shape().data(), input.shape().size());
    std::string_view data;
    if (raw_count > 0) {
      if (input.has_contents()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", input.name(), "' has both contents and raw_input_contents; use one"));
      }
      data = request.raw_input_contents(i);
    } else {
      auto elements = ElementCount(shape);
      if (!elements.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "': bad shape ",
                                                       ShapeString(shape), ": ",
                                                       elements.status().message()));
      }
      auto bytes = PackContents(input.name(), *dtype, *elements, input.contents());
      if (!bytes.ok()) return bytes.status();
      packed.push_back(std::move(*bytes));
      data = packed.back();
    }
    if (*dtype == mv1::DATA_TYPE_BOOL) {
      for (char c : data) {
        if (c != 0 && c != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("input '", input.name(), "': BOOL elements must be bytes 0 or 1"));
        }
      }
    }
    views[i].name = input.name();
    views[i].dtype = *dtype;
    views[i].shape = shape;
    views[i].data =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  return MatchInputs(function, views);
}

}  // namespace kiln
