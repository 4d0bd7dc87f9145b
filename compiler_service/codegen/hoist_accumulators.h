// Keeps accumulator tiles in registers across reduction loops.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_HOIST_ACCUMULATORS_H_
#define KILN_COMPILER_SERVICE_CODEGEN_HOIST_ACCUMULATORS_H_

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace kiln::compiler {

// In a dispatch function, moves each loop-invariant vector.transfer_read / transfer_write pair
// on the same buffer slice out of its scf.for, carrying the vector through iter_args.
//
// Upstream's hoistRedundantVectorTransfers must assume that distinct memref arguments may
// alias, so it leaves matmul accumulators in memory. kiln knows better: the bindings of a
// dispatch are distinct buffers (one per host slot, and live transients never overlap), so
// only accesses through the same binding argument can conflict.
void HoistAccumulators(mlir::func::FuncOp dispatch);

// After HoistAccumulators: where a tile is first filled with a constant (a fill fused into
// the tile) and its hoisted accumulator is then read back whole, possibly through a
// rank-reducing view, the read becomes the constant; and the fill's store goes when the
// accumulator store overwrites it with nothing reading the buffer in between.
void ForwardSplatInits(mlir::func::FuncOp dispatch);

// After HoistAccumulators: a register accumulator that a long reduction loop carries from a
// read of the output to a write back starts from zero instead, and the output is read after
// the loop and added, its cache lines prefetched before the loop. The read before the loop
// made the first FMAs wait for C tiles that cache blocking had long since pushed out to
// memory; now the loop hides that latency (BLIS micro-kernels do the same). Only for loops
// that only add into the accumulator.
void DeferAccumulatorReads(mlir::func::FuncOp dispatch);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_HOIST_ACCUMULATORS_H_
