// What codegen knows of its target, in one place: vector width, the register tiles it affords,
// and the cache sizes that blocking, packing and prefetching are measured against. Every pass
// that sizes something by the target takes a TargetInfo; its numbers live nowhere else.
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
  // Register tile rows for an output of `rows` rows: RegisterTileRows(), unless that leaves a
  // last tile under half height. A tile of r rows has 2r accumulators, and each of the 2 FMA
  // units waits 4 cycles for an accumulator's last FMA, so a tile under half height takes as
  // long as one of half height. Then the height nearest it, from half of it up to what the
  // register file holds (2 x rows accumulators, 2 B vectors and a broadcast: 14 rows on
  // AVX-512, 6 on AVX2), that divides the rows, else that leaves a last tile of at least half,
  // and only if that takes 5% fewer FMA-issue cycles (512 rows on AVX2 stay 6-row tiles).
  // Whole tiles beat tiles of equal modelled cost with an edge: a workgroup of 11 rows ran at
  // 0.76 of oneDNN as 8 + 3 and as 7 + 4 (33x1000x77), at 0.92 as one tile of 11.
  int64_t RowTileFor(int64_t rows) const {
    const int64_t usual = RegisterTileRows();
    const int64_t shortest = (usual + 1) / 2;
    const int64_t tallest = (vector_bits >= 512 ? 32 - 3 : 16 - 3) / 2;
    if (rows % usual == 0 || rows % usual >= shortest) return usual;
    // FMA-issue cycles per reduction step, counted in rows.
    auto cycles = [&](int64_t height) {
      if (height >= rows) return std::max(rows, shortest);
      const int64_t last = rows % height;
      return rows / height * height + (last > 0 ? std::max(last, shortest) : 0);
    };
    for (bool exact : {true, false})
      for (int64_t distance = 1; distance <= tallest - shortest; ++distance)
        for (int64_t height : {usual + distance, usual - distance}) {  // taller first on ties
          if (height < shortest || height > tallest || height > rows) continue;
          const int64_t last = rows % height;
          if ((exact ? last == 0 : last >= shortest) && 20 * cycles(height) < 19 * cycles(usual))
            return height;
        }
    return usual;
  }
  // Products with fewer rows than this stream B row by row (ProductClass::kFewRows) instead of
  // taking register tiles of their rows. Measured on AVX-512, one thread, GFLOP/s few-row /
  // tiled: 4x1024x1024 124 / 48, 5x768x768 111 / 95, 6x512x1000 84 / 139, 7x2048x1001
  // 90 / 167 (oneDNN 179).
  int64_t FewRowsBelow() const { return 6; }
  // Columns of an f32 matmul register tile (two vectors): the panel width B is packed to.
  int64_t RegisterTileColumns() const { return 2 * Lanes(32); }

  // Cache blocks of a matmul: nc columns by kc reduction steps of B (256 KB of f32, half of
  // this machine's 1 MB L2, leaving room for A's rows and C). Measured on 512^3..2048^3
  // (issue 6 note): 256 x 256 was as fast as any other of {128, 256, 512} x {64, 128, 256}.
  int64_t cache_block_columns = 256;
  int64_t cache_block_depth = 256;
  int64_t cache_block_min_bytes = 1 << 20;  // B's size from which blocking pays
  // Blocks of B packed into panels: 128 columns (4 panels) by 1024 reduction steps, 512 KB.
  // Packed panels are contiguous, so a deep block costs no extra pages, and every reduction
  // block is one more read and write of all of C: at 2048^3, kc = 256 made 8 passes over C's
  // 16 MB. Measured (issue 6 note): 1.09 / 1.04 x OpenBLAS at 1024^3 / 2048^3 against
  // 1.05 / 0.98 with 256 x 256; 64..256 x 512..2048 were all within 3% of it.
  int64_t packed_block_columns = 128;
  int64_t packed_block_depth = 1024;
  // A cache block's B is packed into contiguous panels only when its rows are at least this
  // far apart. Below it, the packed kernel measured slower than the strided one (0.88 vs 1.05
  // x OpenBLAS at 512^3); at 8 KB (2048 columns) every reduction step of the strided kernel
  // lands on a new page and the same L2 sets, and packing won (0.90 vs 0.78).
  int64_t pack_block_row_stride_bytes = 8192;
  // Streams of B from which few-row products prefetch (TileStrategy::prefetch_b_rows).
  int64_t prefetch_min_bytes = 1 << 20;

  // Data tiling before dispatches form (kiln-pack-matmul-operands): B packed whole into
  // panels one register tile wide, from this size of B and this many rows of A (the packing
  // pass costs 1/M of the product). AVX2's 6x16 tile reads a third more of B per flop than
  // AVX-512's 8x32 (a 64-byte line per 12 FMAs), and strided B rows from L2 starve it sooner:
  // packing paid from 512 KB and 128 rows there (512^3 3.03 -> 2.66 ms, 197x768x768 3.00 ->
  // 2.43 ms, 384x383x384 4%; 256^3 no change), where on AVX-512 it gained nothing below 2 MB
  // (issue 6 notes).
  int64_t PackOperandMinBytes() const { return vector_bits >= 512 ? 2 << 20 : 512 << 10; }
  int64_t PackOperandMinRows() const { return vector_bits >= 512 ? 256 : 128; }
  // Few-row products whose B is at least this big have their reduction split
  // (kiln-split-vector-matrix-reduction): bound by streaming B from memory.
  int64_t split_reduction_min_bytes = 4 << 20;
};

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_TARGET_INFO_H_
