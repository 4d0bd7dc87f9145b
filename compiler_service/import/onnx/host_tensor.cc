#include "compiler_service/import/onnx/host_tensor.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "llvm/ADT/APFloat.h"
#include "mlir/IR/BuiltinTypes.h"

namespace kiln::compiler::onnx_import {
namespace {

namespace fs = std::filesystem;
using TP = onnx::TensorProto;

int ElementBytes(DType dtype) {
  switch (dtype) {
    case TP::FLOAT:
    case TP::INT32:
      return 4;
    case TP::DOUBLE:
    case TP::INT64:
      return 8;
    case TP::FLOAT16:
    case TP::BFLOAT16:
    case TP::INT16:
      return 2;
    case TP::INT8:
    case TP::BOOL:
      return 1;
    default:
      return 0;
  }
}

const llvm::fltSemantics& Semantics(DType dtype) {
  switch (dtype) {
    case TP::FLOAT16:
      return llvm::APFloat::IEEEhalf();
    case TP::BFLOAT16:
      return llvm::APFloat::BFloat();
    case TP::DOUBLE:
      return llvm::APFloat::IEEEdouble();
    default:
      return llvm::APFloat::IEEEsingle();
  }
}

double HalfBitsToDouble(DType dtype, uint16_t bits) {
  llvm::APFloat value(Semantics(dtype), llvm::APInt(16, bits));
  bool loses = false;
  value.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &loses);
  return value.convertToDouble();
}

// Little-endian element k of `bytes` (the host is x86-64, little-endian like ONNX raw_data).
template <typename T>
T Load(const char* bytes, int64_t k) {
  T value;
  std::memcpy(&value, bytes + k * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

void DecodeRaw(const std::string& raw, HostTensor& t, int64_t n) {
  const char* p = raw.data();
  switch (t.dtype) {
    case TP::FLOAT:
      for (int64_t k = 0; k < n; ++k) t.f[k] = Load<float>(p, k);
      break;
    case TP::DOUBLE:
      for (int64_t k = 0; k < n; ++k) t.f[k] = Load<double>(p, k);
      break;
    case TP::FLOAT16:
    case TP::BFLOAT16:
      for (int64_t k = 0; k < n; ++k) t.f[k] = HalfBitsToDouble(t.dtype, Load<uint16_t>(p, k));
      break;
    case TP::INT8:
      // Sign extension is the point: INT8 values are signed.
      for (int64_t k = 0; k < n; ++k)
        t.i[k] = Load<int8_t>(p, k);  // NOLINT(bugprone-signed-char-misuse)
      break;
    case TP::BOOL:
      for (int64_t k = 0; k < n; ++k) t.i[k] = Load<uint8_t>(p, k) != 0;
      break;
    case TP::INT16:
      for (int64_t k = 0; k < n; ++k) t.i[k] = Load<int16_t>(p, k);
      break;
    case TP::INT32:
      for (int64_t k = 0; k < n; ++k) t.i[k] = Load<int32_t>(p, k);
      break;
    case TP::INT64:
      for (int64_t k = 0; k < n; ++k) t.i[k] = Load<int64_t>(p, k);
      break;
    default:
      break;
  }
}

}  // namespace

bool IsFloatType(DType dtype) {
  return dtype == TP::FLOAT || dtype == TP::DOUBLE || dtype == TP::FLOAT16 || dtype == TP::BFLOAT16;
}

bool IsSupportedType(DType dtype) { return ElementBytes(dtype) != 0; }

std::string DTypeName(DType dtype) {
  if (TP::DataType_IsValid(dtype)) return TP::DataType_Name(static_cast<TP::DataType>(dtype));
  return absl::StrCat("data type ", dtype);
}

mlir::Type ElementType(mlir::MLIRContext& ctx, DType dtype) {
  switch (dtype) {
    case TP::DOUBLE:
      return mlir::Float64Type::get(&ctx);
    case TP::FLOAT16:
      return mlir::Float16Type::get(&ctx);
    case TP::BFLOAT16:
      return mlir::BFloat16Type::get(&ctx);
    case TP::INT8:
      return mlir::IntegerType::get(&ctx, 8);
    case TP::INT16:
      return mlir::IntegerType::get(&ctx, 16);
    case TP::INT32:
      return mlir::IntegerType::get(&ctx, 32);
    case TP::INT64:
      return mlir::IntegerType::get(&ctx, 64);
    case TP::BOOL:
      return mlir::IntegerType::get(&ctx, 1);
    default:
      return mlir::Float32Type::get(&ctx);
  }
}

int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > (int64_t{1} << 40) / d) return -1;
    n *= d;
  }
  return n;
}

std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

std::vector<int64_t> HostTensor::Ints() const {
  if (!is_float()) return i;
  std::vector<int64_t> out(f.size());
  for (size_t k = 0; k < f.size(); ++k) out[k] = static_cast<int64_t>(f[k]);
  return out;
}

HostTensor HostTensor::OfInts(DType dtype, std::vector<int64_t> shape,
                              std::vector<int64_t> values) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.i = std::move(values);
  return t;
}

HostTensor HostTensor::OfFloats(DType dtype, std::vector<int64_t> shape,
                                std::vector<double> values) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.f = std::move(values);
  return t;
}

HostTensor HostTensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  const int64_t n = ElementCount(shape);
  t.shape = std::move(shape);
  if (t.is_float())
    t.f.assign(n, 0.0);
  else
    t.i.assign(n, 0);
  return t;
}

absl::StatusOr<std::string> ReadExternalData(const TP& proto, const std::string& dir) {
  const std::string& name = proto.name();
  if (dir.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name,
        "' keeps its data in an external file, which a model sent as bytes cannot reference; "
        "compile the model from its file or model repository directory instead"));
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset" || entry.key() == "length") {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(entry.value().c_str(), &end, 10);
      if (entry.value().empty() || *end != '\0' || errno != 0 || v < 0)
        return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': external data ",
                                                       entry.key(), " '", entry.value(),
                                                       "' is not a non-negative integer"));
      (entry.key() == "offset" ? offset : length) = v;
    }
  }
  if (location.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': external data has no location"));
  const fs::path rel(location);
  if (rel.is_absolute())
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': external data location '",
                                                   location, "' must be relative"));
  std::error_code ec;
  const fs::path base = fs::canonical(dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot resolve '", dir, "'"));
  const fs::path path = fs::weakly_canonical(base / rel, ec);
  auto [base_end, unused] = std::mismatch(base.begin(), base.end(), path.begin(), path.end());
  if (ec || base_end != base.end())
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': external data location '",
                                                   location, "' leaves the model's directory"));
  if (!fs::is_regular_file(path, ec))
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': external data file '",
                                                   location, "' is not a regular file"));
  const auto file_size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec || offset > file_size)
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': external data offset ",
                                                   offset, " is past the end of '", location, "'"));
  if (length < 0) length = file_size - offset;
  if (length > file_size - offset)
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': external data '", location,
                                                   "' is shorter than offset + length"));
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (!in)
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': cannot read external data '", location, "'"));
  return bytes;
}

absl::StatusOr<HostTensor> FromTensorProto(const TP& proto, const std::string& external_dir) {
  const std::string& name = proto.name();
  HostTensor t;
  t.dtype = proto.data_type();
  if (!IsSupportedType(t.dtype))
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' has element type ", DTypeName(t.dtype),
        ", which kiln does not support (FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT8/16/32/64, BOOL)"));
  t.shape.assign(proto.dims().begin(), proto.dims().end());
  const int64_t n = ElementCount(t.shape);
  if (n < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' has negative or too large dims"));
  // Storage is allocated only once the data is known to hold n elements: a hostile model can
  // declare dims of 2^40 elements with no data behind them.
  auto allocate = [&] {
    if (t.is_float())
      t.f.assign(n, 0.0);
    else
      t.i.assign(n, 0);
  };
  const int64_t bytes = n * ElementBytes(t.dtype);
  auto size_error = [&](int64_t have) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ", have,
                                                   " values or bytes for ", n, " elements (", bytes,
                                                   " bytes)"));
  };
  if (proto.data_location() == TP::EXTERNAL) {
    auto raw = ReadExternalData(proto, external_dir);
    if (!raw.ok()) return raw.status();
    if (static_cast<int64_t>(raw->size()) != bytes) return size_error(raw->size());
    allocate();
    DecodeRaw(*raw, t, n);
    return t;
  }
  if (proto.has_raw_data()) {
    if (static_cast<int64_t>(proto.raw_data().size()) != bytes)
      return size_error(proto.raw_data().size());
    if (t.dtype == TP::FLOAT) {
      // The weights of every model: widened straight from the bytes, no zero-fill first.
      const char* p = proto.raw_data().data();
      t.f.reserve(n);
      for (int64_t k = 0; k < n; ++k) t.f.push_back(Load<float>(p, k));
      return t;
    }
    allocate();
    DecodeRaw(proto.raw_data(), t, n);
    return t;
  }
  auto check = [&](int have) -> absl::Status {
    if (have != n) return size_error(have);
    allocate();
    return absl::OkStatus();
  };
  switch (t.dtype) {
    case TP::FLOAT:
      if (auto s = check(proto.float_data_size()); !s.ok()) return s;
      for (int64_t k = 0; k < n; ++k) t.f[k] = proto.float_data(static_cast<int>(k));
      break;
    case TP::DOUBLE:
      if (auto s = check(proto.double_data_size()); !s.ok()) return s;
      for (int64_t k = 0; k < n; ++k) t.f[k] = proto.double_data(static_cast<int>(k));
      break;
    case TP::INT64:
      if (auto s = check(proto.int64_data_size()); !s.ok()) return s;
      for (int64_t k = 0; k < n; ++k) t.i[k] = proto.int64_data(static_cast<int>(k));
      break;
    case TP::FLOAT16:
    case TP::BFLOAT16:
      if (auto s = check(proto.int32_data_size()); !s.ok()) return s;
      for (int64_t k = 0; k < n; ++k)
        t.f[k] =
            HalfBitsToDouble(t.dtype, static_cast<uint16_t>(proto.int32_data(static_cast<int>(k))));
      break;
    default:  // INT8/16/32, BOOL
      if (auto s = check(proto.int32_data_size()); !s.ok()) return s;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t v = proto.int32_data(static_cast<int>(k));
        t.i[k] = t.dtype == TP::BOOL ? (v != 0) : v;
      }
  }
  return t;
}

HostTensor CastTo(const HostTensor& t, DType dtype) {
  HostTensor out;
  out.dtype = dtype;
  out.shape = t.shape;
  const int64_t n = t.size();
  if (IsFloatType(dtype)) {
    out.f.resize(n);
    for (int64_t k = 0; k < n; ++k) {
      double v = t.AsDouble(k);
      if (dtype == TP::FLOAT) v = static_cast<float>(v);
      out.f[k] = v;
    }
    return out;
  }
  out.i.resize(n);
  for (int64_t k = 0; k < n; ++k) {
    if (dtype == TP::BOOL) {
      out.i[k] = t.AsDouble(k) != 0;
      continue;
    }
    int64_t v = t.is_float() ? static_cast<int64_t>(std::trunc(t.f[k])) : t.i[k];
    // Wrap to the target width like a C cast (numpy's behaviour for in-range ints).
    if (dtype == TP::INT8) v = static_cast<int8_t>(v);  // NOLINT(bugprone-signed-char-misuse)
    if (dtype == TP::INT16) v = static_cast<int16_t>(v);
    if (dtype == TP::INT32) v = static_cast<int32_t>(v);
    out.i[k] = v;
  }
  return out;
}

namespace {

// out[idx] = t[base + sum(idx[d] * strides[d])] over every multi-index of `shape` (row-major):
// the one loop behind the host-side data movement ops, all of them affine. The source offset
// is carried along the row-major walk (a weight transpose of resnet18, 11M elements, went from
// a dot product per element to an add).
template <typename T>
void MoveAffine(const std::vector<T>& in, std::vector<T>& out, const std::vector<int64_t>& shape,
                int64_t base, const std::vector<int64_t>& strides) {
  const int64_t n = static_cast<int64_t>(out.size());
  if (n == 0) return;
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) {
    out[0] = in[base];
    return;
  }
  const int64_t inner = shape[rank - 1], inner_stride = strides[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t src = base;
  for (int64_t k = 0; k < n; k += inner) {
    T* row = out.data() + k;
    if (inner_stride == 1) {
      std::copy_n(in.data() + src, inner, row);
    } else {
      for (int64_t j = 0; j < inner; ++j) row[j] = in[src + j * inner_stride];
    }
    // Next row: the odometer over the outer dims.
    for (int64_t d = rank - 2; d >= 0; --d) {
      src += strides[d];
      if (++idx[d] < shape[d]) break;
      src -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

HostTensor Move(const HostTensor& t, std::vector<int64_t> shape, int64_t base,
                const std::vector<int64_t>& strides) {
  HostTensor out;
  out.dtype = t.dtype;
  out.shape = std::move(shape);
  const int64_t n = ElementCount(out.shape);
  if (t.is_float()) {
    out.f.resize(n);
    MoveAffine(t.f, out.f, out.shape, base, strides);
  } else {
    out.i.resize(n);
    MoveAffine(t.i, out.i, out.shape, base, strides);
  }
  return out;
}

}  // namespace

HostTensor Transpose(const HostTensor& t, const std::vector<int64_t>& perm) {
  std::vector<int64_t> shape, strides;
  const std::vector<int64_t> in_strides = Strides(t.shape);
  for (int64_t p : perm) {
    shape.push_back(t.shape[p]);
    strides.push_back(in_strides[p]);
  }
  return Move(t, std::move(shape), 0, strides);
}

HostTensor BroadcastTo(const HostTensor& t, const std::vector<int64_t>& shape) {
  // Right-aligned; a dim of 1 (or a missing leading one) repeats: stride 0.
  const std::vector<int64_t> in_strides = Strides(t.shape);
  std::vector<int64_t> strides(shape.size(), 0);
  const size_t offset = shape.size() - t.shape.size();
  for (size_t d = 0; d < t.shape.size(); ++d)
    if (t.shape[d] != 1) strides[d + offset] = in_strides[d];
  return Move(t, shape, 0, strides);
}

HostTensor SliceTensor(const HostTensor& t, const std::vector<int64_t>& begin,
                       const std::vector<int64_t>& size, const std::vector<int64_t>& step) {
  const std::vector<int64_t> in_strides = Strides(t.shape);
  int64_t base = 0;
  std::vector<int64_t> strides(size.size());
  for (size_t d = 0; d < size.size(); ++d) {
    base += begin[d] * in_strides[d];
    strides[d] = step[d] * in_strides[d];
  }
  return Move(t, size, base, strides);
}

mlir::DenseElementsAttr ToElementsAttr(mlir::MLIRContext& ctx, const HostTensor& t,
                                       const std::vector<int64_t>& shape) {
  auto type = mlir::RankedTensorType::get(shape, ElementType(ctx, t.dtype));
  const int64_t n = t.size();
  bool splat = n > 0;
  for (int64_t k = 1; k < n && splat; ++k) splat = t.AsDouble(k) == t.AsDouble(0);
  const int64_t count = splat ? 1 : n;
  switch (t.dtype) {
    case TP::FLOAT: {
      std::vector<float> v;
      v.reserve(count);
      for (int64_t k = 0; k < count; ++k) v.push_back(static_cast<float>(t.f[k]));
      return splat ? mlir::DenseElementsAttr::get(type, v[0])
                   : mlir::DenseElementsAttr::get(type, llvm::ArrayRef<float>(v));
    }
    case TP::DOUBLE:
      return splat ? mlir::DenseElementsAttr::get(type, t.f[0])
                   : mlir::DenseElementsAttr::get(type, llvm::ArrayRef<double>(t.f));
    case TP::FLOAT16:
    case TP::BFLOAT16: {
      std::vector<llvm::APFloat> v;
      v.reserve(count);
      for (int64_t k = 0; k < count; ++k) {
        llvm::APFloat value(t.f[k]);
        bool loses = false;
        value.convert(Semantics(t.dtype), llvm::APFloat::rmNearestTiesToEven, &loses);
        v.push_back(value);
      }
      return mlir::DenseElementsAttr::get(type, llvm::ArrayRef<llvm::APFloat>(v));
    }
    case TP::BOOL: {
      if (splat) return mlir::DenseElementsAttr::get(type, t.i[0] != 0);
      llvm::SmallVector<bool> v(n);
      for (int64_t k = 0; k < n; ++k) v[k] = t.i[k] != 0;
      return mlir::DenseElementsAttr::get(type, llvm::ArrayRef<bool>(v));
    }
    default: {
      const unsigned width = llvm::cast<mlir::IntegerType>(type.getElementType()).getWidth();
      std::vector<llvm::APInt> v;
      v.reserve(count);
      for (int64_t k = 0; k < count; ++k)
        v.emplace_back(width, static_cast<uint64_t>(t.i[k]), /*isSigned=*/true);
      return mlir::DenseElementsAttr::get(type, llvm::ArrayRef<llvm::APInt>(v));
    }
  }
}

}  // namespace kiln::compiler::onnx_import
