// The single gate between a module file and execution: statically checks a function's host
// program against its module and loaded executables (slots, bounds, writability, workgroup
// counts, what each dispatch's export declares, every output produced), so that executors run
// it without bounds checks. Errors are INVALID_ARGUMENT naming the function and command.
#ifndef KILN_RUNTIME_SERVICE_PROGRAM_PROGRAM_VERIFIER_H_
#define KILN_RUNTIME_SERVICE_PROGRAM_PROGRAM_VERIFIER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/loader/executable_library.h"
#include "runtime_service/module/module_file.h"

namespace kiln {

// `executables` are the module's, loaded, in its order.
absl::Status VerifyProgram(const kiln::module::v1::ModuleDef& module,
                           const kiln::module::v1::FunctionDef& function,
                           const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
                           const module::ModuleFile& file);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_PROGRAM_PROGRAM_VERIFIER_H_
