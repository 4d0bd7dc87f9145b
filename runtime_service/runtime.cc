#include "runtime_service/runtime.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iterator>
#include <map>
#include <new>
#include <optional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/loader/cpu_features.h"
#include "runtime_service/loader/executable_loader.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

namespace {

// A host program's slot table is allocated per invocation; this bounds what a module may ask.
constexpr uint32_t kMaxSlotCount = 1u << 16;
// Workgroups of one dispatch (x * y * z): the executors count them in 64 bits, and a product of
// three 32-bit counts could wrap; 2^32 is far beyond what the compiler's tiling produces.
constexpr uint64_t kMaxWorkgroups = uint64_t{1} << 32;

std::span<const int64_t> Shape(const mv1::TensorType& type) {
  return {type.shape().data(), static_cast<size_t>(type.shape().size())};
}

// Byte length of a signature type; ModuleFile::Validate already proved it computable.
uint64_t TypeByteLength(const mv1::TensorType& type) {
  auto length = ByteLength(type.dtype(), Shape(type));
  return length.ok() ? static_cast<uint64_t>(*length) : 0;
}

bool SameShape(std::span<const int64_t> a, std::span<const int64_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Statically checks a host program against the module and its loaded executables, so that the
// executor can run it without bounds checks.
class ProgramChecker {
 public:
  ProgramChecker(const mv1::ModuleDef& module, const mv1::FunctionDef& function,
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
      if (output_written_[i] || TypeByteLength(output.type()) == 0) continue;
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
        return BindSlot(bind.slot(), TypeByteLength(function_.inputs(bind.input()).type()),
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
        return BindSlot(bind.slot(), TypeByteLength(function_.outputs(bind.output()).type()),
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

struct Slot {
  uint8_t* ptr = nullptr;
  size_t length = 0;
};

}  // namespace

// A function's host program recorded for the async HAL. Each bind command opens a new
// binding-table entry (a slot may be rebound mid-program); `bindings` says where each entry's
// memory comes from at invocation time.
struct LoadedModule::RecordedFunction {
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
};

namespace {

using RecordedFunction = LoadedModule::RecordedFunction;
using Source = RecordedFunction::Source;

// Records a host program that ProgramChecker accepted into a command buffer. Barriers in the
// program are kept; where the program leaves two commands of one stage touching the same memory
// (one of them writing), the recorder adds a barrier, so the async model computes exactly what
// the inline model does even for programs that under-state their barriers. A dispatch writes the
// bindings its export declares written (ProgramChecker allowed those only on outputs and
// transients); inputs and constants are never written.
class ProgramRecorder {
 public:
  ProgramRecorder(const mv1::ModuleDef& module, const mv1::FunctionDef& function,
                  const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
                  const module::ModuleFile& file)
      : module_(module), function_(function), executables_(executables), file_(file) {}

  absl::StatusOr<std::unique_ptr<RecordedFunction>> Record() {
    auto recorded = std::make_unique<RecordedFunction>();
    const mv1::HostProgram& program = function_.program();
    // Pass 1: binding-table entries, one per bind command.
    for (const mv1::Command& command : program.commands()) {
      Source source;
      switch (command.kind_case()) {
        case mv1::Command::kBindInput:
          source.kind = Source::kInput;
          source.index = command.bind_input().input();
          break;
        case mv1::Command::kBindOutput:
          source.kind = Source::kOutput;
          source.index = command.bind_output().output();
          break;
        case mv1::Command::kBindConstant: {
          source.kind = Source::kConstant;
          source.index = command.bind_constant().constant();
          auto segment = file_.segment(module_.constants(source.index).segment());
          source.constant = {const_cast<uint8_t*>(segment.data()), segment.size()};
          break;
        }
        case mv1::Command::kBindTransient:
          source.kind = Source::kTransient;
          source.offset = command.bind_transient().arena_offset();
          source.length = command.bind_transient().length();
          break;
        default:
          continue;
      }
      recorded->bindings.push_back(source);
    }

    // Pass 2: commands over those entries.
    auto commands =
        std::make_shared<hal::CommandBuffer>(static_cast<uint32_t>(recorded->bindings.size()));
    std::vector<uint32_t> slot_binding(program.slot_count(), 0);
    uint32_t next_binding = 0;
    for (int index = 0; index < program.commands_size(); ++index) {
      const mv1::Command& command = program.commands(index);
      std::vector<Access> accesses;
      switch (command.kind_case()) {
        case mv1::Command::kBindInput:
          slot_binding[command.bind_input().slot()] = next_binding++;
          continue;
        case mv1::Command::kBindOutput:
          slot_binding[command.bind_output().slot()] = next_binding++;
          continue;
        case mv1::Command::kBindConstant:
          slot_binding[command.bind_constant().slot()] = next_binding++;
          continue;
        case mv1::Command::kBindTransient:
          slot_binding[command.bind_transient().slot()] = next_binding++;
          continue;
        case mv1::Command::kBarrier:
          KILN_RETURN_IF_ERROR(commands->Barrier());
          stage_.clear();
          continue;
        case mv1::Command::kDispatch: {
          const mv1::DispatchCommand& dispatch = command.dispatch();
          const ExecutableLibrary& library = *executables_[dispatch.executable()];
          const kiln_export_t& entry = library.export_at(dispatch.export_ordinal());
          hal::DispatchCommand recorded_dispatch;
          recorded_dispatch.fn = entry.fn;
          recorded_dispatch.env = &library.env();
          for (int d = 0; d < 3; ++d) {
            recorded_dispatch.workgroup_count[d] = dispatch.workgroup_count(d);
            recorded_dispatch.workgroup_size[d] = entry.workgroup_size[d];
          }
          for (int i = 0; i < dispatch.bindings_size(); ++i) {
            hal::BindingRef binding = Ref(dispatch.bindings(i), slot_binding);
            recorded_dispatch.bindings.push_back(binding);
            accesses.push_back(AccessOf(
                *recorded, binding, (entry.bindings[i].flags & KILN_BINDING_FLAG_WRITTEN) != 0));
          }
          recorded_dispatch.constants.assign(dispatch.constants().begin(),
                                             dispatch.constants().end());
          recorded_dispatch.label = absl::StrCat(
              "function '", function_.name(), "' command ", index, ": executable '",
              module_.executables(dispatch.executable()).name(), "' export '", entry.name, "'");
          BarrierIfHazard(*commands, accesses);
          KILN_RETURN_IF_ERROR(commands->Dispatch(std::move(recorded_dispatch)));
          break;
        }
        case mv1::Command::kCopy: {
          hal::BindingRef source = Ref(command.copy().source(), slot_binding);
          hal::BindingRef target = Ref(command.copy().target(), slot_binding);
          accesses.push_back(AccessOf(*recorded, source, /*write=*/false));
          accesses.push_back(AccessOf(*recorded, target, /*write=*/true));
          BarrierIfHazard(*commands, accesses);
          KILN_RETURN_IF_ERROR(commands->Copy(source, target));
          break;
        }
        case mv1::Command::kFill: {
          hal::BindingRef target = Ref(command.fill().target(), slot_binding);
          accesses.push_back(AccessOf(*recorded, target, /*write=*/true));
          BarrierIfHazard(*commands, accesses);
          const std::string& pattern = command.fill().pattern();
          KILN_RETURN_IF_ERROR(commands->Fill(
              target, {reinterpret_cast<const uint8_t*>(pattern.data()), pattern.size()}));
          break;
        }
        case mv1::Command::KIND_NOT_SET:
          return absl::InternalError("recording an unchecked program");
      }
      stage_.insert(stage_.end(), accesses.begin(), accesses.end());
    }
    commands->Finalize();
    recorded->commands = std::move(commands);
    return recorded;
  }

 private:
  // A byte range of one underlying memory object: an input, an output, a constant, or the
  // transient arena (transient bindings of different slots may overlap in it).
  struct Access {
    Source::Kind kind;
    uint32_t index;
    uint64_t begin;
    uint64_t end;
    bool write;
  };

  static hal::BindingRef Ref(const mv1::BufferRef& ref, const std::vector<uint32_t>& slots) {
    return {slots[ref.slot()], ref.offset(), ref.length()};
  }

  static Access AccessOf(const RecordedFunction& recorded, const hal::BindingRef& ref, bool write) {
    const Source& source = recorded.bindings[ref.binding];
    const bool writable = source.kind == Source::kOutput || source.kind == Source::kTransient;
    const uint64_t base = source.kind == Source::kTransient ? source.offset : 0;
    const uint32_t index = source.kind == Source::kTransient ? 0 : source.index;
    return {source.kind, index, base + ref.offset, base + ref.offset + ref.length,
            write && writable};
  }

  void BarrierIfHazard(hal::CommandBuffer& commands, const std::vector<Access>& accesses) {
    for (const Access& a : accesses) {
      for (const Access& b : stage_) {
        if (a.kind == b.kind && a.index == b.index && (a.write || b.write) && a.begin < b.end &&
            b.begin < a.end) {
          (void)commands.Barrier();
          stage_.clear();
          return;
        }
      }
    }
  }

  const mv1::ModuleDef& module_;
  const mv1::FunctionDef& function_;
  const std::vector<std::unique_ptr<ExecutableLibrary>>& executables_;
  const module::ModuleFile& file_;
  std::vector<Access> stage_;  // what the commands of the current stage touch
};

}  // namespace

absl::StatusOr<std::vector<TensorView>> MatchInputs(const mv1::FunctionDef& function,
                                                    std::span<const TensorView> tensors) {
  const size_t count = static_cast<size_t>(function.inputs_size());
  auto error = [&](const std::string& message) {
    return absl::InvalidArgumentError(
        absl::StrCat(message, "; signature: ", SignatureString(function)));
  };
  if (tensors.size() != count) {
    return error(absl::StrCat("function '", function.name(), "' expects ", count,
                              count == 1 ? " input" : " inputs", ", got ", tensors.size()));
  }

  // Named tensors claim their inputs first; unnamed ones fill the rest in order.
  std::vector<std::optional<size_t>> assigned(count);  // input -> tensor index
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].name.empty()) continue;
    size_t input = 0;
    while (input < count && function.inputs(input).name() != tensors[t].name) ++input;
    if (input == count)
      return error(absl::StrCat("unknown input '", std::string(tensors[t].name), "'"));
    if (assigned[input])
      return error(
          absl::StrCat("input '", std::string(tensors[t].name), "' is given more than once"));
    assigned[input] = t;
  }
  size_t next_input = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!tensors[t].name.empty()) continue;
    while (assigned[next_input]) ++next_input;  // counts match, so a free input exists
    assigned[next_input] = t;
  }

  std::vector<TensorView> ordered(count);
  for (size_t i = 0; i < count; ++i) {
    const mv1::ArgumentDef& input = function.inputs(i);
    const TensorView& tensor = tensors[*assigned[i]];
    const std::span<const int64_t> shape = Shape(input.type());
    if (tensor.dtype != input.type().dtype() || !SameShape(tensor.shape, shape)) {
      return error(absl::StrCat("input '", input.name(), "': expected ", TypeString(input.type()),
                                ", got ", TypeString(tensor.dtype, tensor.shape)));
    }
    const uint64_t expected = TypeByteLength(input.type());
    if (tensor.data.size() != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input.name(), "': expected ", expected, " bytes for ",
                       TypeString(input.type()), ", got ", tensor.data.size()));
    }
    ordered[i] = tensor;
    ordered[i].name = input.name();
  }
  return ordered;
}

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

  // Load's checks are the single gate: only checked programs are recorded or run.
  for (const mv1::FunctionDef& function : def.functions()) {
    ProgramChecker checker(def, function, loaded->executables_, *loaded->file_);
    KILN_RETURN_IF_ERROR(checker.Check());
  }
  // Recording is cheap, so every function gets a command buffer and any of them can be
  // invoked with either model.
  if (loaded->device_ != nullptr) {
    for (const mv1::FunctionDef& function : def.functions()) {
      ProgramRecorder recorder(def, function, loaded->executables_, *loaded->file_);
      KILN_ASSIGN_OR_RETURN(auto recorded, recorder.Record());
      loaded->recorded_.push_back(std::move(recorded));
    }
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
  if (index < 0 || recorded_.empty()) return nullptr;
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
    const uint64_t expected = TypeByteLength(function.inputs(i).type());
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
      outputs[i].data.assign(TypeByteLength(output.type()), '\0');
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
        TypeString(output.type()), ", ", TypeByteLength(output.type()), " bytes)"));
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
    const uint64_t expected = TypeByteLength(function.outputs(i).type());
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
  return async ? InvokeAsync(index, inputs, outputs)
               : InvokeInline(function, inputs, outputs, options.profile);
}

absl::Status LoadedModule::InvokeAsync(int function_index, std::span<const TensorView> inputs,
                                       std::span<const std::span<uint8_t>> outputs) const {
  const RecordedFunction& recorded = *recorded_[function_index];
  const mv1::FunctionDef& function = def().functions(function_index);
  hal::Arena arena;
  if (function.program().transient_arena_size() > 0) {
    auto acquired = arena_pool_->Acquire(function.program().transient_arena_size());
    if (!acquired.ok()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "function '", function.name(), "': ", std::string(acquired.status().message())));
    }
    arena = std::move(*acquired);
  }

  // Per-thread scratch, grown once: no heap allocation in steady state.
  thread_local std::vector<hal::BufferView> table;
  table.resize(recorded.bindings.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const Source& source = recorded.bindings[i];
    switch (source.kind) {
      case Source::kInput: {
        // Compiled code never writes its inputs; the ABI's pointers are just not const.
        const auto& data = inputs[source.index].data;
        table[i] = {const_cast<uint8_t*>(data.data()), data.size()};
        break;
      }
      case Source::kOutput:
        table[i] = {outputs[source.index].data(), outputs[source.index].size()};
        break;
      case Source::kConstant:
        table[i] = source.constant;
        break;
      case Source::kTransient:
        table[i] = {arena.data() + source.offset, static_cast<size_t>(source.length)};
        break;
    }
  }

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
  KILN_RETURN_IF_ERROR(device_->queue().Submit({}, recorded.commands, table, signal));
  ++last_value;
  // Always wait, even for a failure: the submission uses the bound memory until it ends.
  absl::Status status = device_->Wait(*done, last_value);
  if (!status.ok()) done.reset();
  return status;
}

absl::Status LoadedModule::InvokeInline(const mv1::FunctionDef& function,
                                        std::span<const TensorView> inputs,
                                        std::span<const std::span<uint8_t>> outputs,
                                        DispatchProfile* profile) const {
  const mv1::HostProgram& program = function.program();
  hal::Arena arena;
  if (program.transient_arena_size() > 0) {
    auto acquired = arena_pool_->Acquire(program.transient_arena_size());
    if (!acquired.ok()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "function '", function.name(), "': ", std::string(acquired.status().message())));
    }
    arena = std::move(*acquired);
  }

  // Per-thread scratch, grown once: no heap allocation in steady state. (Kernels never call
  // back into the runtime, so one invocation per thread uses it at a time.)
  thread_local std::vector<Slot> slots;
  thread_local std::vector<void*> binding_ptrs;
  thread_local std::vector<size_t> binding_lengths;
  slots.assign(program.slot_count(), Slot{});
  for (int index = 0; index < program.commands_size(); ++index) {
    const mv1::Command& command = program.commands(index);
    switch (command.kind_case()) {
      case mv1::Command::kBindInput: {
        const auto& bind = command.bind_input();
        // Compiled code never writes its inputs; the ABI's pointers are just not const.
        const auto& data = inputs[bind.input()].data;
        slots[bind.slot()] = {const_cast<uint8_t*>(data.data()), data.size()};
        break;
      }
      case mv1::Command::kBindOutput: {
        const auto& bind = command.bind_output();
        slots[bind.slot()] = {outputs[bind.output()].data(), outputs[bind.output()].size()};
        break;
      }
      case mv1::Command::kBindConstant: {
        const auto& bind = command.bind_constant();
        // Zero-copy: the segment in the (read-only) module mapping.
        auto segment = file_->segment(def().constants(bind.constant()).segment());
        slots[bind.slot()] = {const_cast<uint8_t*>(segment.data()), segment.size()};
        break;
      }
      case mv1::Command::kBindTransient: {
        const auto& bind = command.bind_transient();
        slots[bind.slot()] = {arena.data() + bind.arena_offset(),
                              static_cast<size_t>(bind.length())};
        break;
      }
      case mv1::Command::kDispatch: {
        const auto& dispatch = command.dispatch();
        const ExecutableLibrary& library = *executables_[dispatch.executable()];
        const kiln_export_t& entry = library.export_at(dispatch.export_ordinal());
        binding_ptrs.resize(dispatch.bindings_size());
        binding_lengths.resize(dispatch.bindings_size());
        for (int b = 0; b < dispatch.bindings_size(); ++b) {
          const mv1::BufferRef& ref = dispatch.bindings(b);
          binding_ptrs[b] = slots[ref.slot()].ptr + ref.offset();
          binding_lengths[b] = static_cast<size_t>(ref.length());
        }
        kiln_dispatch_state_t state{};
        for (int d = 0; d < 3; ++d) {
          state.workgroup_count[d] = dispatch.workgroup_count(d);
          state.workgroup_size[d] = entry.workgroup_size[d];
        }
        state.binding_count = static_cast<uint32_t>(dispatch.bindings_size());
        state.constant_count = static_cast<uint32_t>(dispatch.constants_size());
        state.binding_ptrs = binding_ptrs.data();
        state.binding_lengths = binding_lengths.data();
        state.constants = dispatch.constants().data();
        kiln_workgroup_state_t workgroup{};
        const auto start =
            profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
        for (uint32_t z = 0; z < state.workgroup_count[2]; ++z) {
          for (uint32_t y = 0; y < state.workgroup_count[1]; ++y) {
            for (uint32_t x = 0; x < state.workgroup_count[0]; ++x) {
              workgroup.workgroup_id[0] = x;
              workgroup.workgroup_id[1] = y;
              workgroup.workgroup_id[2] = z;
              int code = entry.fn(&library.env(), &state, &workgroup);
              if (code != 0) {
                return absl::InternalError(absl::StrCat(
                    "function '", function.name(), "' command ", index, ": executable '",
                    def().executables(dispatch.executable()).name(), "' export '", entry.name,
                    "' failed with code ", code, " in workgroup (", x, ", ", y, ", ", z, ")"));
              }
            }
          }
        }
        if (profile) {
          auto it =
              std::find_if(profile->entries.begin(), profile->entries.end(),
                           [&](const DispatchProfile::Entry& e) { return e.command == index; });
          if (it == profile->entries.end()) {
            profile->entries.push_back({index, entry.name,
                                        uint64_t{state.workgroup_count[0]} *
                                            state.workgroup_count[1] * state.workgroup_count[2],
                                        0, 0});
            it = profile->entries.end() - 1;
          }
          ++it->calls;
          it->seconds +=
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        break;
      }
      case mv1::Command::kBarrier:
        break;  // one thread runs everything in order
      case mv1::Command::kCopy: {
        const auto& copy = command.copy();
        const auto& source = copy.source();
        const auto& target = copy.target();
        if (source.length() > 0) {
          std::memmove(slots[target.slot()].ptr + target.offset(),
                       slots[source.slot()].ptr + source.offset(), source.length());
        }
        break;
      }
      case mv1::Command::kFill: {
        const auto& fill = command.fill();
        uint8_t* target = slots[fill.target().slot()].ptr + fill.target().offset();
        const std::string& pattern = fill.pattern();
        const uint64_t length = fill.target().length();
        if (pattern.size() == 1) {
          if (length > 0) std::memset(target, static_cast<unsigned char>(pattern[0]), length);
        } else {
          for (uint64_t at = 0; at < length; at += pattern.size())
            // NOLINTNEXTLINE(bugprone-not-null-terminated-result): a binary pattern, no C string
            std::memcpy(target + at, pattern.data(), pattern.size());
        }
        break;
      }
      case mv1::Command::KIND_NOT_SET:
        break;  // rejected by Load
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln
