// kiln's MLIR passes (declared in Passes.td, one per file).
#ifndef KILN_COMPILER_SERVICE_TRANSFORMS_PASSES_H_
#define KILN_COMPILER_SERVICE_TRANSFORMS_PASSES_H_

#include <memory>

#include "compiler_service/dialect/kiln_dialect.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace kiln::compiler {

// Attribute names shared by the passes and the host-program builder.
inline constexpr char kDispatchAttr[] = "kiln.dispatch";
inline constexpr char kWorkgroupCountAttr[] = "kiln.workgroup_count";
inline constexpr char kExecutionModelAttr[] = "kiln.execution_model";
inline constexpr char kExecutionModelReasonAttr[] = "kiln.execution_model_reason";
inline constexpr char kArenaOffsetAttr[] = "kiln.arena_offset";
inline constexpr char kArenaSizeAttr[] = "kiln.arena_size";
// A cache block whose B kiln-pack-cache-blocks packs: [strip, rows], the pack_b of the config
// of the op it was cut from (kiln-block-for-cache).
inline constexpr char kPackBlockAttr[] = "kiln.pack_b";
// A public function's argument or result whose leading dim is the batch (the module
// signature's ArgumentDef.batched): set by kiln-specialize-batch and the ONNX importer.
inline constexpr char kBatchAttrName[] = "kiln.batch";
inline constexpr char kAsyncModel[] = "async";
inline constexpr char kInlineModel[] = "inline-dynamic";
inline constexpr int64_t kArenaAlignment = 64;

#define GEN_PASS_DECL
#include "compiler_service/transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler_service/transforms/Passes.h.inc"

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_TRANSFORMS_PASSES_H_
