#include "runtime_service/hal/inline_executor.h"

#include <chrono>
#include <new>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime_service/hal/command_semantics.h"

namespace kiln::hal {

absl::Status InlineExecutor::Execute(const CommandBuffer& commands,
                                     std::span<const BufferView> bindings,
                                     std::span<double> dispatch_seconds) {
  if (!commands.finalized())
    return absl::FailedPreconditionError("only a finalized command buffer can be executed");
  if (auto status = commands.CheckBindings(bindings); !status.ok()) return status;
  if (!dispatch_seconds.empty() && dispatch_seconds.size() != commands.commands().size()) {
    return absl::InvalidArgumentError(absl::StrCat("dispatch_seconds has ", dispatch_seconds.size(),
                                                   " entries for ", commands.commands().size(),
                                                   " commands"));
  }

  // One dispatch's resolved bindings at a time; grown once per thread.
  thread_local std::vector<void*> binding_ptrs;
  thread_local std::vector<size_t> binding_lengths;
  const std::vector<Command>& list = commands.commands();
  for (size_t i = 0; i < list.size(); ++i) {
    if (const auto* dispatch = std::get_if<DispatchCommand>(&list[i])) {
      const size_t count = dispatch->bindings.size();
      try {
        if (binding_ptrs.size() < count) {
          binding_ptrs.resize(count);
          binding_lengths.resize(count);
        }
      } catch (const std::bad_alloc&) {
        return ExecutorOutOfMemory();
      }
      for (size_t b = 0; b < count; ++b) {
        const BindingRef& ref = dispatch->bindings[b];
        binding_ptrs[b] = bindings[ref.binding].data + ref.offset;
        binding_lengths[b] = static_cast<size_t>(ref.length);
      }
      kiln_dispatch_state_t state{};
      for (int d = 0; d < 3; ++d) {
        state.workgroup_count[d] = dispatch->workgroup_count[d];
        state.workgroup_size[d] = dispatch->workgroup_size[d];
      }
      state.binding_count = static_cast<uint32_t>(count);
      state.constant_count = static_cast<uint32_t>(dispatch->constants.size());
      state.binding_ptrs = binding_ptrs.data();
      state.binding_lengths = binding_lengths.data();
      state.constants = dispatch->constants.data();
      const uint64_t total =
          uint64_t{state.workgroup_count[0]} * state.workgroup_count[1] * state.workgroup_count[2];
      const auto start = dispatch_seconds.empty() ? std::chrono::steady_clock::time_point()
                                                  : std::chrono::steady_clock::now();
      for (uint64_t index = 0; index < total; ++index) {
        absl::Status status = RunWorkgroup(*dispatch, state, index, /*worker_id=*/0);
        if (!status.ok()) return status;
      }
      if (!dispatch_seconds.empty()) {
        dispatch_seconds[i] +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    } else if (const auto* copy = std::get_if<CopyCommand>(&list[i])) {
      RunCopy(*copy, bindings[copy->source.binding].data + copy->source.offset,
              bindings[copy->target.binding].data + copy->target.offset);
    } else {
      const auto& fill = std::get<FillCommand>(list[i]);
      RunFill(fill, bindings[fill.target.binding].data + fill.target.offset);
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::hal
