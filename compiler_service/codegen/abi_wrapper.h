// Emits the executable ABI (runtime_service/executable_abi.h) into an LLVM module: one
// dispatch wrapper per export and the library query function with its constant tables.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_ABI_WRAPPER_H_
#define KILN_COMPILER_SERVICE_CODEGEN_ABI_WRAPPER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"

namespace kiln::compiler {

// The LLVM mirrors of the executable ABI structs the wrapper emits and reads. Field order and
// types must match executable_abi.h: abi_wrapper_test compares their layout under the target's
// DataLayout with the C header's offsetof/sizeof. (kiln_executable_env_t has no mirror: the
// emitted code never reads it.)
struct AbiStructTypes {
  llvm::StructType* dispatch_state;   // kiln_dispatch_state_t
  llvm::StructType* workgroup_state;  // kiln_workgroup_state_t
  llvm::StructType* binding_entry;    // kiln_binding_t
  llvm::StructType* export_entry;     // kiln_export_t
  llvm::StructType* import_entry;     // kiln_import_t
  llvm::StructType* library;          // kiln_library_t
};
// The context's named types ("kiln_library_t", ...), created on first use.
AbiStructTypes GetAbiStructTypes(llvm::LLVMContext& ctx);

// One binding as the export declares it (kiln_binding_t).
struct BindingSpec {
  uint64_t length = 0;   // bytes the code may access from the binding's start
  bool read = false;     // the code loads from it
  bool written = false;  // the code stores to it
};

struct ExportSpec {
  std::string name;      // export name in the library table
  std::string function;  // lowered `void f(ptr binding0, ..., i64 workgroup_id_x)`
  std::vector<BindingSpec> bindings;
  std::array<uint32_t, 3> workgroup_count = {1, 1, 1};  // the grid the code was compiled for
};

// Adds the wrappers and `kiln_library_query`, then gives every other defined symbol internal
// linkage so the library exports exactly the query function.
llvm::Error EmitAbiWrapper(llvm::Module& module, const std::string& library_name,
                           const std::vector<ExportSpec>& exports, uint64_t required_cpu_features);

// Defines memcpy, memmove and memset (hidden, kept alive): LLVM lowers large copies and fills
// to calls of these even in freestanding code, and embedded ELFs have no libc to import from.
void EmitFreestandingRuntime(llvm::Module& module);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_ABI_WRAPPER_H_
