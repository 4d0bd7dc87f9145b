// Fuzzes the load-time verifier the way issue 15's attacker did: takes a valid module (one of
// module_file_fuzz's seed modules, compiled by kiln or built around the ABI test library),
// applies the input as a sequence of structured edits to its metadata (ModuleDef), writes it
// again with every hash recomputed (ModuleBuilder), loads it and, when Load accepts it, invokes
// every function on zero inputs, inline and on the async HAL. A crash or sanitizer report is a
// finding: whatever Load accepts must run without one.
//
// Segment contents are never edited (executables are code, trusted byte for byte; see
// module_file_fuzz.cc), but which segment an executable or constant names is. Invocations are
// skipped when their tensors would exceed kMaxInvokeBytes or a dispatch has more than
// kMaxInvokeWorkgroups workgroups, to keep executions fast; Load still runs on those.
//
// Kernels compiled by kiln trust the metadata no more than their export declares (executable ABI
// v2): they index their bindings by the shapes they were compiled for and their workgroup ids, so
// each export states the bytes it accesses per binding, which bindings it writes and its grid,
// and Load holds every dispatch to that. Modules built by kiln-compile are bases like the ones
// around the hand-written test library (whose exports bound themselves) and executable-free
// programs: whatever edit of their metadata Load accepts must run cleanly.
//
// Input: one byte choosing the base module, then edits of (kind byte, operands...) until the
// input ends (at most kMaxEdits).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/tensor/tensor.h"
#include "runtime_service/testing/fuzzing.h"
#include "runtime_service/testing/fuzzing_protobuf.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using fuzzing::FuzzInput;
using module::ModuleFile;

constexpr int kMaxEdits = 32;
constexpr uint64_t kMaxInvokeBytes = 16u << 20;
constexpr uint64_t kMaxInvokeWorkgroups = 4096;

struct BaseModule {
  mv1::ModuleDef def;
  std::vector<std::string> segments;  // contents, by index
};

std::vector<BaseModule>& Bases() {
  static std::vector<BaseModule> bases;
  return bases;
}

std::set<std::string>& TrustedExecutables() {
  static std::set<std::string> hashes;  // SHA-256 of the base modules' executable segments
  return hashes;
}

std::shared_ptr<hal::Device> Device() {
  static const std::shared_ptr<hal::Device> device = [] {
    auto created = hal::Device::Create({.worker_count = 2});
    KILN_FUZZ_CHECK(created.ok());
    return *created;
  }();
  return device;
}

// Values that sit on the boundaries the verifier checks, mixed with the fuzzer's own.
uint64_t Value(FuzzInput& in, uint64_t original) {
  static constexpr std::array<uint64_t, 16> kInteresting = {
      0,    1,          2,          3,          4,          8,          16,         64,
      4096, 1ull << 31, 1ull << 32, 1ull << 40, 1ull << 62, 1ull << 63, ~0ull >> 1, ~0ull};
  const uint8_t how = in.Integer<uint8_t>();
  switch (how % 6) {
    case 0:
      return kInteresting[(how / 6) % kInteresting.size()];
    case 1:
      return original + 1 + (how / 6) % 8;
    case 2:
      return original - 1 - (how / 6) % 8;
    case 3:
      return original ^ (uint64_t{1} << ((how / 6) % 64));
    case 4:
      return in.Integer<uint8_t>();
    default:
      return in.Integer<uint64_t>();
  }
}

uint32_t Value32(FuzzInput& in, uint32_t original) {
  return static_cast<uint32_t>(Value(in, original));
}

template <typename T>
T* Pick(FuzzInput& in, google::protobuf::RepeatedPtrField<T>* field) {
  if (field->empty()) return nullptr;
  return field->Mutable(in.Integer<uint8_t>() % field->size());
}

void EditRef(FuzzInput& in, mv1::BufferRef* ref) {
  switch (in.Integer<uint8_t>() % 3) {
    case 0:
      ref->set_slot(Value32(in, ref->slot()));
      break;
    case 1:
      ref->set_offset(Value(in, ref->offset()));
      break;
    default:
      ref->set_length(Value(in, ref->length()));
      break;
  }
}

void EditCommand(FuzzInput& in, mv1::Command* command) {
  const uint8_t field = in.Integer<uint8_t>();
  switch (command->kind_case()) {
    case mv1::Command::kBindInput:
      if (field % 2 == 0) {
        command->mutable_bind_input()->set_slot(Value32(in, command->bind_input().slot()));
      } else {
        command->mutable_bind_input()->set_input(Value32(in, command->bind_input().input()));
      }
      break;
    case mv1::Command::kBindOutput:
      if (field % 2 == 0) {
        command->mutable_bind_output()->set_slot(Value32(in, command->bind_output().slot()));
      } else {
        command->mutable_bind_output()->set_output(Value32(in, command->bind_output().output()));
      }
      break;
    case mv1::Command::kBindConstant:
      if (field % 2 == 0) {
        command->mutable_bind_constant()->set_slot(Value32(in, command->bind_constant().slot()));
      } else {
        command->mutable_bind_constant()->set_constant(
            Value32(in, command->bind_constant().constant()));
      }
      break;
    case mv1::Command::kBindTransient: {
      mv1::BindTransientCommand* bind = command->mutable_bind_transient();
      if (field % 3 == 0) bind->set_slot(Value32(in, bind->slot()));
      if (field % 3 == 1) bind->set_arena_offset(Value(in, bind->arena_offset()));
      if (field % 3 == 2) bind->set_length(Value(in, bind->length()));
      break;
    }
    case mv1::Command::kDispatch: {
      mv1::DispatchCommand* dispatch = command->mutable_dispatch();
      switch (field % 6) {
        case 0:
          dispatch->set_executable(Value32(in, dispatch->executable()));
          break;
        case 1:
          dispatch->set_export_ordinal(Value32(in, dispatch->export_ordinal()));
          break;
        case 2:
          if (!dispatch->workgroup_count().empty()) {
            const int d = in.Integer<uint8_t>() % dispatch->workgroup_count_size();
            dispatch->set_workgroup_count(d, Value32(in, dispatch->workgroup_count(d)));
          }
          break;
        case 3:
          if (mv1::BufferRef* ref = Pick(in, dispatch->mutable_bindings())) EditRef(in, ref);
          break;
        case 4:  // drop or add a binding
          if (in.Bool() && !dispatch->bindings().empty()) {
            dispatch->mutable_bindings()->RemoveLast();
          } else {
            *dispatch->add_bindings() =
                dispatch->bindings().empty() ? mv1::BufferRef() : dispatch->bindings(0);
          }
          break;
        default:
          if (in.Bool() || dispatch->constants().empty()) {
            dispatch->add_constants(in.Integer<uint32_t>());
          } else {
            dispatch->mutable_constants()->RemoveLast();
          }
          break;
      }
      break;
    }
    case mv1::Command::kCopy:
      EditRef(in, field % 2 == 0 ? command->mutable_copy()->mutable_source()
                                 : command->mutable_copy()->mutable_target());
      break;
    case mv1::Command::kFill:
      if (field % 2 == 0) {
        EditRef(in, command->mutable_fill()->mutable_target());
      } else {
        command->mutable_fill()->set_pattern(in.String(9));
      }
      break;
    case mv1::Command::kBarrier:
    case mv1::Command::KIND_NOT_SET:
      break;
  }
}

void EditType(FuzzInput& in, mv1::TensorType* type) {
  switch (in.Integer<uint8_t>() % 4) {
    case 0:
      if (!type->shape().empty()) {
        const int d = in.Integer<uint8_t>() % type->shape_size();
        type->set_shape(d, static_cast<int64_t>(Value(in, static_cast<uint64_t>(type->shape(d)))));
      }
      break;
    case 1:
      type->add_shape(static_cast<int64_t>(Value(in, 1)));
      break;
    case 2:
      if (!type->shape().empty()) type->mutable_shape()->RemoveLast();
      break;
    default:
      type->set_dtype(static_cast<mv1::DataType>(in.Integer<uint8_t>() % 16));
      break;
  }
}

// One edit of the metadata; false when the input is used up.
bool Edit(FuzzInput& in, mv1::ModuleDef& def) {
  if (in.remaining() == 0) return false;
  const uint8_t kind = in.Integer<uint8_t>();
  if (kind % 16 >= 12) {  // module-level edits
    switch (kind % 16) {
      case 12:
        if (mv1::ConstantDef* constant = Pick(in, def.mutable_constants()))
          constant->set_segment(Value32(in, constant->segment()));
        break;
      case 13:
        if (mv1::ExecutableDef* executable = Pick(in, def.mutable_executables()))
          executable->set_segment(Value32(in, executable->segment()));
        break;
      case 14:
        if (!def.functions().empty() && in.Bool()) {
          def.mutable_functions()->RemoveLast();
        } else if (mv1::FunctionDef* function = Pick(in, def.mutable_functions())) {
          function->set_name(in.String(8));
        }
        break;
      default:
        if (mv1::FunctionDef* function = Pick(in, def.mutable_functions())) {
          function->set_execution_model(
              static_cast<mv1::ExecutionModel>(in.Integer<uint8_t>() % 4));
        }
        break;
    }
    return true;
  }
  mv1::FunctionDef* function = Pick(in, def.mutable_functions());
  if (function == nullptr) return true;
  mv1::HostProgram* program = function->mutable_program();
  auto* commands = program->mutable_commands();
  const int count = commands->size();
  const int at = count == 0 ? 0 : in.Integer<uint8_t>() % count;
  switch (kind % 16) {
    case 0:
    case 1:
    case 2:
    case 3:
      if (count > 0) EditCommand(in, commands->Mutable(at));
      break;
    case 4:  // delete a command
      if (count > 0) commands->DeleteSubrange(at, 1);
      break;
    case 5: {  // duplicate a command, the copy going to the end and then bubbling to `to`
      if (count == 0) break;
      const int to = in.Integer<uint8_t>() % (count + 1);
      *commands->Add() = commands->Get(at);
      for (int i = count; i > to; --i) commands->SwapElements(i, i - 1);
      break;
    }
    case 6:  // swap two commands
      if (count > 0) commands->SwapElements(at, in.Integer<uint8_t>() % count);
      break;
    case 7:  // a new command of any kind, defaults then edited
    {
      mv1::Command command;
      switch (in.Integer<uint8_t>() % 8) {
        case 0:
          command.mutable_bind_input();
          break;
        case 1:
          command.mutable_bind_output();
          break;
        case 2:
          command.mutable_bind_constant();
          break;
        case 3:
          command.mutable_bind_transient();
          break;
        case 4:
          for (int d = 0; d < 3; ++d) command.mutable_dispatch()->add_workgroup_count(1);
          break;
        case 5:
          command.mutable_barrier();
          break;
        case 6:
          command.mutable_copy();
          break;
        default:
          command.mutable_fill()->set_pattern(std::string(4, '\0'));
          break;
      }
      for (int i = 0; i < 3; ++i) EditCommand(in, &command);
      *commands->Add() = std::move(command);
      for (int i = count; i > at; --i) commands->SwapElements(i, i - 1);
      break;
    }
    case 8:
      program->set_slot_count(Value32(in, program->slot_count()));
      break;
    case 9:
      program->set_transient_arena_size(Value(in, program->transient_arena_size()));
      break;
    case 10:
      if (mv1::ArgumentDef* input = Pick(in, function->mutable_inputs()))
        EditType(in, input->mutable_type());
      break;
    default:
      if (mv1::ArgumentDef* output = Pick(in, function->mutable_outputs()))
        EditType(in, output->mutable_type());
      break;
  }
  return true;
}

absl::StatusOr<std::string> Rewrite(const BaseModule& base, const mv1::ModuleDef& def) {
  module::ModuleBuilder builder;
  builder.def() = def;
  builder.def().clear_segments();
  for (size_t i = 0; i < base.segments.size(); ++i) {
    const std::string& data = base.segments[i];
    builder.AddSegment(base.def.segments(static_cast<int>(i)).name(),
                       {reinterpret_cast<const uint8_t*>(data.data()), data.size()},
                       base.def.segments(static_cast<int>(i)).alignment());
  }
  return builder.Serialize();
}

bool ExecutablesTrusted(const ModuleFile& file) {
  for (const mv1::ExecutableDef& executable : file.def().executables())
    if (!TrustedExecutables().contains(file.def().segments(executable.segment()).sha256()))
      return false;
  return true;
}

// Whether invoking is quick enough: tensors, arena and workgroups within the bounds above.
bool SmallEnough(const mv1::FunctionDef& function) {
  uint64_t bytes = 0;
  for (const auto* args : {&function.inputs(), &function.outputs()}) {
    for (const mv1::ArgumentDef& arg : *args) {
      auto length =
          ByteLength(arg.type().dtype(),
                     std::span<const int64_t>(arg.type().shape().data(),
                                              static_cast<size_t>(arg.type().shape_size())));
      if (!length.ok()) return false;
      bytes += static_cast<uint64_t>(*length);
      if (bytes > kMaxInvokeBytes) return false;
    }
  }
  if (function.program().transient_arena_size() > kMaxInvokeBytes) return false;
  for (const mv1::Command& command : function.program().commands()) {
    if (!command.has_dispatch()) continue;
    uint64_t workgroups = 1;
    for (uint32_t count : command.dispatch().workgroup_count()) {
      workgroups *= std::max<uint32_t>(count, 1);
      if (workgroups > kMaxInvokeWorkgroups) return false;
    }
  }
  return true;
}

void InvokeAll(const LoadedModule& loaded) {
  for (const mv1::FunctionDef& function : loaded.def().functions()) {
    if (!SmallEnough(function)) continue;
    std::vector<std::string> storage;
    std::vector<TensorView> inputs;
    storage.reserve(function.inputs_size());
    for (const mv1::ArgumentDef& input : function.inputs()) {
      const auto& type = input.type();
      const std::span<const int64_t> shape(type.shape().data(),
                                           static_cast<size_t>(type.shape_size()));
      storage.emplace_back(static_cast<size_t>(*ByteLength(type.dtype(), shape)), '\0');
      inputs.push_back(TensorView{
          input.name(),
          type.dtype(),
          shape,
          {reinterpret_cast<const uint8_t*>(storage.back().data()), storage.back().size()}});
    }
    for (ExecutionModelOverride model :
         {ExecutionModelOverride::kInline, ExecutionModelOverride::kAsync}) {
      absl::StatusOr<std::vector<HostTensor>> outputs =
          loaded.Invoke(function, inputs, {.execution_model = model});
      if (outputs.ok())
        KILN_FUZZ_CHECK(outputs->size() == static_cast<size_t>(function.outputs_size()));
    }
  }
}

}  // namespace
}  // namespace kiln

// Like the production allocator, ASan's returns null for what it cannot allocate (a huge arena
// or output) instead of aborting: the runtime must report that as RESOURCE_EXHAUSTED.
extern "C" const char* __asan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "allocator_may_return_null=1";
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace kiln;
  fuzzing::QuietProtobufErrors();
  std::vector<std::filesystem::path> paths;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(KILN_FUZZ_BASE_MODULES, error))
    paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());  // the first input byte must mean the same module
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto file = module::ModuleFile::FromBytes(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    if (!file.ok()) continue;  // the corrupt seeds of module_file_fuzz
    BaseModule base{(*file)->def(), {}};
    for (int i = 0; i < base.def.segments_size(); ++i) {
      const std::span<const uint8_t> segment = (*file)->segment(static_cast<uint32_t>(i));
      base.segments.emplace_back(reinterpret_cast<const char*>(segment.data()), segment.size());
    }
    for (const auto& executable : base.def.executables())
      TrustedExecutables().insert(base.def.segments(executable.segment()).sha256());
    Bases().push_back(std::move(base));
  }
  KILN_FUZZ_CHECK(!Bases().empty());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  fuzzing::FuzzInput in(data, size);
  const BaseModule& base = Bases()[in.Integer<uint8_t>() % Bases().size()];
  mv1::ModuleDef def = base.def;
  // Unedited, a base module is a valid one: the verifier must accept what the compiler emits.
  const bool unedited = in.remaining() == 0;
  for (int i = 0; i < kMaxEdits && Edit(in, def); ++i) {
  }
  absl::StatusOr<std::string> bytes = Rewrite(base, def);
  KILN_FUZZ_CHECK(bytes.ok() || !unedited);
  if (!bytes.ok()) return 0;
  auto file = module::ModuleFile::FromBytes(
      {reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()});
  KILN_FUZZ_CHECK(file.ok() || !unedited);
  if (!file.ok() || !ExecutablesTrusted(**file)) return 0;
  auto loaded = LoadedModule::Load(*std::move(file), Device());
  if (!loaded.ok() && unedited) std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
  KILN_FUZZ_CHECK(loaded.ok() || !unedited);
  if (!loaded.ok()) return 0;
  InvokeAll(**loaded);
  return 0;
}
