// The runtime's invocation API, used by kiln-run, kiln-benchmark and the services alike:
// load a module, look up a function and its signature, invoke it.
#ifndef KILN_RUNTIME_SERVICE_RUNTIME_H_
#define KILN_RUNTIME_SERVICE_RUNTIME_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/loader/executable_library.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

// "main(x: f32[1x64]) -> (result0: f32[1x10])"
std::string SignatureString(const kiln::module::v1::FunctionDef& function);

// Orders caller tensors to the function's inputs: a named tensor goes to the input of that name,
// unnamed ones fill the remaining inputs in order. Checks count, dtype, shape and byte length;
// errors are INVALID_ARGUMENT and state the expected signature.
absl::StatusOr<std::vector<TensorView>> MatchInputs(const kiln::module::v1::FunctionDef& function,
                                                    std::span<const TensorView> tensors);

// A module whose executables are loaded and whose host programs were checked against them.
// Thread-safe: any number of concurrent Invoke calls.
class LoadedModule {
 public:
  static absl::StatusOr<std::shared_ptr<LoadedModule>> Load(std::unique_ptr<module::ModuleFile> file);

  const kiln::module::v1::ModuleDef& def() const { return file_->def(); }
  // nullptr when absent. An empty name finds the only function, or "main".
  const kiln::module::v1::FunctionDef* FindFunction(std::string_view name) const;

  // Runs `function` synchronously on the calling thread. `inputs` are in signature order and
  // already checked (MatchInputs); outputs are allocated and filled.
  absl::StatusOr<std::vector<HostTensor>> Invoke(const kiln::module::v1::FunctionDef& function,
                                                 std::span<const TensorView> inputs) const;

 private:
  LoadedModule() = default;
  std::unique_ptr<module::ModuleFile> file_;
  std::vector<std::unique_ptr<ExecutableLibrary>> executables_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_RUNTIME_H_
