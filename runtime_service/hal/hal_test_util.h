// Shared pieces of the HAL conformance tests: the hand-written ABI library
// (loader/testdata/test_library.c) loaded for real, and dispatch construction helpers.
#ifndef KILN_RUNTIME_SERVICE_HAL_HAL_TEST_UTIL_H_
#define KILN_RUNTIME_SERVICE_HAL_HAL_TEST_UTIL_H_

#include <array>
#include <bit>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/hal/command_buffer.h"
#include "runtime_service/loader/cpu_features.h"
#include "runtime_service/loader/executable_library.h"

namespace kiln::hal::testing {

// Export ordinals of loader/testdata/test_library.c.
inline constexpr uint32_t kAddF32 = 0;
inline constexpr uint32_t kScaleF32 = 1;
inline constexpr uint32_t kProbe = 2;
inline constexpr uint32_t kFail = 3;
inline constexpr uint32_t kCopy64 = 4;

// The test library, loaded once through the system-library loader.
inline const ExecutableLibrary& TestLibrary() {
  static const ExecutableLibrary* library = [] {
    std::ifstream in(KILN_TEST_LIBRARY_PATH, std::ios::binary);
    std::string image{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    kiln::module::v1::ExecutableDef def;
    def.set_name("lib");
    for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
      def.add_exports(name);
    auto loaded = LoadSystemLibrary({reinterpret_cast<const uint8_t*>(image.data()), image.size()},
                                    def, HostCpuFeatures());
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? loaded->release() : nullptr;
  }();
  return *library;
}

inline DispatchCommand LibraryDispatch(uint32_t ordinal, std::array<uint32_t, 3> workgroups,
                                       std::vector<BindingRef> bindings,
                                       std::vector<uint32_t> constants = {}) {
  const ExecutableLibrary& library = TestLibrary();
  const kiln_export_t& entry = library.export_at(ordinal);
  DispatchCommand dispatch;
  dispatch.fn = entry.fn;
  dispatch.env = &library.env();
  dispatch.workgroup_count = workgroups;
  for (int d = 0; d < 3; ++d) dispatch.workgroup_size[d] = entry.workgroup_size[d];
  dispatch.bindings = std::move(bindings);
  dispatch.constants = std::move(constants);
  dispatch.label = std::string("export '") + entry.name + "'";
  return dispatch;
}

// A dispatch of a C++ function (tests that need to observe scheduling).
inline const kiln_executable_env_t kTestEnv = {KILN_EXECUTABLE_ABI_VERSION, 0, nullptr};
inline DispatchCommand FunctionDispatch(kiln_dispatch_fn_t fn, std::array<uint32_t, 3> workgroups,
                                        std::vector<BindingRef> bindings = {},
                                        std::vector<uint32_t> constants = {}) {
  DispatchCommand dispatch;
  dispatch.fn = fn;
  dispatch.env = &kTestEnv;
  dispatch.workgroup_count = workgroups;
  dispatch.bindings = std::move(bindings);
  dispatch.constants = std::move(constants);
  dispatch.label = "test dispatch";
  return dispatch;
}

inline uint32_t FloatBits(float value) { return std::bit_cast<uint32_t>(value); }

template <typename T>
BufferView ViewOf(std::vector<T>& values) {
  return {reinterpret_cast<uint8_t*>(values.data()), values.size() * sizeof(T)};
}

inline std::vector<float> Iota(size_t n, float start, float step) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

}  // namespace kiln::hal::testing

#endif  // KILN_RUNTIME_SERVICE_HAL_HAL_TEST_UTIL_H_
