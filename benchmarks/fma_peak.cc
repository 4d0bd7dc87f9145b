// Peak probe: FP32 FMA throughput of one core, the ceiling kiln's kernels are measured against.
// Independent accumulator chains hide the FMA latency (4 cycles x 2 ports on current x86);
// AVX-512 when the CPU has it, else AVX2.
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace {

constexpr long kIterations = 200'000'000 / 16;

__attribute__((target("avx512f"))) double PeakAvx512() {
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float sink = 0;
  for (auto& a : acc) sink += _mm512_reduce_add_ps(a);
  if (sink == 42.0f) std::puts("");  // keeps the chains alive
  return kIterations * 16.0 * 16 * 2 / seconds / 1e9;
}

// 12 chains, not 16: AVX2 has 16 ymm registers, and 16 accumulators plus the two operands
// spilled (the probe read 66 GFLOP/s where OpenBLAS's Haswell kernels reached 88).
__attribute__((target("avx2,fma"))) double PeakAvx2() {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (auto& a : acc) a = _mm256_set1_ps(0.0f);
  const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], x, y);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  alignas(32) float lanes[8];
  float sink = 0;
  for (auto& a : acc) {
    _mm256_store_ps(lanes, a);
    sink += lanes[0];
  }
  if (sink == 42.0f) std::puts("");
  return kIterations * double(kChains) * 8 * 2 / seconds / 1e9;
}

}  // namespace

// `kiln-fma-peak [avx2]`: the widest ISA the CPU has, or AVX2 when asked (the peak of the
// AVX2 fallback on an AVX-512 machine).
int main(int argc, char** argv) {
  __builtin_cpu_init();
  bool avx512 =
      __builtin_cpu_supports("avx512f") && !(argc > 1 && std::strcmp(argv[1], "avx2") == 0);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double gflops = avx512 ? PeakAvx512() : PeakAvx2();
    if (gflops > best) best = gflops;
  }
  std::printf("{\"isa\": \"%s\", \"peak_gflops_per_core\": %.1f}\n", avx512 ? "avx512" : "avx2",
              best);
  return 0;
}
