#include "runtime_service/loaded_module.h"

#include <algorithm>
#include <new>
#include <string>
#include <utility>
#include <variant>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/hal/inline_executor.h"
#include "runtime_service/loader/cpu_features.h"
#include "runtime_service/loader/executable_loader.h"
#include "runtime_service/program/program_recorder.h"
#include "runtime_service/program/program_verifier.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

LoadedModule::~LoadedModule() = default;

absl::StatusOr<std::shared_ptr<LoadedModule>> LoadedModule::Load(
    std::unique_ptr<module::ModuleFile> file, std::shared_ptr<hal::Device> device) {
  if (file == nullptr) return absl::InvalidArgumentError("no module file");
  std::shared_ptr<LoadedModule> loaded(new LoadedModule());
  loaded->file_ = std::move(file);
  loaded->device_ = std::move(device);
  if (loaded->device_ != nullptr) {
    loaded->arena_pool_ = &loaded->device_->arena_pool();
  } else {
    loaded->own_arena_pool_ = std::make_unique<hal::ArenaPool>();
    loaded->arena_pool_ = loaded->own_arena_pool_.get();
  }
  const mv1::ModuleDef& def = loaded->file_->def();

  const uint64_t host_features = HostCpuFeatures();
  for (const mv1::ExecutableDef& executable : def.executables()) {
    const ExecutableLoader* loader = ExecutableLoaderRegistry::Default().Find(executable.format());
    if (loader == nullptr)
      return absl::InvalidArgumentError(
          absl::StrCat("executable '", executable.name(), "' has unsupported format ",
                       static_cast<int>(executable.format()), " (this build loads ",
                       ExecutableLoaderRegistry::Default().Names(), ")"));
    KILN_ASSIGN_OR_RETURN(auto library, loader->Load(loaded->file_->segment(executable.segment()),
                                                     executable, host_features));
    loaded->executables_.push_back(std::move(library));
  }

  // VerifyProgram is the single gate: only verified programs are recorded, and only recorded
  // ones run. Recording is cheap, so every function gets its command buffer now and any of
  // them can be invoked with either model.
  for (const mv1::FunctionDef& function : def.functions()) {
    KILN_RETURN_IF_ERROR(VerifyProgram(def, function, loaded->executables_, *loaded->file_));
    KILN_ASSIGN_OR_RETURN(auto recorded,
                          RecordProgram(def, function, loaded->executables_, *loaded->file_));
    loaded->recorded_.push_back(std::move(recorded));
  }
  return loaded;
}

const mv1::FunctionDef* LoadedModule::FindFunction(std::string_view name) const {
  const auto& functions = def().functions();
  if (name.empty()) {
    if (functions.size() == 1) return &functions[0];
    name = "main";
  }
  for (const mv1::FunctionDef& function : functions)
    if (function.name() == name) return &function;
  return nullptr;
}

int LoadedModule::FunctionIndex(const mv1::FunctionDef& function) const {
  const auto& functions = def().functions();
  for (int i = 0; i < functions.size(); ++i)
    if (&functions[i] == &function) return i;
  return -1;
}

const hal::CommandBuffer* LoadedModule::command_buffer(const mv1::FunctionDef& function) const {
  const int index = FunctionIndex(function);
  if (index < 0) return nullptr;
  return recorded_[index]->commands.get();
}

bool LoadedModule::UsesAsync(const mv1::FunctionDef& function, const InvokeOptions& options) {
  switch (options.execution_model) {
    case ExecutionModelOverride::kAsync:
      return true;
    case ExecutionModelOverride::kInline:
      return false;
    case ExecutionModelOverride::kDefault:
      break;
  }
  return function.execution_model() == mv1::EXECUTION_MODEL_ASYNC;
}

absl::Status LoadedModule::CheckInputs(const mv1::FunctionDef& function,
                                       std::span<const TensorView> inputs) const {
  // The program's bounds were checked against the signature's byte lengths; hold the caller to
  // them too, whatever MatchInputs did.
  if (inputs.size() != static_cast<size_t>(function.inputs_size())) {
    return absl::InvalidArgumentError(absl::StrCat("function '", function.name(), "' expects ",
                                                   function.inputs_size(), " inputs, got ",
                                                   inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const uint64_t expected = SignatureByteLength(function.inputs(i).type());
    if (inputs[i].data.size() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", function.inputs(i).name(), "': expected ", expected, " bytes for ",
          TypeString(function.inputs(i).type()), ", got ", inputs[i].data.size()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostTensor>> LoadedModule::Invoke(const mv1::FunctionDef& function,
                                                             std::span<const TensorView> inputs,
                                                             const InvokeOptions& options) const {
  std::vector<HostTensor> outputs;
  absl::InlinedVector<std::span<uint8_t>, 4> buffers;
  int i = 0;
  // Output sizes come from the signature, as large as the module declares: the system refusing
  // one is this call's RESOURCE_EXHAUSTED, not an exception that would end the process.
  try {
    outputs.resize(function.outputs_size());
    buffers.resize(outputs.size());
    for (; i < function.outputs_size(); ++i) {
      const mv1::ArgumentDef& output = function.outputs(i);
      outputs[i].name = output.name();
      outputs[i].dtype = output.type().dtype();
      outputs[i].shape.assign(output.type().shape().begin(), output.type().shape().end());
      outputs[i].data.assign(SignatureByteLength(output.type()), '\0');
      buffers[i] = {reinterpret_cast<uint8_t*>(outputs[i].data.data()), outputs[i].data.size()};
    }
  } catch (const std::bad_alloc&) {
    outputs.clear();  // what was allocated goes back before the error is built
    if (i >= function.outputs_size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("function '", function.name(), "': out of memory for its outputs"));
    }
    const mv1::ArgumentDef& output = function.outputs(i);
    return absl::ResourceExhaustedError(absl::StrCat(
        "function '", function.name(), "': out of memory allocating output '", output.name(), "' (",
        TypeString(output.type()), ", ", SignatureByteLength(output.type()), " bytes)"));
  }
  KILN_RETURN_IF_ERROR(InvokeInto(function, inputs, buffers, options));
  return outputs;
}

absl::Status LoadedModule::InvokeInto(const mv1::FunctionDef& function,
                                      std::span<const TensorView> inputs,
                                      std::span<const std::span<uint8_t>> outputs,
                                      const InvokeOptions& options) const {
  // Only programs that Load checked may run: the function must be this module's own.
  const int index = FunctionIndex(function);
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", function.name(), "' does not belong to this module"));
  }
  KILN_RETURN_IF_ERROR(CheckInputs(function, inputs));
  if (outputs.size() != static_cast<size_t>(function.outputs_size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", function.name(), "' has ", function.outputs_size(),
                     function.outputs_size() == 1 ? " output" : " outputs", ", got ",
                     outputs.size(), " output buffers"));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const uint64_t expected = SignatureByteLength(function.outputs(i).type());
    if (outputs[i].size() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output '", function.outputs(i).name(), "': expected a ", expected, "-byte buffer for ",
          TypeString(function.outputs(i).type()), ", got ", outputs[i].size()));
    }
  }
  // Profiling times each dispatch on the calling thread: the inline model.
  const bool async = options.profile == nullptr && UsesAsync(function, options);
  if (async && device_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", function.name(), "' ",
        options.execution_model == ExecutionModelOverride::kAsync
            ? "was invoked with the async execution model"
            : "uses the async execution model",
        " but the module was loaded without a HAL device; load it with a device or invoke it "
        "with the inline model"));
  }
  KILN_ASSIGN_OR_RETURN(hal::Arena arena, AcquireArena(function));
  const RecordedProgram& recorded = *recorded_[index];
  // Per-thread scratch, grown once: no heap allocation in steady state. (Kernels never call
  // back into the runtime, so one invocation per thread uses it at a time.)
  thread_local std::vector<hal::BufferView> table;
  table.resize(recorded.bindings.size());
  recorded.BindTable(inputs, outputs, arena.data(), table);
  return async ? InvokeAsync(index, table) : InvokeInline(index, table, options.profile);
}

absl::StatusOr<hal::Arena> LoadedModule::AcquireArena(const mv1::FunctionDef& function) const {
  const uint64_t size = function.program().transient_arena_size();
  if (size == 0) return hal::Arena();
  auto acquired = arena_pool_->Acquire(size);
  if (!acquired.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "function '", function.name(), "': ", std::string(acquired.status().message())));
  }
  return std::move(*acquired);
}

absl::Status LoadedModule::InvokeAsync(int function_index,
                                       std::span<const hal::BufferView> table) const {
  // One timeline semaphore per calling thread, advanced by each of its invocations (a thread
  // waits for one invocation at a time). A failed semaphore stays failed, so a failure
  // replaces it.
  thread_local std::shared_ptr<hal::Semaphore> done;
  thread_local uint64_t last_value = 0;
  if (done == nullptr) {
    done = std::make_shared<hal::Semaphore>(0);
    last_value = 0;
  }
  const hal::SemaphoreValue signal{done, last_value + 1};
  KILN_RETURN_IF_ERROR(
      device_->queue().Submit({}, recorded_[function_index]->commands, table, signal));
  ++last_value;
  // Always wait, even for a failure: the submission uses the bound memory until it ends.
  absl::Status status = device_->Wait(*done, last_value);
  if (!status.ok()) done.reset();
  return status;
}

absl::Status LoadedModule::InvokeInline(int function_index, std::span<const hal::BufferView> table,
                                        DispatchProfile* profile) const {
  const RecordedProgram& recorded = *recorded_[function_index];
  if (profile == nullptr) return hal::InlineExecutor::Execute(*recorded.commands, table);

  const size_t count = recorded.commands->commands().size();
  std::vector<double> seconds(count, 0.0);
  KILN_RETURN_IF_ERROR(hal::InlineExecutor::Execute(*recorded.commands, table, seconds));
  const mv1::HostProgram& program = def().functions(function_index).program();
  for (size_t i = 0; i < count; ++i) {
    const auto* dispatch = std::get_if<hal::DispatchCommand>(&recorded.commands->commands()[i]);
    if (dispatch == nullptr) continue;
    const int command = recorded.program_command[i];
    auto it = std::find_if(profile->entries.begin(), profile->entries.end(),
                           [&](const DispatchProfile::Entry& e) { return e.command == command; });
    if (it == profile->entries.end()) {
      const mv1::DispatchCommand& source = program.commands(command).dispatch();
      const ExecutableLibrary& library = *executables_[source.executable()];
      profile->entries.push_back({command, library.export_at(source.export_ordinal()).name,
                                  uint64_t{dispatch->workgroup_count[0]} *
                                      dispatch->workgroup_count[1] * dispatch->workgroup_count[2],
                                  0, 0});
      it = profile->entries.end() - 1;
    }
    ++it->calls;
    it->seconds += seconds[i];
  }
  return absl::OkStatus();
}

}  // namespace kiln
