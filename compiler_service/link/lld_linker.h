// Links object code into a shared library with lld running in this process (~2.5 ms, against
// ~19 ms for spawning ld.lld).
#ifndef KILN_COMPILER_SERVICE_LINK_LLD_LINKER_H_
#define KILN_COMPILER_SERVICE_LINK_LLD_LINKER_H_

#include <span>
#include <string>
#include <string_view>

#include "llvm/Support/Error.h"

namespace kiln::compiler {

// Returns the bytes of an x86-64 ELF shared object built from relocatable objects (the parts
// of one module, EmitObjects).
// `freestanding`: an embedded ELF for kiln's own loader: no libc, every symbol defined
// (an undefined one is an error naming it), and both hash-table styles so that any loader
// can size the dynamic symbol table.
llvm::Expected<std::string> LinkSharedLibrary(std::span<const std::string> objects,
                                              bool freestanding);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_LINK_LLD_LINKER_H_
