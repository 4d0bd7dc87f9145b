#include "runtime_service/hal/command_buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime_service/base/status_macros.h"

namespace kiln::hal {

absl::Status CommandBuffer::CheckRecording() const {
  if (finalized_) {
    return absl::FailedPreconditionError("command buffer is finalized; it cannot be recorded");
  }
  return absl::OkStatus();
}

absl::Status CommandBuffer::Use(const BindingRef& ref, const char* what) {
  if (ref.binding >= required_lengths_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " uses binding ", ref.binding,
                                                   " but the command buffer has ",
                                                   required_lengths_.size()));
  }
  if (ref.offset > UINT64_MAX - ref.length) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " range [offset ", ref.offset, ", length ", ref.length, "] overflows"));
  }
  uint64_t& required = required_lengths_[ref.binding];
  required = std::max(required, ref.offset + ref.length);
  return absl::OkStatus();
}

void CommandBuffer::Append(Command command) { commands_.push_back(std::move(command)); }

absl::Status CommandBuffer::Dispatch(DispatchCommand command) {
  KILN_RETURN_IF_ERROR(CheckRecording());
  if (command.fn == nullptr || command.env == nullptr)
    return absl::InvalidArgumentError("dispatch needs a function and an environment");
  for (uint32_t count : command.workgroup_count) {
    if (count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("dispatch '", command.label, "' has a workgroup count of 0"));
    }
  }
  // The executor numbers workgroups linearly in 64 bits.
  uint64_t total = 1;
  for (uint32_t count : command.workgroup_count) {
    if (__builtin_mul_overflow(total, uint64_t{count}, &total)) {
      return absl::InvalidArgumentError(
          absl::StrCat("dispatch '", command.label, "' has too many workgroups"));
    }
  }
  for (const BindingRef& ref : command.bindings) KILN_RETURN_IF_ERROR(Use(ref, "dispatch"));
  dispatch_binding_count_ += command.bindings.size();
  Append(std::move(command));
  return absl::OkStatus();
}

absl::Status CommandBuffer::Copy(BindingRef source, BindingRef target) {
  KILN_RETURN_IF_ERROR(CheckRecording());
  if (source.length != target.length) {
    return absl::InvalidArgumentError(absl::StrCat("copy source length ", source.length,
                                                   " differs from target length ", target.length));
  }
  KILN_RETURN_IF_ERROR(Use(source, "copy source"));
  KILN_RETURN_IF_ERROR(Use(target, "copy target"));
  Append(CopyCommand{source, target});
  return absl::OkStatus();
}

absl::Status CommandBuffer::Fill(BindingRef target, std::span<const uint8_t> pattern) {
  KILN_RETURN_IF_ERROR(CheckRecording());
  const size_t size = pattern.size();
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("fill pattern is ", size, " bytes; it must be 1, 2, 4 or 8"));
  }
  if (target.length % size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fill length ", target.length, " is not a multiple of the ", size, "-byte pattern"));
  }
  KILN_RETURN_IF_ERROR(Use(target, "fill target"));
  FillCommand fill{target, 0, static_cast<uint32_t>(size)};
  std::memcpy(&fill.pattern, pattern.data(), size);
  Append(fill);
  return absl::OkStatus();
}

absl::Status CommandBuffer::Barrier() {
  KILN_RETURN_IF_ERROR(CheckRecording());
  // Empty stages (leading or repeated barriers) are dropped: they would only cost a handoff.
  const auto end = static_cast<uint32_t>(commands_.size());
  if (end > stage_begin_) stages_.push_back({stage_begin_, end});
  stage_begin_ = end;
  return absl::OkStatus();
}

void CommandBuffer::Finalize() {
  if (finalized_) return;
  (void)Barrier();
  finalized_ = true;
}

absl::Status CommandBuffer::CheckBindings(std::span<const BufferView> bindings) const {
  if (bindings.size() != required_lengths_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("binding table has ", bindings.size(),
                                                   " entries; the command buffer uses ",
                                                   required_lengths_.size()));
  }
  for (size_t i = 0; i < bindings.size(); ++i) {
    if (bindings[i].length < required_lengths_[i] ||
        (bindings[i].data == nullptr && required_lengths_[i] > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "binding ", i, " is ", bindings[i].length, " bytes", bindings[i].data ? "" : " (null)",
          "; the command buffer uses ", required_lengths_[i]));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::hal
