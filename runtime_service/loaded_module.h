// The runtime's invocation API, used by kiln-run, kiln-benchmark and the services alike: load a
// module (its executables through the loader registry, every host program verified and recorded
// into a command buffer), look up a function and its signature, invoke it.
#ifndef KILN_RUNTIME_SERVICE_LOADED_MODULE_H_
#define KILN_RUNTIME_SERVICE_LOADED_MODULE_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/hal/allocator.h"
#include "runtime_service/hal/command_buffer.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loader/executable_library.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/module/signature.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

struct RecordedProgram;  // program/program_recorder.h

// Which execution model an invocation uses (DESIGN.md: async HAL vs inline-dynamic). Both run
// the function's one recorded command buffer; they differ in who runs it.
enum class ExecutionModelOverride {
  kDefault,  // the FunctionDef's own execution_model (unspecified counts as inline)
  kAsync,    // submitted to the device's queue: the task executor's workers and the caller
  kInline,   // the inline executor, on the calling thread alone
};

// Wall time per dispatch command of inline invocations, accumulated over calls (kiln-run
// --profile): which dispatch a model spends its time in.
struct DispatchProfile {
  struct Entry {
    int command = 0;
    std::string export_name;
    uint64_t workgroups = 0;
    uint64_t calls = 0;
    double seconds = 0;
  };
  std::vector<Entry> entries;  // in command order
};

struct InvokeOptions {
  ExecutionModelOverride execution_model = ExecutionModelOverride::kDefault;
  // When set, the invocation runs inline and adds its dispatch timings here.
  DispatchProfile* profile = nullptr;
};

// A module whose executables are loaded and whose host programs were checked against them.
// Thread-safe: any number of concurrent Invoke calls.
class LoadedModule {
 public:
  // Every function's host program is verified and recorded into a command buffer, once, here.
  // With a device, functions can run on its task executor (async); without one, only inline.
  static absl::StatusOr<std::shared_ptr<LoadedModule>> Load(
      std::unique_ptr<module::ModuleFile> file, std::shared_ptr<hal::Device> device = nullptr);

  const kiln::module::v1::ModuleDef& def() const { return file_->def(); }
  // nullptr when absent. An empty name finds the only function, or "main".
  const kiln::module::v1::FunctionDef* FindFunction(std::string_view name) const;

  // Runs `function` and returns once it is done. `inputs` are in signature order and
  // already checked (MatchInputs); outputs are allocated (RESOURCE_EXHAUSTED naming the output
  // when the system refuses) and filled. Inline runs on the calling thread; async submits to
  // the device and waits (the caller helps the workers). Async without a device is
  // FAILED_PRECONDITION.
  absl::StatusOr<std::vector<HostTensor>> Invoke(const kiln::module::v1::FunctionDef& function,
                                                 std::span<const TensorView> inputs,
                                                 const InvokeOptions& options = {}) const;

  // Invoke into the caller's output buffers (signature order, each exactly the output's byte
  // length; the program writes every byte). With those and the inputs held by the caller, a
  // steady-state call allocates nothing on the heap under either model: arenas, executions,
  // the completion semaphore and the inline slot tables are all reused. Errors as Invoke's,
  // plus INVALID_ARGUMENT for missing or wrongly sized output buffers.
  absl::Status InvokeInto(const kiln::module::v1::FunctionDef& function,
                          std::span<const TensorView> inputs,
                          std::span<const std::span<uint8_t>> outputs,
                          const InvokeOptions& options = {}) const;

  // nullptr when loaded without one.
  const std::shared_ptr<hal::Device>& device() const { return device_; }
  // The command buffer recorded for `function`, or nullptr when it is not this module's. For
  // diagnostics, tests and benchmarks.
  const hal::CommandBuffer* command_buffer(const kiln::module::v1::FunctionDef& function) const;
  // The model Invoke would use for `function` under `options` (before any device check).
  static bool UsesAsync(const kiln::module::v1::FunctionDef& function,
                        const InvokeOptions& options);

  ~LoadedModule();

 private:
  LoadedModule() = default;
  // Index of `function` in def().functions(), or -1 when it is not this module's.
  int FunctionIndex(const kiln::module::v1::FunctionDef& function) const;
  absl::Status CheckInputs(const kiln::module::v1::FunctionDef& function,
                           std::span<const TensorView> inputs) const;
  // The function's transient arena (empty when it needs none); RESOURCE_EXHAUSTED naming it.
  absl::StatusOr<hal::Arena> AcquireArena(const kiln::module::v1::FunctionDef& function) const;
  absl::Status InvokeInline(int function_index, std::span<const hal::BufferView> table,
                            DispatchProfile* profile) const;
  absl::Status InvokeAsync(int function_index, std::span<const hal::BufferView> table) const;

  std::unique_ptr<module::ModuleFile> file_;
  std::vector<std::unique_ptr<ExecutableLibrary>> executables_;
  std::shared_ptr<hal::Device> device_;
  std::vector<std::unique_ptr<RecordedProgram>> recorded_;  // per function
  // Transient arenas: the device's pool, or the module's own without a device.
  std::unique_ptr<hal::ArenaPool> own_arena_pool_;
  hal::ArenaPool* arena_pool_ = nullptr;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_LOADED_MODULE_H_
