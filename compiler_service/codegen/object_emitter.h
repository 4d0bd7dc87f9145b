// LLVM IR → optimized relocatable object code for one target, in memory.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_OBJECT_EMITTER_H_
#define KILN_COMPILER_SERVICE_CODEGEN_OBJECT_EMITTER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::compiler {

// A fresh TargetMachine for the compile's target: each code-generation thread needs its own.
using TargetMachineFactory = std::function<llvm::Expected<std::unique_ptr<llvm::TargetMachine>>()>;

// Runs LLVM's O3 pipeline and generates machine code for `module`. With `threads` > 1 and enough
// code to pay for it, the module is split into up to that many parts (each dispatch kernel with
// its wrapper), each optimized and generated on its own thread in its own LLVMContext. Returns
// one ELF object per part, in a fixed order, to be linked together (functions the parts share
// become hidden globals).
llvm::Expected<std::vector<std::string>> EmitObjects(llvm::Module& module,
                                                     const TargetMachineFactory& make_machine,
                                                     unsigned threads);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_OBJECT_EMITTER_H_
