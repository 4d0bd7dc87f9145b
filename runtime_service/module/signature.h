// A function's signature as users read it in errors and listings.
#ifndef KILN_RUNTIME_SERVICE_MODULE_SIGNATURE_H_
#define KILN_RUNTIME_SERVICE_MODULE_SIGNATURE_H_

#include <cstdint>
#include <span>
#include <string>

#include "kiln/module/v1/module.pb.h"

namespace kiln {

// "main(x: f32[1x64]) -> (result0: f32[1x10])"
std::string SignatureString(const kiln::module::v1::FunctionDef& function);

// A signature type's shape, viewed in place.
std::span<const int64_t> SignatureShape(const kiln::module::v1::TensorType& type);
// A signature type's byte length. For types of a validated module (ModuleFile::Validate proved
// it computable); 0 for one that is not.
uint64_t SignatureByteLength(const kiln::module::v1::TensorType& type);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_MODULE_SIGNATURE_H_
