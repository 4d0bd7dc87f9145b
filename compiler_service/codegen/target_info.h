// What codegen knows of its target, in one place: vector width and the register tiles it
// affords. Every pass that sizes something by the target takes a TargetInfo made here.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_TARGET_INFO_H_
#define KILN_COMPILER_SERVICE_CODEGEN_TARGET_INFO_H_

#include <algorithm>
#include <cstdint>

namespace kiln::compiler {

struct TargetInfo {
  int64_t vector_bits = 512;  // 256 AVX2, 512 AVX-512

  // Elements of `element_bits` per vector (at least 1).
  int64_t Lanes(int64_t element_bits) const {
    return std::max<int64_t>(1, vector_bits / std::max<int64_t>(1, element_bits));
  }
  // Rows of an f32 matmul (and NHWC conv) register tile two vectors wide. Rows x 2
  // accumulators, the two B vectors and a broadcast must fit the register file: AVX-512 has
  // 32 registers (8 x 2 + 3 = 19); AVX2 has 16, where 8 rows spilled (256^3 at 35% of peak)
  // and 6 fit (15).
  int64_t RegisterTileRows() const { return vector_bits >= 512 ? 8 : 6; }
  // Columns of an f32 matmul register tile (two vectors): the panel width B is packed to.
  int64_t RegisterTileColumns() const { return 2 * Lanes(32); }
};

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_TARGET_INFO_H_
