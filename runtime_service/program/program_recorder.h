// A function's host program recorded, once at load, into a HAL command buffer: the one form in
// which every program runs, on the task executor (async) or the inline executor (calling
// thread). Each bind command opens a new binding-table entry (a slot may be rebound
// mid-program); `bindings` says where each entry's memory comes from at invocation time.
#ifndef KILN_RUNTIME_SERVICE_PROGRAM_PROGRAM_RECORDER_H_
#define KILN_RUNTIME_SERVICE_PROGRAM_PROGRAM_RECORDER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/hal/allocator.h"
#include "runtime_service/hal/command_buffer.h"
#include "runtime_service/loader/executable_library.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

struct RecordedProgram {
  struct Source {
    enum Kind { kInput, kOutput, kConstant, kTransient };
    Kind kind = kInput;
    uint32_t index = 0;        // input / output / constant index
    uint64_t offset = 0;       // transients: arena offset
    uint64_t length = 0;       // transients
    hal::BufferView constant;  // constants: the segment, fixed at load
  };
  std::shared_ptr<const hal::CommandBuffer> commands;
  std::vector<Source> bindings;
  // Per recorded command (dispatch, copy, fill): the host-program command it came from, so that
  // errors and profiles name commands as the module does.
  std::vector<int> program_command;

  // The binding table of one invocation: `inputs` and `outputs` in signature order (their sizes
  // checked by the caller), `arena` the transient arena (at least the program's size).
  void BindTable(std::span<const TensorView> inputs, std::span<const std::span<uint8_t>> outputs,
                 uint8_t* arena, std::span<hal::BufferView> table) const;
};

// Records `function`, which VerifyProgram accepted (recording an unchecked program is
// undefined; a few impossible cases are INTERNAL). Barriers are added where the program leaves
// two commands of one stage touching the same memory with one writing.
absl::StatusOr<std::unique_ptr<RecordedProgram>> RecordProgram(
    const kiln::module::v1::ModuleDef& module, const kiln::module::v1::FunctionDef& function,
    const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
    const module::ModuleFile& file);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_PROGRAM_PROGRAM_RECORDER_H_
