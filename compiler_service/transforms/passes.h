// kiln's MLIR passes (declared in Passes.td, one per file).
#ifndef KILN_COMPILER_SERVICE_TRANSFORMS_PASSES_H_
#define KILN_COMPILER_SERVICE_TRANSFORMS_PASSES_H_

#include <memory>

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace kiln::compiler {

#define GEN_PASS_DECL
#include "compiler_service/transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler_service/transforms/Passes.h.inc"

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_TRANSFORMS_PASSES_H_
