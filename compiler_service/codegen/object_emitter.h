// LLVM IR → optimized relocatable object code for one target, in memory.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_OBJECT_EMITTER_H_
#define KILN_COMPILER_SERVICE_CODEGEN_OBJECT_EMITTER_H_

#include <string>

#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::compiler {

// Runs LLVM's O3 pipeline for `machine` and returns the ELF object bytes.
llvm::Expected<std::string> EmitObject(llvm::Module& module, llvm::TargetMachine& machine);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_OBJECT_EMITTER_H_
