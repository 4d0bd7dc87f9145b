// A function's signature as users read it in errors and listings.
#ifndef KILN_RUNTIME_SERVICE_MODULE_SIGNATURE_H_
#define KILN_RUNTIME_SERVICE_MODULE_SIGNATURE_H_

#include <string>

#include "kiln/module/v1/module.pb.h"

namespace kiln {

// "main(x: f32[1x64]) -> (result0: f32[1x10])"
std::string SignatureString(const kiln::module::v1::FunctionDef& function);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_MODULE_SIGNATURE_H_
