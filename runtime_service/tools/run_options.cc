#include "runtime_service/tools/run_options.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/tensor/tensor_spec.h"

namespace kiln::tools {

namespace mv1 = kiln::module::v1;

void AddRunOptions(CLI::App& app, RunOptions& options, bool module_required) {
  app.add_option("--module", options.module, "Module file (.kmod)")->required(module_required);
  app.add_option("--function", options.function,
                 "Function to run (default: the only function, or main)");
  app.add_option("--input", options.inputs,
                 "Input tensor, repeatable, in argument order: [NAME=]2x3xf32=1,2,3,4,5,6 or "
                 "[NAME=]@x.npy");
  app.add_option("--device", options.device,
                 "local-task: async HAL on the task executor; local-sync: synchronously on the "
                 "calling thread (default: the function's own execution model)")
      ->check(CLI::IsMember({kDeviceLocalTask, kDeviceLocalSync}));
  app.add_option("--workers", options.workers,
                 "Task executor worker threads (default: one per hardware thread)");
  app.add_flag("--pin-workers", options.pin_workers,
               "Pin task executor worker i to the i-th CPU this process may use");
}

absl::StatusOr<PreparedRun> Prepare(const RunOptions& options, bool always_create_device) {
  PreparedRun run;
  auto file = module::ModuleFile::Open(options.module);
  if (!file.ok()) {
    const std::string message(file.status().message());
    if (message.find(options.module) != std::string::npos) return file.status();
    return absl::Status(file.status().code(), absl::StrCat(options.module, ": ", message));
  }

  // The function is looked up before loading so that the device is only made when needed.
  const mv1::ModuleDef& def = (*file)->def();
  const mv1::FunctionDef* function = nullptr;
  {
    std::string_view name = options.function;
    if (name.empty() && def.functions_size() == 1) name = def.functions(0).name();
    if (name.empty()) name = "main";
    std::vector<std::string> names;
    for (const mv1::FunctionDef& candidate : def.functions()) {
      names.push_back(candidate.name());
      if (candidate.name() == name) function = &candidate;
    }
    if (function == nullptr) {
      return absl::NotFoundError(absl::StrCat("module '", def.name(), "' has no function '",
                                              std::string(name),
                                              "'; it has: ", absl::StrJoin(names, ", ")));
    }
  }

  if (options.device == kDeviceLocalTask) {
    run.invoke.execution_model = ExecutionModelOverride::kAsync;
  } else if (options.device == kDeviceLocalSync) {
    run.invoke.execution_model = ExecutionModelOverride::kInline;
  }
  if (always_create_device || LoadedModule::UsesAsync(*function, run.invoke)) {
    auto device =
        hal::Device::Create({.worker_count = options.workers, .pin_workers = options.pin_workers});
    if (!device.ok()) return device.status();
    run.device = std::move(*device);
  }
  const std::string function_name = function->name();
  auto loaded = LoadedModule::Load(std::move(*file), run.device);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(options.module, ": ", std::string(loaded.status().message())));
  }
  run.module = std::move(*loaded);
  run.function = run.module->FindFunction(function_name);

  for (const std::string& spec : options.inputs) {
    auto tensor = ParseTensorSpec(spec);
    if (!tensor.ok()) {
      const std::string shown = spec.size() > 60 ? spec.substr(0, 57) + "..." : spec;
      return absl::Status(
          tensor.status().code(),
          absl::StrCat("--input ", shown, ": ", std::string(tensor.status().message())));
    }
    run.tensors.push_back(std::move(*tensor));
  }
  std::vector<TensorView> views;
  views.reserve(run.tensors.size());
  for (const HostTensor& tensor : run.tensors) {
    views.push_back({tensor.name,
                     tensor.dtype,
                     tensor.shape,
                     {reinterpret_cast<const uint8_t*>(tensor.data.data()), tensor.data.size()}});
  }
  auto matched = MatchInputs(*run.function, views);
  if (!matched.ok()) return matched.status();
  run.inputs = std::move(*matched);
  return run;
}

}  // namespace kiln::tools
