// Turns each bufferized host function (after dispatch formation and memory planning) into the
// module's host program: slots, constant segments, transients, dispatches and barriers.
#ifndef KILN_COMPILER_SERVICE_HOST_PROGRAM_BUILDER_H_
#define KILN_COMPILER_SERVICE_HOST_PROGRAM_BUILDER_H_

#include <string>
#include <vector>

#include "kiln/module/v1/module.pb.h"
#include "llvm/Support/Error.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln::compiler {

struct ConstantData {
  std::string name;
  std::string bytes;  // little-endian, row-major; i1 as one byte per element
};

struct HostPrograms {
  // The dispatch functions in export-ordinal order.
  std::vector<std::string> exports;
  std::vector<uint32_t> export_binding_counts;
  std::vector<ConstantData> constants;
};

// Fills each FunctionDef's program, execution model and reason (signatures must already be
// there, matched by name), collects constants, then erases the host functions and globals so
// that only dispatch functions are left to lower.
llvm::Expected<HostPrograms> BuildHostPrograms(
    mlir::ModuleOp module, std::vector<kiln::module::v1::FunctionDef>& functions);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_HOST_PROGRAM_BUILDER_H_
