// Writes a small module wrapping the hand-written ABI library (loader/testdata/test_library.c)
// for the kiln-run tests: make_test_module OUT.kmod LIBRARY.so
//   add(a: f32[2x3], b: f32[2x3]) -> (result0: f32[2x3])          async model
//   add_scale(a: f32[2x3], b: f32[2x3]) -> (sum, doubled: f32[2x3])  inline; add, barrier, scale
//   fail() -> (result0: f32[1])                                      dispatch returns 7
#include <bit>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "runtime_service/module/module_file.h"

namespace {

namespace mv1 = kiln::module::v1;

void AddArg(google::protobuf::RepeatedPtrField<mv1::ArgumentDef>* args, const char* name,
            std::initializer_list<int64_t> shape) {
  mv1::ArgumentDef* arg = args->Add();
  arg->set_name(name);
  arg->mutable_type()->set_dtype(mv1::DATA_TYPE_F32);
  for (int64_t dim : shape) arg->mutable_type()->add_shape(dim);
}

void SetRef(mv1::BufferRef* ref, uint32_t slot, uint64_t length) {
  ref->set_slot(slot);
  ref->set_length(length);
}

void Bind(mv1::HostProgram* program, uint32_t slot, bool output, uint32_t index) {
  if (output) {
    auto* bind = program->add_commands()->mutable_bind_output();
    bind->set_slot(slot);
    bind->set_output(index);
  } else {
    auto* bind = program->add_commands()->mutable_bind_input();
    bind->set_slot(slot);
    bind->set_input(index);
  }
}

mv1::DispatchCommand* Dispatch(mv1::HostProgram* program, uint32_t ordinal, uint32_t groups) {
  auto* dispatch = program->add_commands()->mutable_dispatch();
  dispatch->set_export_ordinal(ordinal);
  dispatch->add_workgroup_count(groups);
  dispatch->add_workgroup_count(1);
  dispatch->add_workgroup_count(1);
  return dispatch;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_test_module OUT.kmod LIBRARY.so\n";
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  const std::string image{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (image.empty()) {
    std::cerr << "make_test_module: cannot read " << argv[2] << "\n";
    return 1;
  }
  kiln::module::ModuleBuilder builder;
  builder.def().set_name("kiln_run_test");
  mv1::ExecutableDef* executable = builder.def().add_executables();
  executable->set_name("lib");
  executable->set_format(mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY);
  executable->set_segment(
      builder.AddSegment("lib", {reinterpret_cast<const uint8_t*>(image.data()), image.size()}));
  for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
    executable->add_exports(name);
  constexpr uint64_t kBytes = 6 * sizeof(float);

  mv1::FunctionDef* add = builder.def().add_functions();
  add->set_name("add");
  add->set_execution_model(mv1::EXECUTION_MODEL_ASYNC);
  add->set_execution_model_reason("test: exercises the async HAL by default");
  AddArg(add->mutable_inputs(), "a", {2, 3});
  AddArg(add->mutable_inputs(), "b", {2, 3});
  AddArg(add->mutable_outputs(), "result0", {2, 3});
  mv1::HostProgram* program = add->mutable_program();
  program->set_slot_count(3);
  Bind(program, 0, false, 0);
  Bind(program, 1, false, 1);
  Bind(program, 2, true, 0);
  mv1::DispatchCommand* dispatch = Dispatch(program, 0, 2);
  for (uint32_t slot : {0, 1, 2}) SetRef(dispatch->add_bindings(), slot, kBytes);

  mv1::FunctionDef* add_scale = builder.def().add_functions();
  add_scale->set_name("add_scale");
  add_scale->set_execution_model(mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
  AddArg(add_scale->mutable_inputs(), "a", {2, 3});
  AddArg(add_scale->mutable_inputs(), "b", {2, 3});
  AddArg(add_scale->mutable_outputs(), "sum", {2, 3});
  AddArg(add_scale->mutable_outputs(), "doubled", {2, 3});
  program = add_scale->mutable_program();
  program->set_slot_count(4);
  Bind(program, 0, false, 0);
  Bind(program, 1, false, 1);
  Bind(program, 2, true, 0);
  Bind(program, 3, true, 1);
  dispatch = Dispatch(program, 0, 3);
  for (uint32_t slot : {0, 1, 2}) SetRef(dispatch->add_bindings(), slot, kBytes);
  program->add_commands()->mutable_barrier();
  dispatch = Dispatch(program, 1, 1);
  SetRef(dispatch->add_bindings(), 2, kBytes);
  SetRef(dispatch->add_bindings(), 3, kBytes);
  dispatch->add_constants(std::bit_cast<uint32_t>(2.0f));

  mv1::FunctionDef* fail = builder.def().add_functions();
  fail->set_name("fail");
  AddArg(fail->mutable_outputs(), "result0", {1});
  program = fail->mutable_program();
  program->set_slot_count(1);
  Bind(program, 0, true, 0);
  // The runtime refuses a program that never writes an output.
  auto* fill = program->add_commands()->mutable_fill();
  fill->mutable_target()->set_length(4);
  fill->set_pattern(std::string(4, '\0'));
  Dispatch(program, 3, 1);

  auto bytes = builder.Serialize();
  if (!bytes.ok()) {
    std::cerr << "make_test_module: " << bytes.status() << "\n";
    return 1;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  return out.good() ? 0 : 1;
}
