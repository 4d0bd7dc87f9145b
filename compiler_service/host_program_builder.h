// Turns each bufferized host function (after dispatch formation and memory planning) into the
// module's host program: slots, constant segments, transients, dispatches and barriers.
#ifndef KILN_COMPILER_SERVICE_HOST_PROGRAM_BUILDER_H_
#define KILN_COMPILER_SERVICE_HOST_PROGRAM_BUILDER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "compiler_service/codegen/abi_wrapper.h"
#include "kiln/module/v1/module.pb.h"
#include "llvm/Support/Error.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln::compiler {

struct ConstantData {
  std::string name;
  std::string bytes;  // little-endian, row-major; i1 as one byte per element
};

// A dispatch function as its library export declares it (executable ABI v2, kiln_export_t).
struct DispatchExport {
  std::string name;
  std::vector<BindingSpec> bindings;  // one per buffer argument, in order
  std::array<uint32_t, 3> workgroup_count = {1, 1, 1};
};

struct HostPrograms {
  // The dispatch functions in export-ordinal order.
  std::vector<DispatchExport> exports;
  std::vector<ConstantData> constants;
};

// Fills each FunctionDef's program, execution model and reason (signatures must already be
// there, matched by name), collects constants, then erases the host functions and globals so
// that only dispatch functions are left to lower.
llvm::Expected<HostPrograms> BuildHostPrograms(
    mlir::ModuleOp module, std::vector<kiln::module::v1::FunctionDef>& functions);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_HOST_PROGRAM_BUILDER_H_
