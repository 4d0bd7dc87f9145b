// Grouped 2-D convolutions in the one form kiln's codegen tiles: a linalg.generic over
// (n, oh, ow, g, f, kh, kw, c) reading an NHWGC input and a GHWCF filter into an NHWGF output.
// Upstream's named grouped form (linalg.conv_2d_nhwgc_gfhwc) keeps a group's output channels
// outermost in the filter, so a register tile of them would gather its filter values from
// addresses a whole kernel apart; no named op has the filter with F innermost, hence a generic
// that this file both builds and recognizes.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_GROUPED_CONV_H_
#define KILN_COMPILER_SERVICE_CODEGEN_GROUPED_CONV_H_

#include <array>
#include <cstdint>
#include <optional>

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace kiln::compiler {

// Strides and dilations, [height, width].
struct ConvWindow {
  std::array<int64_t, 2> strides = {1, 1};
  std::array<int64_t, 2> dilations = {1, 1};
  bool operator==(const ConvWindow&) const = default;
};

// Loop dimensions of the grouped form.
inline constexpr unsigned kGroupedLoops = 8;
inline constexpr unsigned kGroupDim = 3;           // g
inline constexpr unsigned kGroupChannelDim = 4;    // f, a group's output channels
inline constexpr unsigned kGroupReductionDim = 7;  // c, a group's input channels

// input: [N][H][W][G][C], filter: [G][KH][KW][C][F], init: [N][OH][OW][G][F], all tensors or
// all memrefs of one element type (float or integer).
mlir::linalg::GenericOp BuildGroupedConv2D(mlir::OpBuilder& builder, mlir::Location loc,
                                           mlir::Value input, mlir::Value filter, mlir::Value init,
                                           const ConvWindow& window);

// The window of `op` if it is the grouped form above (maps, iterators, multiply-accumulate
// body), else nullopt. Tiles of it (the same op on subviews) match too.
std::optional<ConvWindow> MatchGroupedConv2D(mlir::Operation* op_in);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_GROUPED_CONV_H_
