#include "runtime_service/loader/cpu_features.h"

#include "gtest/gtest.h"
#include "runtime_service/executable_abi.h"

namespace kiln {
namespace {

TEST(CpuFeaturesTest, Names) {
  EXPECT_EQ(CpuFeatureNames(0), "");
  EXPECT_EQ(CpuFeatureNames(KILN_CPU_FEATURE_AVX512F | KILN_CPU_FEATURE_AVX512BW),
            "avx512f, avx512bw");
  EXPECT_EQ(CpuFeatureNames(KILN_CPU_FEATURE_SSE4_2 | (uint64_t{1} << 40)),
            "sse4.2, unknown-feature-bit-40");
}

TEST(CpuFeaturesTest, LlvmNames) {
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx2"), uint64_t{KILN_CPU_FEATURE_AVX2});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("+avx512vnni"), uint64_t{KILN_CPU_FEATURE_AVX512VNNI});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("sse4.2"), uint64_t{KILN_CPU_FEATURE_SSE4_2});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx512fp16"), uint64_t{KILN_CPU_FEATURE_AVX512FP16});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx512bf16"), uint64_t{KILN_CPU_FEATURE_AVX512BF16});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("fma"), uint64_t{KILN_CPU_FEATURE_FMA});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("sse2"), 0u);
  EXPECT_EQ(CpuFeatureBitFromLlvmName(""), 0u);
  // Every name round-trips through its bit.
  for (int bit = 0; bit < 14; ++bit) {
    const uint64_t feature = uint64_t{1} << bit;
    EXPECT_EQ(CpuFeatureBitFromLlvmName(CpuFeatureNames(feature)), feature) << bit;
  }
}

#if defined(__x86_64__)
TEST(CpuFeaturesTest, HostAgreesWithTheCompilerRuntime) {
  const uint64_t host = HostCpuFeatures();
  EXPECT_EQ(HostCpuFeatures(), host);
  __builtin_cpu_init();
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_SSE4_2), bool(__builtin_cpu_supports("sse4.2")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX), bool(__builtin_cpu_supports("avx")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX2), bool(__builtin_cpu_supports("avx2")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_FMA), bool(__builtin_cpu_supports("fma")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_BMI2), bool(__builtin_cpu_supports("bmi2")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512F), bool(__builtin_cpu_supports("avx512f")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512BW), bool(__builtin_cpu_supports("avx512bw")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512VL), bool(__builtin_cpu_supports("avx512vl")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512VNNI), bool(__builtin_cpu_supports("avx512vnni")));
  // AVX-512 implies AVX2 on every CPU that has it.
  if (host & KILN_CPU_FEATURE_AVX512F) {
    EXPECT_TRUE(host & KILN_CPU_FEATURE_AVX2);
  }
}
#endif

}  // namespace
}  // namespace kiln
