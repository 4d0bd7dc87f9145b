#include "runtime_service/program/program_recorder.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "runtime_service/base/status_macros.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

namespace {

using Source = RecordedProgram::Source;

// Records a host program that VerifyProgram accepted into a command buffer. Barriers in the
// program are kept; where the program leaves two commands of one stage touching the same memory
// (one of them writing), the recorder adds a barrier, so every executor computes the same result,
// in whatever order it runs a stage, even for programs that under-state their barriers. A dispatch
// writes the bindings its export declares written (VerifyProgram allowed those only on outputs and
// transients); inputs and constants are never written.
class ProgramRecorder {
 public:
  ProgramRecorder(const mv1::ModuleDef& module, const mv1::FunctionDef& function,
                  const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
                  const module::ModuleFile& file)
      : module_(module), function_(function), executables_(executables), file_(file) {}

  absl::StatusOr<std::unique_ptr<RecordedProgram>> Record() {
    auto recorded = std::make_unique<RecordedProgram>();
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
          recorded->program_command.push_back(index);
          break;
        }
        case mv1::Command::kCopy: {
          hal::BindingRef source = Ref(command.copy().source(), slot_binding);
          hal::BindingRef target = Ref(command.copy().target(), slot_binding);
          accesses.push_back(AccessOf(*recorded, source, /*write=*/false));
          accesses.push_back(AccessOf(*recorded, target, /*write=*/true));
          BarrierIfHazard(*commands, accesses);
          KILN_RETURN_IF_ERROR(commands->Copy(source, target));
          recorded->program_command.push_back(index);
          break;
        }
        case mv1::Command::kFill: {
          hal::BindingRef target = Ref(command.fill().target(), slot_binding);
          accesses.push_back(AccessOf(*recorded, target, /*write=*/true));
          BarrierIfHazard(*commands, accesses);
          const std::string& pattern = command.fill().pattern();
          KILN_RETURN_IF_ERROR(commands->Fill(
              target, {reinterpret_cast<const uint8_t*>(pattern.data()), pattern.size()}));
          recorded->program_command.push_back(index);
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

  static Access AccessOf(const RecordedProgram& recorded, const hal::BindingRef& ref, bool write) {
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

void RecordedProgram::BindTable(std::span<const TensorView> inputs,
                                std::span<const std::span<uint8_t>> outputs, uint8_t* arena,
                                std::span<hal::BufferView> table) const {
  for (size_t i = 0; i < table.size(); ++i) {
    const Source& source = bindings[i];
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
        table[i] = {arena + source.offset, static_cast<size_t>(source.length)};
        break;
    }
  }
}

absl::StatusOr<std::unique_ptr<RecordedProgram>> RecordProgram(
    const mv1::ModuleDef& module, const mv1::FunctionDef& function,
    const std::vector<std::unique_ptr<ExecutableLibrary>>& executables,
    const module::ModuleFile& file) {
  return ProgramRecorder(module, function, executables, file).Record();
}

}  // namespace kiln
