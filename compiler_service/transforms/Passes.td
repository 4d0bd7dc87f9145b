//===- Passes.td - kiln compiler passes --------------------*- tablegen -*-===//
//
// Every kiln pass is declared here; each lives in its own file under transforms/ and has a
// lit/FileCheck test in compiler_service/test/.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_TRANSFORMS_PASSES
#define KILN_COMPILER_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def SpecializeBatch : Pass<"kiln-specialize-batch", "mlir::ModuleOp"> {
  let summary = "Compiles a program with a dynamic leading (batch) dim for one batch size";
  let description = [{
    Runs before every other pass, and only when a batch size is asked for (kiln-compile
    --batch-size, config.json `max_batch_size` in a model repository). Every argument of a
    public function whose leading dim is dynamic (`tensor<?x...>`) gets that dim set to
    `batch-size` and is marked `kiln.batch`; its uses see the old type through a
    `tensor.cast`, which canonicalization folds into linalg and tensor ops, while TOSA ops take
    the static value directly and `tosa-infer-shapes` refines their results. Each result
    whose leading dim was dynamic is marked `kiln.batch` too, and every result type is
    refined to the static type its value now has. kiln's code generation is specialized to
    static shapes (tiles, peeling, workgroups are chosen per shape), so a server compiles one
    module per batch bucket rather than one with a dynamic dim.

    Errors name the argument: another dim dynamic (only the batch may be), no argument with a
    dynamic leading dim, a result whose shape still depends on something unknown.
  }];
  let options = [
    Option<"batchSize", "batch-size", "int64_t", /*default=*/"0",
           "the batch the dynamic leading dims become (at least 1)">,
  ];
  let dependentDialects = ["mlir::tensor::TensorDialect", "mlir::tosa::TosaDialect"];
}

def VerifySupportedInput : Pass<"kiln-verify-supported-input", "mlir::ModuleOp"> {
  let summary = "Rejects programs kiln cannot compile, naming the op and its location";
  let description = [{
    kiln compiles static-shape programs in the func, linalg, tensor, arith, math and tosa
    dialects.
    This pass runs first and turns everything else (ops of other dialects, dynamic shapes,
    non-tensor function signatures, unsupported element types) into an error attached to the
    offending op, so users get `file:line:col: error: ...` instead of a crash or a silent
    wrong answer deep in the pipeline. Also rejected here: recursion (every call is inlined;
    a `func.constant` counts as a call of the function it names; the error names the cycle),
    and constants larger than `max-constant-bytes` (a splat is one value in the IR, but every
    element of it is materialized once it becomes a module segment or is transformed at
    compile time).
  }];
  let options = [
    Option<"maxConstantBytes", "max-constant-bytes", "int64_t", /*default=*/"2147483648",
           "reject tensor constants that would take more bytes than this (2 GiB)">,
  ];
}

def GuardIntegerDivision : Pass<"kiln-guard-integer-division", "mlir::ModuleOp"> {
  let summary = "Gives integer division by zero and INT_MIN / -1 a defined result instead of a trap";
  let description = [{
    On tensors, right after TOSA is lowered to linalg (so `tosa.intdiv` is covered) and before
    fusion and vectorization. x86 `div`/`idiv` raise SIGFPE on a zero divisor and on
    INT_MIN / -1, and kernels run inside kilnd: one request dividing by a runtime zero would kill
    the daemon and every model it serves. Every `arith.divsi/divui/remsi/remui/floordivsi/
    ceildivsi/ceildivui` whose divisor is not a constant known safe (nonzero, and not -1 for the
    signed ops) is rewritten to divide by `select(unsafe, 1, divisor)` and to select the defined
    result, all elementwise ops that vectorize like the division itself:
    - x / 0 = 0 and x % 0 = x, so x == (x / y) * y + x % y still holds; floordiv and ceildiv by 0
      are 0 too;
    - INT_MIN / -1 = INT_MIN (the quotient wraps, as two's complement multiplication by -1
      does), INT_MIN % -1 = 0, and floordiv/ceildiv of INT_MIN by -1 = INT_MIN.
    floordivsi, ceildivsi and ceildivui become a guarded truncating division plus a correction
    from the remainder (no intermediate that upstream's expansion could overflow).
    Named linalg ops whose body divides (`linalg.div`, `linalg.div_unsigned` on integers) are
    generalized first so that their body can be rewritten. Constant divisors that are safe
    (including the index arithmetic the compiler itself generates) stay unguarded.
    An error the caller sees would be better than a value, but a kernel has no channel to report
    one at run time today: dispatch functions return nothing the runtime checks per element.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::linalg::LinalgDialect"];
}

def GuardElementReads : Pass<"kiln-guard-element-reads", "mlir::ModuleOp"> {
  let summary = "Checks indices computed from data before an op's body reads a tensor at them";
  let description = [{
    On tensors, right after TOSA is lowered to linalg. A linalg op's body that reads a tensor
    at indices computed from data (`tensor.extract`: tosa.gather, an embedding lookup, a
    hand-written gather) would read wherever a hostile index points: another request's data,
    or an unmapped page that kills kilnd. Each such index is checked against the tensor's
    extent: the read takes element 0 instead of one out of range, and a `cf.assert` records
    the failure, which `kiln-lower-dispatch-asserts` turns into the dispatch's
    KILN_DISPATCH_INDEX_OUT_OF_RANGE status, so the caller gets INVALID_ARGUMENT and no
    results. Indices known in range (constants, the op's own loop index over a range that
    fits) are left alone.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::cf::ControlFlowDialect",
                           "mlir::tensor::TensorDialect"];
}

def LowerDispatchAsserts : Pass<"kiln-lower-dispatch-asserts", "mlir::func::FuncOp"> {
  let summary = "Turns a dispatch's cf.assert checks into the status it returns";
  let description = [{
    In code generation, once the ops are loops. A dispatch function with `cf.assert`s (from
    kiln-guard-element-reads) gets a status slot set to KILN_DISPATCH_OK at its entry; each
    assert becomes a branch-free update of it to KILN_DISPATCH_INDEX_OUT_OF_RANGE when its
    condition fails, and the function returns the status (i32), which the ABI wrapper returns
    to the runtime (runtime_service/executable_abi.h). Upstream's lowering of cf.assert calls
    abort(), which would take kilnd down with the request.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::memref::MemRefDialect"];
}

def VerifyNoElementAccess : Pass<"kiln-verify-no-element-access", "mlir::ModuleOp"> {
  let summary = "Rejects single-element tensor reads and writes outside linalg ops";
  let description = [{
    After the input phase (TOSA lowered, constants folded). kiln runs whole-tensor ops as
    dispatches and keeps nothing but buffers and calls in the host program, so a
    `tensor.extract` or `tensor.insert` of one element between ops (at any index, constant or
    computed at run time) has nowhere to run. Inside a linalg op's body (a gather) they are
    fine. Each one left is an error naming the op and its location, instead of a failure deep
    in dispatch formation.
  }];
}

def DropUnitBatch : Pass<"kiln-drop-unit-batch", "mlir::ModuleOp"> {
  let summary = "Rewrites batch matmuls with a batch of 1 (what tosa.matmul lowers to) to matmuls";
  let description = [{
    On buffers, right after bufferization (on tensors, elementwise fusion folds the views
    back into a higher-rank generic, and returning an expanded result costs a copy).
    `tosa.matmul` is batched: a model's plain product lowers to `linalg.batch_matmul` with a
    batch of 1, which the matmul-only paths (packing B into panels, cache blocking) would
    never see: 2048^3 ran 25% slower than as `linalg.matmul`. Each becomes `linalg.matmul` on
    collapsed views of its (contiguous) operands; a fill of its output right before it fills
    the collapsed view too.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::memref::MemRefDialect"];
}

def NormalizeConvolutions : Pass<"kiln-normalize-convolutions", "mlir::ModuleOp"> {
  let summary = "Rewrites the convolutions TOSA lowers to into the forms kiln's strategies tile";
  let description = [{
    On tensors, before bufferization.
    - `linalg.conv_2d_nhwc_fhwc` (tosa.conv2d) keeps the output channels outermost in the
      filter, so a register tile of output channels gathers its filter values from addresses
      a whole kernel apart. It becomes `linalg.conv_2d_nhwc_hwcf` on the transposed filter
      (upstream `linalg::transposeConv2D`); a dense-literal filter is transposed here, at
      compile time, others (runtime filters, `dense_resource` blobs) by a transpose op.
      1x56x56x64 -> 64: 91 ms -> 2.1 ms.
    - `linalg.depthwise_conv_2d_nhwc_hwcm` with a channel multiplier of 1
      (tosa.depthwise_conv2d) becomes `linalg.depthwise_conv_2d_nhwc_hwc` on collapsed views
      of the filter and output. 1x56x56x128: 1.7 ms -> 0.12 ms (with TOSA's bias add). A
      filled `tensor.empty` output is then made at the 4-D shape (tensor.empty folded through
      the reshape): a collapsed view of a 5-D one bufferized to a fill and a copy.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def GeneralizeGroupedConvolutions
    : Pass<"kiln-generalize-grouped-convolutions", "mlir::ModuleOp"> {
  let summary = "Rewrites grouped convolutions into the grouped form kiln's strategies tile";
  let description = [{
    On tensors, after elementwise fusion and kiln-normalize-reductions (which would fold
    producers into a generic and drop its unit dims, hiding its structure).
    `linalg.conv_2d_nhwgc_gfhwc` (what the ONNX importer makes of a Conv with 1 < group <
    channels, and what MLIR users write) keeps each group's output channels outermost in the
    filter, so a register tile of them would gather its filter values a whole kernel apart,
    and no named op has them innermost. It becomes the `linalg.generic` of
    `codegen/grouped_conv.h` over (n, oh, ow, g, f, kh, kw, c) reading a [G][KH][KW][C][F]
    filter; a dense-literal filter is transposed here, at compile time, others by a transpose
    op. torch-mlir's NGCHW forms (`linalg.conv_2d_ngchw_gfchw` / `_fgchw`) get the same, with
    their activations transposed into NHWGC and the result back (1x32x8x30x30, 3x3: 5.4 ms as
    the named op, 0.72 ms so). Codegen tiles the grouped form per group like an NHWC
    convolution (8 output columns by the group's channels) and decomposes each tile to
    `linalg.conv_1d_nwc_wcf`. Mixed element types keep the named op. 1x28x28x256 -> 256 in 32
    groups, 3x3: 4.8 GFLOP/s as the named op's scalar loops, 84 now; the per-group
    convolutions the importer made before ran at 22.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def NormalizeReductions : Pass<"kiln-normalize-reductions", "mlir::ModuleOp"> {
  let summary = "Gives reductions and contractions that fusion and reshapes disguised the form codegen tiles";
  let description = [{
    On tensors, after elementwise fusion, for each `linalg.generic` with a reduction loop:
    - In a product (`out + x * y`, floats), an elementwise transform of one input inside the
      payload (`x = in * c`: attention's exported `Div(q, sqrt(d))` fused into
      `MatMul(q, k^T)`) moves out into its own elementwise op on that input. It is then
      evaluated once per element instead of once per multiply-add, and the product is a plain
      contraction that codegen's matmul paths recognize.
    - Unit dimensions are dropped (upstream `linalg::dropUnitDims`): reshapes folded into the
      op leave products like 4x64x1x64x1 and softmax reductions over 64x1, and codegen
      vectorizes the innermost loop, which was the unit one.
    - A contraction becomes the named op it is where upstream recognizes one
      (`linalg::specializeGenericOp`: matmul, batch_matmul), for the matmul-only paths.
    A 4-layer transformer encoder (d 256, sequence 64), one thread: 6.9 -> 5.1 ms; its QK^T
    with the scale fused ran at 5 GFLOP/s (342 us).
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def PrepareDestinations : Pass<"kiln-prepare-destinations", "mlir::ModuleOp"> {
  let summary = "Gives every op a destination that bufferizes in place";
  let description = [{
    On tensors, last before bufferization (after the last cse, which undoes both):
    - A `tensor.pad` of the result of an all-parallel linalg op with no other use (a
      convolution's bias and activation feeding the next convolution's padding) becomes a
      fill of the padded tensor and the producer writing its interior (upstream
      `linalg::populateFuseTensorPadWithProducerLinalgOpPatterns`). Bufferized as it was, the
      producer wrote a buffer of its own, and a copy moved it into the padded one.
    - A `linalg.fill` of a `tensor.empty` that several ops take as their destination (cse
      merges the zero-filled accumulators of equal shapes) is cloned for each: bufferized
      shared, it was filled once and copied into each op's buffer.
    mobilenet_v2: 34 dispatches and their passes over the activations gone.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def PadConstantRows : Pass<"kiln-pad-constant-rows", "mlir::ModuleOp"> {
  let summary = "Stores big constant weights with rows that do not alias in the cache";
  let description = [{
    On tensors, after constants are folded. The weight operand of a
    `linalg.conv_2d_nhwc_hwcf` (the filter), `linalg.matmul` or `linalg.batch_matmul` (B)
    that is a dense constant of at least `min-bytes`, whose rows (the innermost dimension: output
    channels or columns) are a multiple of two cache lines apart, is stored with one more cache
    line of zeros per row and read through a `tensor.extract_slice` of the padded constant.

    A register tile walks its weights down the rows, two vectors per reduction step. With a
    power-of-two row stride every step lands in a few of L2's sets: at 2 KB (512 channels)
    32 of 1024, so 64 KB of a 1 MB L2 holds the strip that the tile's next row block reads
    again, and it comes from L3 each time. An odd number of lines per row uses every set.
    oneDNN reorders weights into blocked panels for the same reason; a padded row keeps the op
    and every strategy as it was. Measured (one thread): resnet18's 3x3x512 -> 512 conv at 7x7
    2.29 -> 1.58 ms in the model; the transformer's 16x256x2048 FFN product (8 KB rows) see the
    issue 14 note.

    Small weights (under `min-bytes`, 1 MiB by default: B's size from which a matmul is
    cache-blocked in codegen/strategy.cc) stay in L2 whatever their stride and are left alone.
  }];
  let options = [
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"1048576",
           "Pad the rows of constant weights of at least this many bytes">,
  ];
  let dependentDialects = ["mlir::tensor::TensorDialect", "mlir::arith::ArithDialect"];
}

def SplitVectorMatrixReduction : Pass<"kiln-split-vector-matrix-reduction", "mlir::ModuleOp"> {
  let summary = "Splits the reduction of a vector times a big matrix into parts over row ranges";
  let description = [{
    On tensors, before bufferization. A matmul with a few rows (a vector times a weight
    matrix: the few-row class of codegen/product_class.h, fewer rows than
    TargetInfo::FewRowsBelow) whose B is big is bound by how fast B streams from memory. Split along its columns,
    each workgroup reads a short segment of every row of B, a new page at every row, which the
    hardware prefetcher cannot follow. Instead its reduction is split into up to 16 parts
    (upstream `linalg::splitReduction`): part p multiplies rows [p*K/P, (p+1)*K/P) of B, whole
    rows read contiguously, into partial sums P[p][m][n]; a second op adds the parts into the
    product's output. Workgroups then split along the parts (unless the columns give more).
    K must divide into 4 or more parts of 16 rows or more; otherwise the matmul is left alone.
    Batch matmuls with a batch of 1 (tosa.matmul) are split the same way.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "the target's vector width: split only few-row products (ClassifyProduct)">,
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"-1",
           "split only when B is at least this big (-1: the target's, codegen/target_info.h)">,
  ];
}

def PackMatmulOperands : Pass<"kiln-pack-matmul-operands", "mlir::ModuleOp"> {
  let summary = "Packs the B operand of big matmuls into contiguous column panels";
  let description = [{
    Data tiling, on buffers right after bufferization. A matmul whose B is big (past what a cache
    block holds) reads B down columns with a row stride of N floats: each reduction step
    touches a new page. Its B is rewritten once into panels of `strip` columns,
    packed[N/strip][K][strip] (a linalg.transpose of B's expanded view, its own dispatch that
    every workgroup of the matmul then shares; folded at compile time when B is a constant),
    and the matmul into a linalg.contract over (m, panel, column, k) on the expanded C. The
    register tiles then read each panel sequentially.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect", "mlir::linalg::LinalgDialect"];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "the target's vector width, whose TargetInfo (codegen/target_info.h) gives the "
           "defaults below">,
    Option<"strip", "strip", "int64_t", /*default=*/"0",
           "panel width in columns (0: the register tile's width, two vectors)">,
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"-1",
           "pack only B operands at least this big (-1: the target's)">,
    Option<"minRows", "min-rows", "int64_t", /*default=*/"-1",
           "pack only for products with at least this many rows (-1: the target's)">,
  ];
}

def StripKilnAttributes : Pass<"kiln-strip-attributes", "mlir::ModuleOp"> {
  let summary = "Removes kiln.* argument and result attributes once signatures are recorded";
  let description = [{
    Argument and result names (`kiln.name`) are read into the module's signatures before
    lowering; the attributes themselves have no meaning to LLVM and are removed so that
    lowering and translation never see them.
  }];
}

def DistinctResults : Pass<"kiln-distinct-results", "mlir::ModuleOp"> {
  let summary = "Gives every result of a function its own tensor, copying repeated return operands";
  let description = [{
    On tensors, right before bufferization. Results become out-parameters, one buffer each, and
    upstream `buffer-results-to-out-params{hoist-static-allocs}` replaces a returned allocation
    with its out-parameter: an allocation returned twice (`return %r, %r`) is replaced a second
    time after being erased, and the compiler crashes. Each operand of a `func.return` that an
    earlier operand of the same return already names is replaced by a `linalg.copy` of it into
    a fresh `tensor.empty`, so every result is a distinct value; the copy costs what the
    out-parameter convention costs anyway for a result that is not computed in place.
    Function arguments and constants returned once are already copied into their
    out-parameter by bufferization.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}


def DeduplicateDispatches : Pass<"kiln-deduplicate-dispatches", "mlir::ModuleOp"> {
  let summary = "Merges dispatch functions that are identical but for their names";
  let description = [{
    Runs once dispatches are formed, distributed and planned, before code generation. Models
    repeat layers of one shape (mobilenet_v2: 184 dispatches, 115 distinct), and every copy
    would be lowered and code-generated again. Two dispatches are identical when they print
    the same (local value names, no locations) with their names left out: same signature,
    attributes (workgroup count included) and body. Every call of a duplicate is pointed at
    the first dispatch of its kind and the duplicate is erased; weights are bindings, so the
    shared code serves each call with its own.
  }];
}

def FormDispatches : Pass<"kiln-form-dispatches", "mlir::ModuleOp"> {
  let summary = "Outlines each root linalg op of a bufferized host function into a dispatch";
  let description = [{
    Runs on bufferized programs. Every linalg op of a public (host) function becomes a private
    `@<host>__dispatch_<n>` function taking the root buffers it touches (function arguments,
    `memref.alloc` transients or `memref.get_global` constants) plus a trailing `index`
    workgroup id, with the view ops between root and use cloned inside. A `linalg.fill` that
    initializes the output of the next op joins that op's dispatch, and so does an
    all-parallel op that initializes a reduction's output (the broadcast bias of a
    convolution). The elementwise ops that follow a reduction and read its output at the
    element they write (activation, residual add, the copy into the next convolution's padded
    buffer) join it too, as long as none writes a buffer the group reads or reads another
    element of one it writes: kiln-distribute-workgroups then splits them all along the same
    output dimension, and each workgroup finishes its slice while it is in cache.
    mobilenet_v2: 184 dispatches -> 99, 6.4 -> 5.5 ms on one thread. `memref.copy` becomes
    `linalg.copy` first, so that all data movement is a dispatch. The host function keeps only
    buffers and `func.call`s marked `kiln.dispatch`: it is the host program.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::func::FuncDialect",
                           "mlir::arith::ArithDialect"];
}

def ChooseExecutionModel : Pass<"kiln-choose-execution-model", "mlir::ModuleOp"> {
  let summary = "Chooses async or inline-dynamic per host function, with the reason";
  let description = [{
    A small cost model over the dispatches of each host function: the work per invocation
    (iteration-space points), the parallelism of the largest dispatch, the bytes its largest
    dispatch moves and the dispatch count. Small, serial or many-small-dispatch programs run
    inline-dynamic (queues and fences would cost more than they save); larger ones, or
    memory-bound ones moving a megabyte or more, with parallel dimensions run async.
    Writes `kiln.execution_model` and `kiln.execution_model_reason` on each host function.
  }];
  let options = [
    Option<"model", "model", "std::string", /*default=*/"\"auto\"",
           "auto, async or inline-dynamic">,
    Option<"inlineWorkThreshold", "inline-work-threshold", "int64_t", /*default=*/"1000000",
           "below this many iteration points per invocation, run inline">,
    Option<"minWorkPerDispatch", "min-work-per-dispatch", "int64_t", /*default=*/"131072",
           "only dispatches of at least this many iteration points count towards the "
           "inline-work-threshold (each async dispatch costs a queue submission and a fence)">,
    Option<"inlineBytesThreshold", "inline-bytes-threshold", "int64_t", /*default=*/"1048576",
           "below the work threshold, still run async when one dispatch moves this many bytes "
           "(memory-bound work gains the workers' bandwidth)">,
  ];
}

def DistributeWorkgroups : Pass<"kiln-distribute-workgroups", "mlir::ModuleOp"> {
  let summary = "Splits each dispatch of an async function into the workgroups its config asks";
  let description = [{
    Applies the workgroup level of each op's `kiln.lowering_config` (chosen by
    `kiln-select-lowering-strategy{level=workgroup}`): in dispatches of async host functions
    every op is tiled by its `workgroup_tiles`, the tile's offset taken from the trailing
    workgroup-id argument, and `kiln.workgroup_count` is recorded on the dispatch (the tiled
    loop's extent over the tile; every op of a dispatch must agree). It chooses nothing.
    Inline-dynamic functions run one workgroup per dispatch: their ops' workgroup level is
    dropped.
  }];
}

def PlanMemory : Pass<"kiln-plan-memory", "mlir::ModuleOp"> {
  let summary = "Packs the transients of each host function into one arena by liveness";
  let description = [{
    Each `memref.alloc` of a host function is live from its definition to its last use; the
    pass assigns 64-byte-aligned offsets (`kiln.arena_offset`) so that buffers whose lifetimes
    do not overlap share memory, largest first, and records `kiln.arena_size` on the function.
  }];
}

def SelectLoweringStrategy : Pass<"kiln-select-lowering-strategy", "mlir::func::FuncOp"> {
  let summary = "Records each op's code-generation decision as #kiln.lowering_config";
  let description = [{
    The one pass that chooses how an op is lowered; it only annotates, and the passes after it
    read `kiln.lowering_config` and choose nothing themselves. It chooses level by level, on
    the dispatch functions:

    - `level=workgroup`, as dispatches are formed (kiln-dispatch-pipeline): the output
      dimension each dispatch is split along into workgroups and the tile of it each
      workgroup computes (codegen/workgroup_tiles.cc), as `workgroup_tiles` on every op of
      the dispatch; `kiln-distribute-workgroups` applies it to dispatches of async functions.
      A dispatch better left whole gets nothing.
    - `level=codegen` (the default), in code generation, on the workgroup's ops: the rest
      (codegen/strategy.cc for this target): the product class, cache blocks and packing,
      register tiles and their loop order, vector sizes, prefetch, and how the tile is
      vectorized, for `kiln-block-for-cache`, `kiln-tile-to-registers` and
      `kiln-vectorize-tiles`. An op's workgroup level is kept.

    Ops whose config already has the level asked for keep it, so a test (or a later pass that
    rewrote an op and dropped its config) can run it again.
  }];
  let dependentDialects = ["::kiln::compiler::KilnDialect"];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "native vector register width of the target (256 AVX2, 512 AVX-512)">,
    Option<"level", "level", "std::string", /*default=*/"\"codegen\"",
           "the level to choose: workgroup (as dispatches form) or codegen (the rest)">,
    Option<"targetWorkgroups", "target-workgroups", "int64_t", /*default=*/"16",
           "level=workgroup: workgroups to aim for per dispatch (over-decomposed for load "
           "balance)">,
    Option<"minWorkPerWorkgroup", "min-work-per-workgroup", "int64_t", /*default=*/"32768",
           "level=workgroup: no workgroups smaller than this many iteration points">,
  ];
}

def BlockForCache : Pass<"kiln-block-for-cache", "mlir::func::FuncOp"> {
  let summary = "Tiles ops into the cache blocks their lowering config asks for";
  let description = [{
    Each op whose `#kiln.lowering_config` has `cache_tiles` is tiled into blocks in
    `cache_order` (ragged blocks peeled); with `pack_b` each block is marked `kiln.pack_b` for
    `kiln-pack-cache-blocks`. A function it changed is canonicalized and its ops lose their
    configs: the blocks (and whatever canonicalization touched) have other shapes, and
    `kiln-select-lowering-strategy`, run again, chooses for them. An op whose tiling fails
    stays whole (remark).
  }];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::linalg::LinalgDialect"];
}

def PackCacheBlocks : Pass<"kiln-pack-cache-blocks", "mlir::func::FuncOp"> {
  let summary = "Packs the B operand of each cache block marked kiln.pack_b into panels";
  let description = [{
    For each linalg.matmul block `kiln-block-for-cache` marked `kiln.pack_b = [strip, rows]`
    (the `pack_b` of its op's lowering config): B is packed into a stack buffer of contiguous
    panels of `strip` columns and the block becomes `rows`-row matmuls over the panels
    (codegen/pack_matmul_block.cc), which the register level then tiles. A block that cannot
    be packed is read in place (remark). The function is canonicalized after packing.
  }];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::linalg::LinalgDialect"];
}

def TileToRegisters : Pass<"kiln-tile-to-registers", "mlir::func::FuncOp"> {
  let summary = "Tiles every linalg op of a dispatch into register tiles by its lowering config";
  let description = [{
    Reads each op's `#kiln.lowering_config` (kiln-select-lowering-strategy; an op of a
    dispatch without one is an error) and tiles the op with scf.for by its `tiles` in `order`,
    peeling every loop whose step does not divide its range, so that full tiles and the ragged
    edges are each static. A `linalg.fill` of the buffer a reduction accumulates into moves
    into that op's tiles. Each tile keeps its op's config (what kiln-vectorize-tiles reads);
    ops left whole (no tiles in their config, or a tiling that failed: remark) lose theirs
    and become scalar loops.
  }];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::affine::AffineDialect",
                           "mlir::memref::MemRefDialect"];
}

def DecomposeWindowedTiles : Pass<"kiln-decompose-windowed-tiles", "mlir::func::FuncOp"> {
  let summary = "Rewrites register tiles of 2-D windowed ops into their 1-D form";
  let description = [{
    Each tile of a 2-D convolution or pooling whose lowering config says `decompose_windowed`
    (one output row by one window row, after kiln-tile-to-registers) becomes the 1-D op over
    rank-reducing views (codegen/decompose_windowed.cc), keeping its config: the vectorizer
    takes windowed ops only in their 1-D form. A tile without those unit extents stays scalar
    loops: its config is removed, with a remark.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect", "mlir::linalg::LinalgDialect"];
}

def PrefetchRows : Pass<"kiln-prefetch-rows", "mlir::func::FuncOp"> {
  let summary = "Prefetches B rows ahead of the register tiles that stream them";
  let description = [{
    Before each tile whose lowering config has `prefetch_b_rows = n` (few-row products whose
    B streams from memory), prefetches into L2 the B rows n reduction steps further on, at the
    tile's columns (codegen/prefetch_rows.cc). Configs stay for kiln-vectorize-tiles.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect", "mlir::arith::ArithDialect"];
}

def VectorizeTiles : Pass<"kiln-vectorize-tiles", "mlir::func::FuncOp"> {
  let summary = "Vectorizes the register tiles by their lowering config";
  let description = [{
    Every op that still carries a `#kiln.lowering_config` is a tile of kiln-tile-to-registers:
    static tiles are vectorized at their own shape, dynamic ones masked to `vector_sizes`;
    `named_contraction` makes vector.contract (lowered later to outer-product FMAs), and a
    `decompose_windowed` tile is vectorized in its 1-D form (kiln-decompose-windowed-tiles;
    one still 2-D stays scalar). A tile the vectorizer cannot take stays scalar loops.
    Configs are removed.
  }];
  let dependentDialects = ["mlir::vector::VectorDialect", "mlir::memref::MemRefDialect"];
}

def OptimizeAccumulators : Pass<"kiln-optimize-accumulators", "mlir::func::FuncOp"> {
  let summary = "Keeps accumulators in registers across reduction loops";
  let description = [{
    After vectorization: hoists loop-invariant vector transfers, carries each accumulator
    tile through its reduction loop in registers (codegen/hoist_accumulators.cc), forwards a
    splat fill into the accumulator it initializes, and starts long reduction loops from zero,
    adding the output after the loop (its cache lines prefetched before).
  }];
  let dependentDialects = ["mlir::vector::VectorDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect", "mlir::arith::ArithDialect"];
}

def ApproximateMath : Pass<"kiln-approximate-math", "mlir::func::FuncOp"> {
  let summary = "Replaces transcendental math ops with polynomial approximations";
  let description = [{
    Embedded ELF executables are freestanding: no libm. tanh, exp, log, erf and friends become
    polynomial approximations in arith ops (upstream's math approximation patterns), after the
    compositions that have no direct approximation are expanded into ones that do. powf, fpowi,
    asinh and acosh get kiln's own expansions, and cbrt a guard for ±inf, where upstream's are
    wrong (NaN for a negative base with an integer exponent, -inf or NaN for large negative
    inputs). f64 math is expanded the same way but not approximated: it stays libm's.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::vector::VectorDialect",
                           "mlir::math::MathDialect"];
}

#endif // KILN_COMPILER_TRANSFORMS_PASSES
