// Shared by the runtime's tests: modules wrapping the hand-written ABI test library
// (loader/testdata/test_library.c, its path in KILN_TEST_LIBRARY_PATH) and a small builder for
// host programs.
#ifndef KILN_RUNTIME_SERVICE_TESTING_TEST_MODULES_H_
#define KILN_RUNTIME_SERVICE_TESTING_TEST_MODULES_H_

#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/module/module_file.h"

namespace kiln::test_modules {

namespace mv1 = kiln::module::v1;

// Export ordinals of loader/testdata/test_library.c.
constexpr uint32_t kAddF32 = 0;
constexpr uint32_t kScaleF32 = 1;
constexpr uint32_t kProbe = 2;
constexpr uint32_t kFail = 3;
constexpr uint32_t kCopy64 = 4;  // declares its binding lengths and grid, like compiled code

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

template <typename T>
std::span<const uint8_t> Bytes(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

template <typename T>
std::vector<T> Values(const std::string& data) {
  std::vector<T> values(data.size() / sizeof(T));
  std::memcpy(values.data(), data.data(), values.size() * sizeof(T));
  return values;
}

void AddArg(google::protobuf::RepeatedPtrField<mv1::ArgumentDef>* args, const std::string& name,
            mv1::DataType dtype, std::initializer_list<int64_t> shape) {
  mv1::ArgumentDef* arg = args->Add();
  arg->set_name(name);
  arg->mutable_type()->set_dtype(dtype);
  for (int64_t dim : shape) arg->mutable_type()->add_shape(dim);
}

// Host program construction.
struct Program {
  mv1::HostProgram* program;

  Program& BindInput(uint32_t slot, uint32_t input) {
    auto* c = program->add_commands()->mutable_bind_input();
    c->set_slot(slot);
    c->set_input(input);
    return *this;
  }
  Program& BindOutput(uint32_t slot, uint32_t output) {
    auto* c = program->add_commands()->mutable_bind_output();
    c->set_slot(slot);
    c->set_output(output);
    return *this;
  }
  Program& BindConstant(uint32_t slot, uint32_t constant) {
    auto* c = program->add_commands()->mutable_bind_constant();
    c->set_slot(slot);
    c->set_constant(constant);
    return *this;
  }
  Program& BindTransient(uint32_t slot, uint64_t offset, uint64_t length) {
    auto* c = program->add_commands()->mutable_bind_transient();
    c->set_slot(slot);
    c->set_arena_offset(offset);
    c->set_length(length);
    return *this;
  }
  static void SetRef(mv1::BufferRef* ref, uint32_t slot, uint64_t offset, uint64_t length) {
    ref->set_slot(slot);
    ref->set_offset(offset);
    ref->set_length(length);
  }
  struct Ref {
    uint32_t slot;
    uint64_t offset;
    uint64_t length;
  };
  Program& Dispatch(uint32_t ordinal, const std::vector<uint32_t>& workgroups,
                    const std::vector<Ref>& bindings, const std::vector<uint32_t>& constants = {},
                    uint32_t executable = 0) {
    auto* c = program->add_commands()->mutable_dispatch();
    c->set_executable(executable);
    c->set_export_ordinal(ordinal);
    for (uint32_t w : workgroups) c->add_workgroup_count(w);
    for (const Ref& r : bindings) SetRef(c->add_bindings(), r.slot, r.offset, r.length);
    for (uint32_t k : constants) c->add_constants(k);
    return *this;
  }
  Program& Barrier() {
    program->add_commands()->mutable_barrier();
    return *this;
  }
  Program& Copy(Ref source, Ref target) {
    auto* c = program->add_commands()->mutable_copy();
    SetRef(c->mutable_source(), source.slot, source.offset, source.length);
    SetRef(c->mutable_target(), target.slot, target.offset, target.length);
    return *this;
  }
  Program& Fill(Ref target, std::string pattern) {
    auto* c = program->add_commands()->mutable_fill();
    SetRef(c->mutable_target(), target.slot, target.offset, target.length);
    c->set_pattern(std::move(pattern));
    return *this;
  }
};

// A builder holding the test library as executable 0 ("lib").
module::ModuleBuilder NewBuilder(
    mv1::ExecutableFormat format = mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY) {
  module::ModuleBuilder builder;
  builder.def().set_name("test");
  static const std::string image = ReadFile(KILN_TEST_LIBRARY_PATH);
  mv1::ExecutableDef* executable = builder.def().add_executables();
  executable->set_name("lib");
  executable->set_format(format);
  executable->set_segment(builder.AddSegment("lib", Bytes(image)));
  for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
    executable->add_exports(name);
  return builder;
}

std::vector<float> Iota(size_t n, float start, float step) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

}  // namespace kiln::test_modules

#endif  // KILN_RUNTIME_SERVICE_TESTING_TEST_MODULES_H_
