// What kiln-run and kiln-benchmark share: the module/function/input/device flags and turning
// them into a loaded module, its function, checked inputs and an execution model.
#ifndef KILN_RUNTIME_SERVICE_TOOLS_RUN_OPTIONS_H_
#define KILN_RUNTIME_SERVICE_TOOLS_RUN_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln::tools {

inline constexpr char kDeviceLocalTask[] = "local-task";  // async HAL, task executor
inline constexpr char kDeviceLocalSync[] = "local-sync";  // inline on the calling thread

struct RunOptions {
  std::string module;
  std::string function;
  std::vector<std::string> inputs;  // tensor specs, in argument order
  std::string device;               // "", local-task or local-sync
  uint32_t workers = 0;             // 0: one per hardware thread
  bool pin_workers = false;
};

// Registers --module, --function, --input, --device, --workers and --pin-workers.
void AddRunOptions(CLI::App& app, RunOptions& options, bool module_required = true);

// A module ready to invoke.
struct PreparedRun {
  std::shared_ptr<hal::Device> device;  // null when nothing needs one
  std::shared_ptr<LoadedModule> module;
  const kiln::module::v1::FunctionDef* function = nullptr;
  std::vector<HostTensor> tensors;  // owns the input bytes
  std::vector<TensorView> inputs;   // matched to the signature, viewing `tensors`
  InvokeOptions invoke;             // the model --device asked for
};

// Opens and loads the module, finds the function, parses and matches the inputs. A device is
// created when the chosen model needs one, or always with `always_create_device`. Errors are
// complete messages for the user.
absl::StatusOr<PreparedRun> Prepare(const RunOptions& options, bool always_create_device);

}  // namespace kiln::tools

#endif  // KILN_RUNTIME_SERVICE_TOOLS_RUN_OPTIONS_H_
