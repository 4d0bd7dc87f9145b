// NumPy .npy files (format versions 1.0, 2.0 and 3.0) <-> HostTensor.
//
// Only what kiln tensors can hold: little-endian (or byte-order-free) bool, integer and IEEE
// float element types in C order. Fortran order, big-endian data, structured and object dtypes
// are rejected with a clear error. bf16 has no NumPy dtype, so it cannot be written.
#ifndef KILN_RUNTIME_SERVICE_TENSOR_NPY_H_
#define KILN_RUNTIME_SERVICE_TENSOR_NPY_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

// Parses a whole .npy file held in memory. The tensor name is left empty.
absl::StatusOr<HostTensor> ReadNpy(std::string_view bytes);
absl::StatusOr<HostTensor> ReadNpyFile(const std::string& path);

// Serializes as format 1.0 (2.0 when the header does not fit in 64 KiB), header padded so the
// data starts 64-byte aligned, like numpy.save.
absl::StatusOr<std::string> WriteNpy(const HostTensor& tensor);
absl::Status WriteNpyFile(const std::string& path, const HostTensor& tensor);

// The NumPy dtype string ("<f4", "|b1", ...) for a kiln type; error for bf16/unspecified.
absl::StatusOr<std::string> NpyDescr(DataType dtype);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_TENSOR_NPY_H_
