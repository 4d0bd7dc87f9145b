#include "runtime_service/loader/cpu_features.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "runtime_service/executable_abi.h"

namespace kiln {
namespace {

// Every KILN_CPU_FEATURE_* bit the ABI header defines, read from the header's text (found next
// to this file), so that a bit added there without a name or a host check fails the tests below
// instead of being skipped by a hand-written list.
std::map<std::string, uint64_t> HeaderFeatureBits() {
  const auto header =
      std::filesystem::path(__FILE__).parent_path().parent_path() / "executable_abi.h";
  std::ifstream in(header);
  EXPECT_TRUE(in) << "cannot read " << header;
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  // Enumerators "KILN_CPU_FEATURE_<NAME> = 1ull << <bit>,", scanned by hand: std::regex trips
  // GCC 12's -Wmaybe-uninitialized (inside <regex>) in the ASan build.
  std::map<std::string, uint64_t> bits;
  const std::string prefix = "KILN_CPU_FEATURE_";
  for (size_t at = source.find(prefix); at != std::string::npos; at = source.find(prefix, at)) {
    size_t i = at + prefix.size();
    at = i;
    auto skip_space = [&] {
      while (i < source.size() && std::isspace(static_cast<unsigned char>(source[i]))) ++i;
    };
    auto expect = [&](std::string_view token) {
      skip_space();
      if (source.compare(i, token.size(), token) != 0) return false;
      i += token.size();
      return true;
    };
    const size_t name_start = i;
    while (i < source.size() &&
           (std::isalnum(static_cast<unsigned char>(source[i])) || source[i] == '_'))
      ++i;
    const std::string name = source.substr(name_start, i - name_start);
    if (name.empty() || !expect("=") || !expect("1ull") || !expect("<<")) continue;
    skip_space();
    const size_t digits_start = i;
    while (i < source.size() && std::isdigit(static_cast<unsigned char>(source[i]))) ++i;
    if (i == digits_start || !expect(",")) continue;
    bits[name] = uint64_t{1} << std::stoi(source.substr(digits_start, i - digits_start));
  }
  return bits;
}

TEST(CpuFeaturesTest, HeaderParses) {
  // The parse itself: it finds the bits this test was compiled against.
  const auto bits = HeaderFeatureBits();
  EXPECT_EQ(bits.at("SSE4_2"), uint64_t{KILN_CPU_FEATURE_SSE4_2});
  EXPECT_EQ(bits.at("AVX512FP16"), uint64_t{KILN_CPU_FEATURE_AVX512FP16});
  EXPECT_GE(bits.size(), 14u);
}

TEST(CpuFeaturesTest, Names) {
  EXPECT_EQ(CpuFeatureNames(0), "");
  EXPECT_EQ(CpuFeatureNames(KILN_CPU_FEATURE_AVX512F | KILN_CPU_FEATURE_AVX512BW),
            "avx512f, avx512bw");
  EXPECT_EQ(CpuFeatureNames(KILN_CPU_FEATURE_SSE4_2 | (uint64_t{1} << 40)),
            "sse4.2, unknown-feature-bit-40");
}

TEST(CpuFeaturesTest, EveryDefinedBitHasAName) {
  std::set<std::string> names;
  for (const auto& [enumerator, bit] : HeaderFeatureBits()) {
    const std::string name = CpuFeatureNames(bit);
    EXPECT_FALSE(name.empty() || name.starts_with("unknown-feature-bit")) << enumerator;
    EXPECT_EQ(name.find(','), std::string::npos) << enumerator << " names several: " << name;
    EXPECT_TRUE(names.insert(name).second) << enumerator << " shares its name " << name;
    // And the name maps back to exactly this bit.
    EXPECT_EQ(CpuFeatureBitFromLlvmName(name), bit) << enumerator;
  }
}

TEST(CpuFeaturesTest, LlvmNames) {
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx2"), uint64_t{KILN_CPU_FEATURE_AVX2});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("+avx512vnni"), uint64_t{KILN_CPU_FEATURE_AVX512VNNI});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("sse4.2"), uint64_t{KILN_CPU_FEATURE_SSE4_2});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx512fp16"), uint64_t{KILN_CPU_FEATURE_AVX512FP16});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx512bf16"), uint64_t{KILN_CPU_FEATURE_AVX512BF16});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("fma"), uint64_t{KILN_CPU_FEATURE_FMA});
  EXPECT_EQ(CpuFeatureBitFromLlvmName("sse2"), 0u);
  EXPECT_EQ(CpuFeatureBitFromLlvmName("avx512"), 0u);  // a prefix of real names, none itself
  EXPECT_EQ(CpuFeatureBitFromLlvmName(""), 0u);
}

#if defined(__x86_64__)
// The Linux /proc/cpuinfo flag of each kiln feature bit, keyed by enumerator suffix.
const std::map<std::string, std::string> kCpuinfoFlags = {
    {"SSE4_2", "sse4_2"},
    {"AVX", "avx"},
    {"AVX2", "avx2"},
    {"FMA", "fma"},
    {"F16C", "f16c"},
    {"BMI2", "bmi2"},
    {"AVX512F", "avx512f"},
    {"AVX512VL", "avx512vl"},
    {"AVX512BW", "avx512bw"},
    {"AVX512DQ", "avx512dq"},
    {"AVX512CD", "avx512cd"},
    {"AVX512VNNI", "avx512_vnni"},
    {"AVX512BF16", "avx512_bf16"},
    {"AVX512FP16", "avx512_fp16"},
};

// The flags of the first processor in /proc/cpuinfo; empty when there is none.
std::set<std::string> CpuinfoFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string word; words >> word;) flags.insert(word);
    return flags;
  }
  return {};
}

// The kernel's view, read independently of cpu_features.cc (which runs CPUID itself).
TEST(CpuFeaturesTest, HostAgreesWithProcCpuinfo) {
  const std::set<std::string> flags = CpuinfoFlags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags line (not Linux?)";
  ASSERT_TRUE(flags.contains("sse2")) << "unexpected /proc/cpuinfo format";
  // Linux already drops a flag whose register state it does not enable in XCR0 (avx, fma,
  // avx2 without YMM; every avx512* without opmask/ZMM state), which matches kiln's XGETBV
  // check. Except f16c: the kernel keeps it (it depends on sse2 there), but it is VEX-encoded
  // and faults without YMM state, so kiln clears it; expect the same here.
  uint32_t xcr0_lo = 0, xcr0_hi = 0;
  if (flags.contains("xsave") || flags.contains("osxsave"))
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_ymm = (xcr0_lo & 0x6u) == 0x6u;

  const uint64_t host = HostCpuFeatures();
  for (const auto& [enumerator, bit] : HeaderFeatureBits()) {
    auto flag = kCpuinfoFlags.find(enumerator);
    ASSERT_NE(flag, kCpuinfoFlags.end())
        << "KILN_CPU_FEATURE_" << enumerator << " has no /proc/cpuinfo flag in this test";
    bool expected = flags.contains(flag->second);
    if (enumerator == "F16C") expected = expected && os_ymm;
    EXPECT_EQ(bool(host & bit), expected)
        << CpuFeatureNames(bit) << " (cpuinfo: " << flag->second << ")";
  }
  // Nothing outside the defined bits.
  uint64_t defined = 0;
  for (const auto& [enumerator, bit] : HeaderFeatureBits()) defined |= bit;
  EXPECT_EQ(host & ~defined, 0u) << CpuFeatureNames(host & ~defined);
}

// The compiler runtime's view (libgcc/compiler-rt: CPUID plus XGETBV), a second check.
TEST(CpuFeaturesTest, HostAgreesWithTheCompilerRuntime) {
  const uint64_t host = HostCpuFeatures();
  __builtin_cpu_init();
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_SSE4_2), bool(__builtin_cpu_supports("sse4.2")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX), bool(__builtin_cpu_supports("avx")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX2), bool(__builtin_cpu_supports("avx2")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_FMA), bool(__builtin_cpu_supports("fma")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_F16C), bool(__builtin_cpu_supports("f16c")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_BMI2), bool(__builtin_cpu_supports("bmi2")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512F), bool(__builtin_cpu_supports("avx512f")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512BW), bool(__builtin_cpu_supports("avx512bw")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512VL), bool(__builtin_cpu_supports("avx512vl")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512DQ), bool(__builtin_cpu_supports("avx512dq")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512CD), bool(__builtin_cpu_supports("avx512cd")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512VNNI), bool(__builtin_cpu_supports("avx512vnni")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512BF16), bool(__builtin_cpu_supports("avx512bf16")));
  EXPECT_EQ(bool(host & KILN_CPU_FEATURE_AVX512FP16), bool(__builtin_cpu_supports("avx512fp16")));
  // AVX-512 implies AVX2 on every CPU that has it.
  if (host & KILN_CPU_FEATURE_AVX512F) {
    EXPECT_TRUE(host & KILN_CPU_FEATURE_AVX2);
  }
}
#endif

}  // namespace
}  // namespace kiln
