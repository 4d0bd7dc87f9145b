#include "runtime_service/program/program_verifier.h"

#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/module/signature.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

namespace {

// A host program's slot table is sized per invocation; this bounds what a module may ask.
constexpr uint32_t kMaxSlotCount = 1u << 16;
// Workgroups of one dispatch (x * y * z): the executors count them in 64 bits, and a product of
// three 32-bit counts could wrap; 2^32 is far beyond what the compiler's tiling produces.
constexpr uint64_t kMaxWorkgroups = uint64_t{1} << 32;

// Statically checks a host program against the module and its loaded executables, so that the
// executor can run it without bounds checks.
class ProgramVerifier {
 public:
  ProgramVerifier(const mv1::ModuleDef& module, const mv1::FunctionDef& function,
                  const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
                  const module::ModuleFile& file)
      : module_(module), function_(function), executables_(executables), file_(file) {}

  absl::Status Check() {
    const mv1::HostProgram& program = function_.program();
    if (program.slot_count() > kMaxSlotCount) {
      return absl::InvalidArgumentError(absl::StrCat("function '", function_.name(),
                                                     "': slot_count ", program.slot_count(),
                                                     " exceeds the limit of ", kMaxSlotCount));
    }
    slot_lengths_.assign(program.slot_count(), std::nullopt);
    slot_writable_.assign(program.slot_count(), false);
    slot_written_.assign(program.slot_count(), false);
    slot_output_.assign(program.slot_count(), kNoOutput);
    slot_arena_offset_.assign(program.slot_count(), kNotTransient);
    output_bound_by_.assign(function_.outputs_size(), -1);
    output_written_.assign(function_.outputs_size(), false);
    for (int i = 0; i < program.commands_size(); ++i) {
      index_ = i;
      KILN_RETURN_IF_ERROR(CheckCommand(program.commands(i)));
    }
    // Every output is the program's to produce: one never bound or never written (a deleted
    // command) would hand the caller whatever its buffer held. Empty outputs have nothing to.
    for (int i = 0; i < function_.outputs_size(); ++i) {
      const mv1::ArgumentDef& output = function_.outputs(i);
      if (output_written_[i] || SignatureByteLength(output.type()) == 0) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("function '", function_.name(), "': output ", i, " ('", output.name(),
                       "') is never ", output_bound_by_[i] < 0 ? "bound" : "written"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const std::string& message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", function_.name(), "' command ", index_, ": ", message));
  }

  // `writable`: outputs and transients; inputs are the caller's and constants are read-only
  // mappings, so the runtime's own copy/fill must never target them.
  // `output`: the output index a bind_output binds, else kNoOutput.
  absl::Status BindSlot(uint32_t slot, uint64_t length, bool writable,
                        uint32_t output = kNoOutput) {
    if (slot >= slot_lengths_.size()) {
      return Error(
          absl::StrCat("slot ", slot, " is out of range (slot_count ", slot_lengths_.size(), ")"));
    }
    slot_lengths_[slot] = length;
    slot_writable_[slot] = writable;
    // Inputs and constants hold data from the start; outputs and transients only once written.
    slot_written_[slot] = !writable;
    slot_output_[slot] = output;
    slot_arena_offset_[slot] = kNotTransient;
    return absl::OkStatus();
  }

  // Whether the arena bytes [begin, begin + length) were all written. Callers checked the range
  // lies in the arena, so it does not wrap.
  bool ArenaWritten(uint64_t begin, uint64_t length) const {
    if (length == 0) return true;
    auto next = arena_written_.upper_bound(begin);  // intervals are disjoint and not adjacent
    if (next == arena_written_.begin()) return false;
    --next;
    return next->second >= begin + length;
  }

  // A command wrote (or, for a dispatch, may have written) `ref`, a writable slot's range.
  void MarkWritten(const mv1::BufferRef& ref) {
    const uint32_t slot = ref.slot();
    if (slot_output_[slot] != kNoOutput) output_written_[slot_output_[slot]] = true;
    if (slot_arena_offset_[slot] == kNotTransient) {
      slot_written_[slot] = true;  // an output: any write counts
      return;
    }
    if (ref.length() == 0) return;
    // Merge [begin, end) into the disjoint intervals.
    uint64_t begin = slot_arena_offset_[slot] + ref.offset(), end = begin + ref.length();
    auto it = arena_written_.upper_bound(begin);
    if (it != arena_written_.begin() && std::prev(it)->second >= begin) --it;
    while (it != arena_written_.end() && it->first <= end) {
      begin = std::min(begin, it->first);
      end = std::max(end, it->second);
      it = arena_written_.erase(it);
    }
    arena_written_.emplace(begin, end);
  }

  // After CheckRef. Reading a transient or output before anything wrote it would read stale
  // arena memory (another invocation's data) or the caller's buffer.
  absl::Status CheckWritten(const mv1::BufferRef& ref, const std::string& what) {
    const uint64_t arena_offset = slot_arena_offset_[ref.slot()];
    const bool written = arena_offset == kNotTransient
                             ? slot_written_[ref.slot()]
                             : ArenaWritten(arena_offset + ref.offset(), ref.length());
    if (!written) {
      return Error(absl::StrCat(what, " slot ", ref.slot(), " is read before anything writes it"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckRef(const mv1::BufferRef& ref, const std::string& what) {
    if (ref.slot() >= slot_lengths_.size()) {
      return Error(absl::StrCat(what, " slot ", ref.slot(), " is out of range (slot_count ",
                                slot_lengths_.size(), ")"));
    }
    const std::optional<uint64_t>& length = slot_lengths_[ref.slot()];
    if (!length) return Error(absl::StrCat(what, " uses slot ", ref.slot(), " before it is bound"));
    if (ref.offset() > *length || ref.length() > *length - ref.offset()) {
      return Error(absl::StrCat(what, " [offset ", ref.offset(), ", length ", ref.length(),
                                "] is out of bounds of slot ", ref.slot(), " (", *length,
                                " bytes)"));
    }
    return absl::OkStatus();
  }

  // After CheckRef.
  absl::Status CheckWritable(const mv1::BufferRef& ref, const std::string& what) {
    if (!slot_writable_[ref.slot()]) {
      return Error(absl::StrCat(what, " slot ", ref.slot(),
                                " is an input or constant, which are read-only"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckCommand(const mv1::Command& command) {
    // Anything but a barrier may change what a repeated dispatch would compute.
    if (command.kind_case() != mv1::Command::kBarrier &&
        command.kind_case() != mv1::Command::kDispatch)
      previous_dispatch_ = -1;
    switch (command.kind_case()) {
      case mv1::Command::kBindInput: {
        const auto& bind = command.bind_input();
        if (bind.input() >= static_cast<uint32_t>(function_.inputs_size())) {
          return Error(absl::StrCat("bind_input of input ", bind.input(), " but the function has ",
                                    function_.inputs_size()));
        }
        return BindSlot(bind.slot(), SignatureByteLength(function_.inputs(bind.input()).type()),
                        /*writable=*/false);
      }
      case mv1::Command::kBindOutput: {
        const auto& bind = command.bind_output();
        if (bind.output() >= static_cast<uint32_t>(function_.outputs_size())) {
          return Error(absl::StrCat("bind_output of output ", bind.output(),
                                    " but the function has ", function_.outputs_size()));
        }
        // Each output once: a second slot on the same storage would hide an alias.
        if (output_bound_by_[bind.output()] >= 0) {
          return Error(absl::StrCat("bind_output of output ", bind.output(), ", which command ",
                                    output_bound_by_[bind.output()], " already bound"));
        }
        output_bound_by_[bind.output()] = index_;
        return BindSlot(bind.slot(), SignatureByteLength(function_.outputs(bind.output()).type()),
                        /*writable=*/true, bind.output());
      }
      case mv1::Command::kBindConstant: {
        const auto& bind = command.bind_constant();
        if (bind.constant() >= static_cast<uint32_t>(module_.constants_size())) {
          return Error(absl::StrCat("bind_constant of constant ", bind.constant(),
                                    " but the module has ", module_.constants_size()));
        }
        return BindSlot(bind.slot(),
                        file_.segment(module_.constants(bind.constant()).segment()).size(),
                        /*writable=*/false);
      }
      case mv1::Command::kBindTransient: {
        const auto& bind = command.bind_transient();
        const uint64_t arena = function_.program().transient_arena_size();
        if (bind.arena_offset() > arena || bind.length() > arena - bind.arena_offset()) {
          return Error(absl::StrCat("bind_transient [offset ", bind.arena_offset(), ", length ",
                                    bind.length(), "] is outside the transient arena (", arena,
                                    " bytes)"));
        }
        KILN_RETURN_IF_ERROR(BindSlot(bind.slot(), bind.length(), /*writable=*/true));
        // Transients alias in the arena: whether one holds data is whether its bytes of the arena
        // were written, through any slot (CheckWritten).
        slot_arena_offset_[bind.slot()] = bind.arena_offset();
        return absl::OkStatus();
      }
      case mv1::Command::kDispatch:
        return CheckDispatch(command.dispatch());
      case mv1::Command::kBarrier:
        return absl::OkStatus();  // keeps previous_dispatch_: a barrier changes no data
      case mv1::Command::kCopy: {
        const auto& copy = command.copy();
        KILN_RETURN_IF_ERROR(CheckRef(copy.source(), "copy source"));
        KILN_RETURN_IF_ERROR(CheckRef(copy.target(), "copy target"));
        KILN_RETURN_IF_ERROR(CheckWritable(copy.target(), "copy target"));
        if (copy.source().length() != copy.target().length()) {
          return Error(absl::StrCat("copy source length ", copy.source().length(),
                                    " differs from target length ", copy.target().length()));
        }
        KILN_RETURN_IF_ERROR(CheckWritten(copy.source(), "copy source"));
        MarkWritten(copy.target());
        return absl::OkStatus();
      }
      case mv1::Command::kFill: {
        const auto& fill = command.fill();
        KILN_RETURN_IF_ERROR(CheckRef(fill.target(), "fill target"));
        KILN_RETURN_IF_ERROR(CheckWritable(fill.target(), "fill target"));
        const size_t size = fill.pattern().size();
        if (size != 1 && size != 2 && size != 4 && size != 8)
          return Error(absl::StrCat("fill pattern is ", size, " bytes; it must be 1, 2, 4 or 8"));
        if (fill.target().length() % size != 0) {
          return Error(absl::StrCat("fill length ", fill.target().length(),
                                    " is not a multiple of the ", size, "-byte pattern"));
        }
        MarkWritten(fill.target());
        return absl::OkStatus();
      }
      case mv1::Command::KIND_NOT_SET:
        break;
    }
    return Error("unknown or empty command");
  }

  absl::Status CheckDispatch(const mv1::DispatchCommand& dispatch) {
    if (dispatch.executable() >= executables_.size()) {
      return Error(absl::StrCat("dispatch of executable ", dispatch.executable(),
                                " but the module has ", executables_.size()));
    }
    const ExecutableLibrary& library = *executables_[dispatch.executable()];
    const std::string& executable_name = module_.executables(dispatch.executable()).name();
    if (dispatch.export_ordinal() >= library.export_count()) {
      return Error(absl::StrCat("dispatch of export ", dispatch.export_ordinal(),
                                " but executable '", executable_name, "' has ",
                                library.export_count()));
    }
    const kiln_export_t& entry = library.export_at(dispatch.export_ordinal());
    if (dispatch.workgroup_count_size() != 3) {
      return Error(absl::StrCat("dispatch of '", entry.name, "' has ",
                                dispatch.workgroup_count_size(),
                                " workgroup counts; it needs 3 (x, y, z)"));
    }
    uint64_t workgroups = 1;
    for (uint32_t count : dispatch.workgroup_count()) {
      if (count == 0)
        return Error(absl::StrCat("dispatch of '", entry.name, "' has a workgroup count of 0"));
      // Stays below 2^64: the product so far is at most kMaxWorkgroups (2^32) and count < 2^32.
      workgroups *= count;
      if (workgroups > kMaxWorkgroups) {
        return Error(absl::StrCat("dispatch of '", entry.name, "' has ",
                                  dispatch.workgroup_count(0), " x ", dispatch.workgroup_count(1),
                                  " x ", dispatch.workgroup_count(2), " workgroups; the limit is ",
                                  kMaxWorkgroups));
      }
    }
    if (static_cast<uint32_t>(dispatch.bindings_size()) != entry.binding_count) {
      return Error(absl::StrCat("dispatch of '", entry.name, "' has ", dispatch.bindings_size(),
                                " bindings; the export takes ", entry.binding_count));
    }
    if (static_cast<uint32_t>(dispatch.constants_size()) != entry.constant_count) {
      return Error(absl::StrCat("dispatch of '", entry.name, "' has ", dispatch.constants_size(),
                                " push constants; the export takes ", entry.constant_count));
    }
    // The code was compiled for one grid: its workgroups find their tiles by workgroup id, so
    // another grid would compute out of bounds (or leave tiles unwritten).
    for (int d = 0; d < 3; ++d) {
      if (entry.workgroup_count[d] != 0 &&
          dispatch.workgroup_count(d) != entry.workgroup_count[d]) {
        return Error(
            absl::StrCat("dispatch of '", entry.name, "' has ", dispatch.workgroup_count(0), " x ",
                         dispatch.workgroup_count(1), " x ", dispatch.workgroup_count(2),
                         " workgroups; the export was compiled for ", entry.workgroup_count[0],
                         " x ", entry.workgroup_count[1], " x ", entry.workgroup_count[2]));
      }
    }
    for (int i = 0; i < dispatch.bindings_size(); ++i) {
      const mv1::BufferRef& binding = dispatch.bindings(i);
      const std::string what = absl::StrCat("dispatch of '", entry.name, "' binding ", i);
      KILN_RETURN_IF_ERROR(CheckRef(binding, what));
      // The code accesses as many bytes as it declares, whatever length the binding says.
      const kiln_binding_t& declared = entry.bindings[i];
      if (binding.length() < declared.length) {
        return Error(absl::StrCat(what, " is ", binding.length(), " bytes; the export accesses ",
                                  declared.length));
      }
      // What the code stores to must be the program's; what it only loads must hold data. (A
      // binding it both loads and stores may be written first by the dispatch itself.)
      if (declared.flags & KILN_BINDING_FLAG_WRITTEN) {
        KILN_RETURN_IF_ERROR(CheckWritable(binding, what));
      } else if (declared.flags & KILN_BINDING_FLAG_READ) {
        KILN_RETURN_IF_ERROR(CheckWritten(binding, what));
      }
    }
    // The same dispatch again with only barriers between recomputes what is there (or, in
    // place, changes it twice): the compiler never emits one, a duplicated command does.
    if (previous_dispatch_ >= 0) {
      const mv1::Command& previous = function_.program().commands(previous_dispatch_);
      if (google::protobuf::util::MessageDifferencer::Equals(previous.dispatch(), dispatch))
        return Error(
            absl::StrCat("dispatch of '", entry.name, "' duplicates command ", previous_dispatch_));
    }
    previous_dispatch_ = index_;
    for (int i = 0; i < dispatch.bindings_size(); ++i)
      if (entry.bindings[i].flags & KILN_BINDING_FLAG_WRITTEN) MarkWritten(dispatch.bindings(i));
    return absl::OkStatus();
  }

  const mv1::ModuleDef& module_;
  const mv1::FunctionDef& function_;
  const std::vector<std::unique_ptr<ExecutableLibrary>>& executables_;
  const module::ModuleFile& file_;
  static constexpr uint32_t kNoOutput = ~uint32_t{0};
  static constexpr uint64_t kNotTransient = ~uint64_t{0};

  std::vector<std::optional<uint64_t>> slot_lengths_;
  std::vector<bool> slot_writable_;
  std::vector<bool> slot_written_;  // not a transient: bound read-only, or written since bound
  std::vector<uint64_t> slot_arena_offset_;     // a transient's arena offset, else kNotTransient
  std::map<uint64_t, uint64_t> arena_written_;  // written arena bytes: disjoint [begin, end)
  std::vector<uint32_t> slot_output_;           // the output a slot is bound to, or kNoOutput
  std::vector<int> output_bound_by_;            // command binding each output, -1 while unbound
  std::vector<bool> output_written_;
  int previous_dispatch_ = -1;  // the last dispatch with nothing but barriers after it
  int index_ = 0;
};

}  // namespace

absl::Status VerifyProgram(const mv1::ModuleDef& module, const mv1::FunctionDef& function,
                           const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
                           const module::ModuleFile& file) {
  return ProgramVerifier(module, function, executables, file).Check();
}

}  // namespace kiln
