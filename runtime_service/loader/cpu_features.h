// Host CPU feature detection, in the executable ABI's kiln_cpu_feature_bits.
#ifndef KILN_RUNTIME_SERVICE_LOADER_CPU_FEATURES_H_
#define KILN_RUNTIME_SERVICE_LOADER_CPU_FEATURES_H_

#include <cstdint>
#include <string>

namespace kiln {

// Features this CPU and OS support (AVX state enabled by the OS, not only CPUID bits).
uint64_t HostCpuFeatures();
// Comma-separated feature names of a bit set, e.g. "avx512f, avx512bw".
std::string CpuFeatureNames(uint64_t features);
// Maps an LLVM target feature name ("avx2", "avx512f", ...) to its bit; 0 when kiln does not
// track it.
uint64_t CpuFeatureBitFromLlvmName(const std::string& name);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_LOADER_CPU_FEATURES_H_
