// Tensors the importer knows at import time: initializers, Constant nodes and everything folded
// from them (shape subgraphs, weight transposes). Values are held widened (double for floating
// types, int64 for integers and bool) so folding code is written once per op, not per dtype.
#ifndef KILN_COMPILER_SERVICE_IMPORT_ONNX_HOST_TENSOR_H_
#define KILN_COMPILER_SERVICE_IMPORT_ONNX_HOST_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/MLIRContext.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, then includes onnx-ml.pb.h

namespace kiln::compiler::onnx_import {

// An ONNX TensorProto_DataType value.
using DType = int32_t;

bool IsFloatType(DType dtype);
bool IsSupportedType(DType dtype);
std::string DTypeName(DType dtype);
// The element type kiln compiles for `dtype` (a supported one).
mlir::Type ElementType(mlir::MLIRContext& ctx, DType dtype);

// Elements of `shape`, or -1 when a dim is negative or the product exceeds 2^40.
int64_t ElementCount(const std::vector<int64_t>& shape);
// Row-major strides.
std::vector<int64_t> Strides(const std::vector<int64_t>& shape);

struct HostTensor {
  DType dtype = onnx::TensorProto_DataType_FLOAT;
  std::vector<int64_t> shape;
  std::vector<double> f;   // floating types
  std::vector<int64_t> i;  // integer types and bool

  bool is_float() const { return IsFloatType(dtype); }
  int64_t size() const {
    return is_float() ? static_cast<int64_t>(f.size()) : static_cast<int64_t>(i.size());
  }
  double AsDouble(int64_t k) const { return is_float() ? f[k] : static_cast<double>(i[k]); }
  int64_t AsInt(int64_t k) const { return is_float() ? static_cast<int64_t>(f[k]) : i[k]; }
  // All elements as int64 (floats truncated toward zero, as ONNX's Cast does).
  std::vector<int64_t> Ints() const;

  static HostTensor OfInts(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> values);
  static HostTensor OfFloats(DType dtype, std::vector<int64_t> shape, std::vector<double> values);
  // Same dtype, `shape`, zero-filled.
  static HostTensor Zeros(DType dtype, std::vector<int64_t> shape);
};

// Reads an initializer or a Constant's value. External data is read from `external_dir`
// (empty: refused), never outside it. Errors name the tensor.
absl::StatusOr<HostTensor> FromTensorProto(const onnx::TensorProto& proto,
                                           const std::string& external_dir);

// Reads external data of `proto` from `dir` (locations must resolve inside it).
absl::StatusOr<std::string> ReadExternalData(const onnx::TensorProto& proto,
                                             const std::string& dir);

// Values converted to `dtype` (float→int truncates toward zero, →bool is != 0).
HostTensor CastTo(const HostTensor& t, DType dtype);
// out[perm-index] = in: the host-side tosa.transpose.
HostTensor Transpose(const HostTensor& t, const std::vector<int64_t>& perm);
// Numpy broadcast of `t` to `shape` (right-aligned; the caller checked compatibility).
HostTensor BroadcastTo(const HostTensor& t, const std::vector<int64_t>& shape);
// Element [begin, begin+size) of every dim, with `step` (positive or negative).
HostTensor SliceTensor(const HostTensor& t, const std::vector<int64_t>& begin,
                       const std::vector<int64_t>& size, const std::vector<int64_t>& step);

// The elements attribute for a tosa.const of `t` (splat when every element is equal).
mlir::DenseElementsAttr ToElementsAttr(mlir::MLIRContext& ctx, const HostTensor& t,
                                       const std::vector<int64_t>& shape);

}  // namespace kiln::compiler::onnx_import

#endif  // KILN_COMPILER_SERVICE_IMPORT_ONNX_HOST_TENSOR_H_
