// A command buffer: dispatch / copy / fill commands separated by barriers, recorded once and
// replayed per submission. Commands never hold pointers to data: every buffer operand is a
// binding-table slot + offset + length, resolved against the binding table each submission
// supplies, so one recording serves every invocation of a function.
//
// Execution model (TaskExecutor): the commands between two barriers form a stage and run
// concurrently (a dispatch's workgroups too); a barrier makes everything before it finish
// before anything after it starts.
#ifndef KILN_RUNTIME_SERVICE_HAL_COMMAND_BUFFER_H_
#define KILN_RUNTIME_SERVICE_HAL_COMMAND_BUFFER_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/hal/allocator.h"

namespace kiln::hal {

// [offset, offset + length) of binding-table entry `binding`.
struct BindingRef {
  uint32_t binding = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct DispatchCommand {
  kiln_dispatch_fn_t fn = nullptr;
  const kiln_executable_env_t* env = nullptr;  // must outlive the command buffer
  std::array<uint32_t, 3> workgroup_count = {1, 1, 1};
  std::array<uint32_t, 3> workgroup_size = {1, 1, 1};  // the export's hint, passed through
  std::vector<BindingRef> bindings;
  std::vector<uint32_t> constants;
  // Names the dispatch in errors: "<label> failed with code N in workgroup (x, y, z)".
  std::string label;
};

struct CopyCommand {
  BindingRef source;
  BindingRef target;
};

struct FillCommand {
  BindingRef target;
  uint64_t pattern = 0;  // the low pattern_size bytes, little-endian, repeated
  uint32_t pattern_size = 1;
};

using Command = std::variant<DispatchCommand, CopyCommand, FillCommand>;

// Commands [begin, end) between two barriers.
struct Stage {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// Not thread-safe while recording; immutable (and freely shared) once finalized.
class CommandBuffer {
 public:
  explicit CommandBuffer(uint32_t binding_count) : required_lengths_(binding_count, 0) {}

  // Recording. Each checks its operands against the binding count (INVALID_ARGUMENT) and
  // fails with FAILED_PRECONDITION after Finalize.
  absl::Status Dispatch(DispatchCommand command);
  absl::Status Copy(BindingRef source, BindingRef target);
  absl::Status Fill(BindingRef target, std::span<const uint8_t> pattern);
  absl::Status Barrier();
  // Ends recording; only finalized command buffers can be submitted.
  void Finalize();

  bool finalized() const { return finalized_; }
  uint32_t binding_count() const { return static_cast<uint32_t>(required_lengths_.size()); }
  const std::vector<Command>& commands() const { return commands_; }
  const std::vector<Stage>& stages() const { return stages_; }
  // Sum of all dispatches' binding counts (lets an executor size its tables once).
  size_t dispatch_binding_count() const { return dispatch_binding_count_; }

  // Checks a binding table for a submission: one entry per binding, each long enough for every
  // range recorded against it. INVALID_ARGUMENT otherwise.
  absl::Status CheckBindings(std::span<const BufferView> bindings) const;

 private:
  absl::Status CheckRecording() const;
  absl::Status Use(const BindingRef& ref, const char* what);
  void Append(Command command);

  std::vector<uint64_t> required_lengths_;  // per binding: the largest offset + length used
  std::vector<Command> commands_;
  std::vector<Stage> stages_;
  uint32_t stage_begin_ = 0;
  size_t dispatch_binding_count_ = 0;
  bool finalized_ = false;
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_COMMAND_BUFFER_H_
