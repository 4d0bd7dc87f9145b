// Pins the executable ABI's layout (LP64). The compiler emits these structs as LLVM constants;
// any change here must be mirrored there and KILN_EXECUTABLE_ABI_VERSION bumped.
#include "runtime_service/executable_abi.h"

#include <cstddef>
#include <cstring>

#include "gtest/gtest.h"

namespace {

static_assert(sizeof(void*) == 8, "kiln targets LP64 hosts");

TEST(ExecutableAbiTest, Version) {
  EXPECT_EQ(KILN_EXECUTABLE_ABI_VERSION, 2u);
  EXPECT_EQ(KILN_BINDING_FLAG_WRITTEN, 1u);
  EXPECT_EQ(KILN_BINDING_FLAG_READ, 2u);
  EXPECT_STREQ(KILN_LIBRARY_QUERY_SYMBOL, "kiln_library_query");
}

TEST(ExecutableAbiTest, FeatureBits) {
  EXPECT_EQ(KILN_CPU_FEATURE_SSE4_2, 1ull << 0);
  EXPECT_EQ(KILN_CPU_FEATURE_AVX2, 1ull << 2);
  EXPECT_EQ(KILN_CPU_FEATURE_AVX512F, 1ull << 6);
  EXPECT_EQ(KILN_CPU_FEATURE_AVX512FP16, 1ull << 13);
}

TEST(ExecutableAbiTest, EnvLayout) {
  EXPECT_EQ(sizeof(kiln_executable_env_t), 16u);
  EXPECT_EQ(offsetof(kiln_executable_env_t, abi_version), 0u);
  EXPECT_EQ(offsetof(kiln_executable_env_t, import_count), 4u);
  EXPECT_EQ(offsetof(kiln_executable_env_t, import_thunks), 8u);
}

TEST(ExecutableAbiTest, DispatchStateLayout) {
  EXPECT_EQ(sizeof(kiln_dispatch_state_t), 56u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, workgroup_count), 0u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, workgroup_size), 12u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, binding_count), 24u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, constant_count), 28u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, binding_ptrs), 32u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, binding_lengths), 40u);
  EXPECT_EQ(offsetof(kiln_dispatch_state_t, constants), 48u);
}

TEST(ExecutableAbiTest, WorkgroupStateLayout) {
  EXPECT_EQ(sizeof(kiln_workgroup_state_t), 32u);
  EXPECT_EQ(offsetof(kiln_workgroup_state_t, workgroup_id), 0u);
  EXPECT_EQ(offsetof(kiln_workgroup_state_t, worker_id), 12u);
  EXPECT_EQ(offsetof(kiln_workgroup_state_t, scratch), 16u);
  EXPECT_EQ(offsetof(kiln_workgroup_state_t, scratch_size), 24u);
}

TEST(ExecutableAbiTest, ExportImportLayout) {
  EXPECT_EQ(sizeof(kiln_binding_t), 16u);
  EXPECT_EQ(offsetof(kiln_binding_t, length), 0u);
  EXPECT_EQ(offsetof(kiln_binding_t, flags), 8u);
  EXPECT_EQ(offsetof(kiln_binding_t, reserved), 12u);
  EXPECT_EQ(sizeof(kiln_export_t), 64u);
  EXPECT_EQ(offsetof(kiln_export_t, name), 0u);
  EXPECT_EQ(offsetof(kiln_export_t, fn), 8u);
  EXPECT_EQ(offsetof(kiln_export_t, binding_count), 16u);
  EXPECT_EQ(offsetof(kiln_export_t, constant_count), 20u);
  EXPECT_EQ(offsetof(kiln_export_t, workgroup_size), 24u);
  EXPECT_EQ(offsetof(kiln_export_t, flags), 36u);
  EXPECT_EQ(offsetof(kiln_export_t, bindings), 40u);
  EXPECT_EQ(offsetof(kiln_export_t, workgroup_count), 48u);
  EXPECT_EQ(offsetof(kiln_export_t, reserved), 60u);
  EXPECT_EQ(sizeof(kiln_import_t), 16u);
  EXPECT_EQ(offsetof(kiln_import_t, name), 0u);
  EXPECT_EQ(offsetof(kiln_import_t, flags), 8u);
  EXPECT_EQ(offsetof(kiln_import_t, reserved), 12u);
}

TEST(ExecutableAbiTest, LibraryLayout) {
  EXPECT_EQ(sizeof(kiln_library_t), 48u);
  EXPECT_EQ(offsetof(kiln_library_t, abi_version), 0u);
  EXPECT_EQ(offsetof(kiln_library_t, flags), 4u);
  EXPECT_EQ(offsetof(kiln_library_t, name), 8u);
  EXPECT_EQ(offsetof(kiln_library_t, required_cpu_features), 16u);
  EXPECT_EQ(offsetof(kiln_library_t, export_count), 24u);
  EXPECT_EQ(offsetof(kiln_library_t, import_count), 28u);
  EXPECT_EQ(offsetof(kiln_library_t, exports), 32u);
  EXPECT_EQ(offsetof(kiln_library_t, imports), 40u);
}

}  // namespace
