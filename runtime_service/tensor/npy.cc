#include "runtime_service/tensor/npy.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

namespace {

// Debian's absl has its own string_view type, which StrCat does not accept std::string_view for.
absl::string_view AV(std::string_view text) { return absl::string_view(text.data(), text.size()); }

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kAlignment = 64;

// The subset of Python literals that .npy headers use: a dict of str keys whose values are
// strings, ints, booleans, None and tuples/lists of those.
struct PyEntry;
struct PyValue {
  enum class Kind { kString, kInt, kBool, kNone, kSequence, kDict };
  Kind kind = Kind::kNone;
  std::string str;
  int64_t integer = 0;
  bool boolean = false;
  std::vector<PyValue> items;
  // A struct, not std::pair<std::string, PyValue>: clang rejects that pair of a type still
  // being defined (libstdc++ checks it is destructible).
  std::vector<PyEntry> entries;
};
struct PyEntry {
  std::string key;
  PyValue value;
};

class LiteralParser {
 public:
  explicit LiteralParser(std::string_view text) : text_(text) {}

  absl::StatusOr<PyValue> ParseAll() {
    auto value = ParseValue(0);
    if (!value.ok()) return value.status();
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected trailing characters");
    return value;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed .npy header at offset ", pos_, ": ", AV(what)));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  absl::StatusOr<PyValue> ParseValue(int depth) {
    // Headers are flat; the limit only guards the stack against hostile files.
    if (depth > 16) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end of header");
    char c = text_[pos_];
    if (c == '{') return ParseDict(depth);
    if (c == '(' || c == '[') return ParseSequence(depth, c == '(' ? ')' : ']');
    if (c == '\'' || c == '"') return ParseString();
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return ParseInt();
    return ParseIdentifier();
  }

  absl::StatusOr<PyValue> ParseDict(int depth) {
    ++pos_;  // '{'
    PyValue dict;
    dict.kind = PyValue::Kind::kDict;
    while (true) {
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return dict;
      }
      auto key = ParseValue(depth + 1);
      if (!key.ok()) return key.status();
      if (key->kind != PyValue::Kind::kString) return Error("dict key is not a string");
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      auto value = ParseValue(depth + 1);
      if (!value.ok()) return value.status();
      dict.entries.push_back({std::move(key->str), *std::move(value)});
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
      } else if (pos_ >= text_.size() || text_[pos_] != '}') {
        return Error("expected ',' or '}'");
      }
    }
  }

  absl::StatusOr<PyValue> ParseSequence(int depth, char close) {
    ++pos_;  // '(' or '['
    PyValue seq;
    seq.kind = PyValue::Kind::kSequence;
    while (true) {
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == close) {
        ++pos_;
        return seq;
      }
      auto item = ParseValue(depth + 1);
      if (!item.ok()) return item.status();
      seq.items.push_back(*std::move(item));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
      } else if (pos_ >= text_.size() || text_[pos_] != close) {
        return Error(absl::StrCat("expected ',' or '", absl::string_view(&close, 1), "'"));
      }
    }
  }

  absl::StatusOr<PyValue> ParseString() {
    char quote = text_[pos_++];
    PyValue value;
    value.kind = PyValue::Kind::kString;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        c = text_[pos_++];
      }
      value.str.push_back(c);
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    ++pos_;  // closing quote
    return value;
  }

  absl::StatusOr<PyValue> ParseInt() {
    bool negative = false;
    if (text_[pos_] == '-' || text_[pos_] == '+') negative = text_[pos_++] == '-';
    size_t start = pos_;
    uint64_t magnitude = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (magnitude > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10)
        return Error("integer out of range");
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) return Error("expected a digit");
    // Python 2 wrote shapes of large arrays as long literals: (3L, 4L).
    if (pos_ < text_.size() && (text_[pos_] == 'L' || text_[pos_] == 'l')) ++pos_;
    PyValue value;
    value.kind = PyValue::Kind::kInt;
    value.integer = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    return value;
  }

  absl::StatusOr<PyValue> ParseIdentifier() {
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
      ++pos_;
    std::string_view word = text_.substr(start, pos_ - start);
    PyValue value;
    if (word == "True" || word == "False") {
      value.kind = PyValue::Kind::kBool;
      value.boolean = word == "True";
    } else if (word == "None") {
      value.kind = PyValue::Kind::kNone;
    } else {
      pos_ = start;
      return Error(word.empty() ? std::string("unexpected character")
                                : absl::StrCat("unexpected word '", AV(word), "'"));
    }
    return value;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

struct NpyType {
  char kind;  // 'f', 'i', 'u', 'b'
  size_t size;
  DataType dtype;
};
constexpr NpyType kNpyTypes[] = {
    {'f', 2, mv1::DATA_TYPE_F16}, {'f', 4, mv1::DATA_TYPE_F32}, {'f', 8, mv1::DATA_TYPE_F64},
    {'i', 1, mv1::DATA_TYPE_I8},  {'i', 2, mv1::DATA_TYPE_I16}, {'i', 4, mv1::DATA_TYPE_I32},
    {'i', 8, mv1::DATA_TYPE_I64}, {'u', 1, mv1::DATA_TYPE_U8},  {'u', 2, mv1::DATA_TYPE_U16},
    {'u', 4, mv1::DATA_TYPE_U32}, {'u', 8, mv1::DATA_TYPE_U64}, {'b', 1, mv1::DATA_TYPE_BOOL},
};

absl::StatusOr<DataType> ParseDescr(std::string_view descr) {
  auto unsupported = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported .npy dtype '", AV(descr), "': ", AV(why)));
  };
  if (descr.size() < 3) return unsupported("expected a byte order, kind and size like '<f4'");
  char order = descr[0];
  char kind = descr[1];
  std::string_view size_text = descr.substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return unsupported("expected a byte order, kind and size like '<f4'");
  size_t size = 0;
  for (char c : size_text) {
    if (c < '0' || c > '9' || size > 1000) return unsupported("not a plain numeric type");
    size = size * 10 + static_cast<size_t>(c - '0');
  }
  for (const NpyType& type : kNpyTypes) {
    if (type.kind != kind || type.size != size) continue;
    // '=' is native order, and every host kiln runs on is little-endian.
    if (order == '>' && size > 1) return unsupported("big-endian data is not supported");
    return type.dtype;
  }
  return unsupported("kiln supports bool (b1), i1-i8, u1-u8 and f2/f4/f8");
}

const PyValue* FindKey(const PyValue& dict, std::string_view key) {
  for (const auto& [name, value] : dict.entries)
    if (name == key) return &value;
  return nullptr;
}

uint32_t LoadLittleEndian(std::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

std::string ErrnoMessage() { return std::strerror(errno); }

}  // namespace

absl::StatusOr<std::string> NpyDescr(DataType dtype) {
  for (const NpyType& type : kNpyTypes) {
    if (type.dtype != dtype) continue;
    std::string descr(1, type.size == 1 ? '|' : '<');
    absl::StrAppend(&descr, absl::string_view(&type.kind, 1), type.size);
    return descr;
  }
  if (dtype == mv1::DATA_TYPE_BF16)
    return absl::InvalidArgumentError("bf16 tensors cannot be written to .npy (NumPy has no bf16)");
  return absl::InvalidArgumentError(
      absl::StrCat("data type ", AV(DataTypeName(dtype)), " has no .npy equivalent"));
}

absl::StatusOr<HostTensor> ReadNpy(std::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic)
    return absl::InvalidArgumentError("not a .npy file (bad magic)");
  if (bytes.size() < 8) return absl::InvalidArgumentError("truncated .npy file (no version)");
  int major = static_cast<uint8_t>(bytes[6]);
  int minor = static_cast<uint8_t>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported .npy format version ", major, ".", minor));
  size_t length_size = major == 1 ? 2 : 4;
  size_t prefix = 8 + length_size;
  if (bytes.size() < prefix)
    return absl::InvalidArgumentError("truncated .npy file (no header length)");
  size_t header_length = LoadLittleEndian(bytes.substr(8, length_size));
  if (bytes.size() - prefix < header_length)
    return absl::InvalidArgumentError(absl::StrCat("truncated .npy file: header needs ",
                                                   header_length, " bytes, file has ",
                                                   bytes.size() - prefix));
  std::string_view header = bytes.substr(prefix, header_length);
  std::string_view data = bytes.substr(prefix + header_length);

  auto dict = LiteralParser(header).ParseAll();
  if (!dict.ok()) return dict.status();
  if (dict->kind != PyValue::Kind::kDict)
    return absl::InvalidArgumentError("malformed .npy header: not a dict");
  const PyValue* descr = FindKey(*dict, "descr");
  const PyValue* fortran = FindKey(*dict, "fortran_order");
  const PyValue* shape = FindKey(*dict, "shape");
  if (!descr || !fortran || !shape)
    return absl::InvalidArgumentError(
        "malformed .npy header: needs 'descr', 'fortran_order' and 'shape'");
  if (descr->kind != PyValue::Kind::kString)
    return absl::InvalidArgumentError(
        "unsupported .npy dtype: structured arrays are not supported");
  if (fortran->kind != PyValue::Kind::kBool)
    return absl::InvalidArgumentError("malformed .npy header: 'fortran_order' is not a bool");
  if (fortran->boolean)
    return absl::InvalidArgumentError(
        ".npy file is in Fortran order; only C order is supported (save with "
        "numpy.ascontiguousarray)");
  if (shape->kind != PyValue::Kind::kSequence)
    return absl::InvalidArgumentError("malformed .npy header: 'shape' is not a tuple");

  HostTensor tensor;
  auto dtype = ParseDescr(descr->str);
  if (!dtype.ok()) return dtype.status();
  tensor.dtype = *dtype;
  for (const PyValue& dim : shape->items) {
    if (dim.kind != PyValue::Kind::kInt || dim.integer < 0)
      return absl::InvalidArgumentError(
          "malformed .npy header: 'shape' must hold non-negative integers");
    tensor.shape.push_back(dim.integer);
  }
  auto length = ByteLength(tensor.dtype, tensor.shape);
  if (!length.ok()) return length.status();
  if (data.size() != static_cast<uint64_t>(*length))
    return absl::InvalidArgumentError(absl::StrCat(
        data.size() < static_cast<uint64_t>(*length) ? "truncated .npy file: " : ".npy file: ",
        TypeString(tensor.dtype, tensor.shape), " needs ", *length, " data bytes, file has ",
        data.size()));
  if (tensor.dtype == mv1::DATA_TYPE_BOOL) {
    for (char c : data)
      if (c != 0 && c != 1)
        return absl::InvalidArgumentError(".npy bool data holds a byte other than 0 or 1");
  }
  tensor.data.assign(data);
  return tensor;
}

absl::StatusOr<HostTensor> ReadNpyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string message = absl::StrCat("cannot open ", path, ": ", ErrnoMessage());
    return errno == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    return absl::DataLossError(absl::StrCat("cannot read ", path, ": ", ErrnoMessage()));
  auto tensor = ReadNpy(bytes);
  if (!tensor.ok())
    return absl::Status(tensor.status().code(),
                        absl::StrCat(path, ": ", tensor.status().message()));
  return tensor;
}

absl::StatusOr<std::string> WriteNpy(const HostTensor& tensor) {
  auto descr = NpyDescr(tensor.dtype);
  if (!descr.ok()) return descr.status();
  auto length = ByteLength(tensor.dtype, tensor.shape);
  if (!length.ok()) return length.status();
  if (tensor.data.size() != static_cast<uint64_t>(*length))
    return absl::InvalidArgumentError(absl::StrCat(TypeString(tensor.dtype, tensor.shape),
                                                   " needs ", *length, " bytes, tensor has ",
                                                   tensor.data.size()));
  // Python's tuple repr: "()", "(3,)", "(2, 3)".
  std::string shape =
      absl::StrCat("(", absl::StrJoin(tensor.shape, ", "), tensor.shape.size() == 1 ? ",)" : ")");
  std::string header =
      absl::StrCat("{'descr': '", *descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
  // Version 1.0 keeps the header length in 16 bits; fall back to 2.0 past that.
  size_t prefix = 10;
  size_t padded = (prefix + header.size() + 1 + kAlignment - 1) / kAlignment * kAlignment;
  if (padded - prefix > std::numeric_limits<uint16_t>::max()) {
    prefix = 12;
    padded = (prefix + header.size() + 1 + kAlignment - 1) / kAlignment * kAlignment;
  }
  header.append(padded - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  std::string out;
  out.reserve(padded + tensor.data.size());
  out.append(kMagic);
  out.push_back(prefix == 10 ? 1 : 2);
  out.push_back(0);
  uint32_t header_length = static_cast<uint32_t>(header.size());
  for (size_t i = 0; i < prefix - 8; ++i)
    out.push_back(static_cast<char>((header_length >> (8 * i)) & 0xff));
  out.append(header);
  out.append(tensor.data);
  return out;
}

absl::Status WriteNpyFile(const std::string& path, const HostTensor& tensor) {
  auto bytes = WriteNpy(tensor);
  if (!bytes.ok()) return bytes.status();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path, " for writing: ", ErrnoMessage()));
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("cannot write ", path, ": ", ErrnoMessage()));
  return absl::OkStatus();
}

}  // namespace kiln
