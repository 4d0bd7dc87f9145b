#include "runtime_service/loader/cpu_features.h"

#include "absl/strings/str_cat.h"
#include "runtime_service/executable_abi.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace kiln {
namespace {

struct FeatureName {
  uint64_t bit;
  const char* name;  // LLVM target feature spelling
};

// Ordered by bit so that CpuFeatureNames lists features in a stable order.
constexpr FeatureName kFeatureNames[] = {
    {KILN_CPU_FEATURE_SSE4_2, "sse4.2"},
    {KILN_CPU_FEATURE_AVX, "avx"},
    {KILN_CPU_FEATURE_AVX2, "avx2"},
    {KILN_CPU_FEATURE_FMA, "fma"},
    {KILN_CPU_FEATURE_F16C, "f16c"},
    {KILN_CPU_FEATURE_BMI2, "bmi2"},
    {KILN_CPU_FEATURE_AVX512F, "avx512f"},
    {KILN_CPU_FEATURE_AVX512VL, "avx512vl"},
    {KILN_CPU_FEATURE_AVX512BW, "avx512bw"},
    {KILN_CPU_FEATURE_AVX512DQ, "avx512dq"},
    {KILN_CPU_FEATURE_AVX512CD, "avx512cd"},
    {KILN_CPU_FEATURE_AVX512VNNI, "avx512vnni"},
    {KILN_CPU_FEATURE_AVX512BF16, "avx512bf16"},
    {KILN_CPU_FEATURE_AVX512FP16, "avx512fp16"},
};

#if defined(__x86_64__) || defined(__i386__)
bool Bit(uint32_t reg, int bit) { return (reg >> bit) & 1u; }

uint64_t DetectX86() {
  uint32_t eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  const uint32_t leaf1_ecx = ecx;

  uint64_t features = 0;
  if (Bit(leaf1_ecx, 20)) features |= KILN_CPU_FEATURE_SSE4_2;

  // CPUID only says the CPU has a feature; the OS must also save the wider register state
  // (XCR0), or the first AVX/AVX-512 instruction faults.
  bool os_avx = false;
  bool os_avx512 = false;
  if (Bit(leaf1_ecx, 27)) {  // OSXSAVE: xgetbv is usable
    uint32_t xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    os_avx = (xcr0_lo & 0x6u) == 0x6u;       // XMM and YMM state
    os_avx512 = (xcr0_lo & 0xe6u) == 0xe6u;  // plus opmask, ZMM_Hi256, Hi16_ZMM
  }
  if (os_avx) {
    if (Bit(leaf1_ecx, 28)) features |= KILN_CPU_FEATURE_AVX;
    if (Bit(leaf1_ecx, 12)) features |= KILN_CPU_FEATURE_FMA;
    if (Bit(leaf1_ecx, 29)) features |= KILN_CPU_FEATURE_F16C;
  }

  uint32_t max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return features;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const uint32_t leaf7_eax = eax, leaf7_ebx = ebx, leaf7_ecx = ecx, leaf7_edx = edx;
  if (Bit(leaf7_ebx, 8)) features |= KILN_CPU_FEATURE_BMI2;
  if (os_avx && Bit(leaf7_ebx, 5)) features |= KILN_CPU_FEATURE_AVX2;
  if (os_avx512) {
    if (Bit(leaf7_ebx, 16)) features |= KILN_CPU_FEATURE_AVX512F;
    if (Bit(leaf7_ebx, 17)) features |= KILN_CPU_FEATURE_AVX512DQ;
    if (Bit(leaf7_ebx, 28)) features |= KILN_CPU_FEATURE_AVX512CD;
    if (Bit(leaf7_ebx, 30)) features |= KILN_CPU_FEATURE_AVX512BW;
    if (Bit(leaf7_ebx, 31)) features |= KILN_CPU_FEATURE_AVX512VL;
    if (Bit(leaf7_ecx, 11)) features |= KILN_CPU_FEATURE_AVX512VNNI;
    if (Bit(leaf7_edx, 23)) features |= KILN_CPU_FEATURE_AVX512FP16;
    if (leaf7_eax >= 1) {  // leaf 7 sub-leaf 1 exists
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      if (Bit(eax, 5)) features |= KILN_CPU_FEATURE_AVX512BF16;
    }
  }
  return features;
}
#endif

}  // namespace

uint64_t HostCpuFeatures() {
#if defined(__x86_64__) || defined(__i386__)
  static const uint64_t features = DetectX86();
  return features;
#else
  return 0;  // kiln tracks x86 features only
#endif
}

std::string CpuFeatureNames(uint64_t features) {
  std::string names;
  for (const auto& feature : kFeatureNames) {
    if (!(features & feature.bit)) continue;
    absl::StrAppend(&names, names.empty() ? "" : ", ", feature.name);
    features &= ~feature.bit;
  }
  // Bits this runtime does not know come from a newer compiler: name them rather than drop them.
  for (int bit = 0; bit < 64; ++bit) {
    if (features & (uint64_t{1} << bit))
      absl::StrAppend(&names, names.empty() ? "" : ", ", "unknown-feature-bit-", bit);
  }
  return names;
}

uint64_t CpuFeatureBitFromLlvmName(const std::string& name) {
  // LLVM feature strings carry a sign ("+avx2"); accept either form.
  const size_t start = !name.empty() && name.front() == '+' ? 1 : 0;
  for (const auto& feature : kFeatureNames)
    if (name.compare(start, std::string::npos, feature.name) == 0) return feature.bit;
  return 0;
}

}  // namespace kiln
