#include "runtime_service/hal/command_semantics.h"

#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"

namespace kiln::hal {

// Made on first use (every executor calls it once when created), so that reporting a lack of
// memory needs none: copying a status only takes a reference.
const absl::Status& ExecutorOutOfMemory() {
  static const absl::Status* const status = new absl::Status(absl::ResourceExhaustedError(
      "out of memory in the HAL executor; the command buffer was not run to completion"));
  return *status;
}

absl::Status RunWorkgroup(const DispatchCommand& dispatch, const kiln_dispatch_state_t& state,
                          uint64_t index, uint32_t worker_id) {
  kiln_workgroup_state_t workgroup{};
  const uint32_t count_x = state.workgroup_count[0], count_y = state.workgroup_count[1];
  workgroup.workgroup_id[0] = static_cast<uint32_t>(index % count_x);
  workgroup.workgroup_id[1] = static_cast<uint32_t>(index / count_x % count_y);
  workgroup.workgroup_id[2] = static_cast<uint32_t>(index / count_x / count_y);
  workgroup.worker_id = worker_id;
  const int code = dispatch.fn(dispatch.env, &state, &workgroup);
  if (code == KILN_DISPATCH_OK) return absl::OkStatus();
  try {
    if (code == KILN_DISPATCH_INDEX_OUT_OF_RANGE)
      return absl::InvalidArgumentError(absl::StrCat(
          dispatch.label,
          ": an index computed from the inputs (a gather or embedding lookup) is out of range "
          "of the tensor it indexes; nothing was read out of bounds and no results were "
          "returned: check the index inputs"));
    return absl::InternalError(absl::StrCat(
        dispatch.label, " failed with code ", code, " in workgroup (", workgroup.workgroup_id[0],
        ", ", workgroup.workgroup_id[1], ", ", workgroup.workgroup_id[2], ")"));
  } catch (const std::bad_alloc&) {  // the message; on a worker thread, which must not throw
    return ExecutorOutOfMemory();
  }
}

void RunFill(const FillCommand& fill, uint8_t* target) {
  if (fill.target.length == 0) return;
  if (fill.pattern_size == 1) {
    std::memset(target, static_cast<int>(fill.pattern & 0xff), fill.target.length);
    return;
  }
  for (uint64_t at = 0; at < fill.target.length; at += fill.pattern_size)
    std::memcpy(target + at, &fill.pattern, fill.pattern_size);
}

void RunCopy(const CopyCommand& copy, const uint8_t* source, uint8_t* target) {
  if (copy.source.length > 0) std::memmove(target, source, copy.source.length);
}

}  // namespace kiln::hal
