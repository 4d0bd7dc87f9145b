// The kiln dialect: attributes that carry kiln's compiler decisions in the IR, where lit tests
// and `kiln-opt` can see them.
#ifndef KILN_COMPILER_DIALECT_KILN_DIALECT
#define KILN_COMPILER_DIALECT_KILN_DIALECT

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/DialectBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln::compiler";
  let summary = "kiln's compiler decisions as IR attributes";
  let description = [{
    Holds `#kiln.lowering_config`, the one record of how an op is lowered. Other `kiln.*`
    attributes (dispatch markers, workgroup counts, arena offsets) are discardable attributes
    named in the dialect's namespace; they are not parsed as dialect attributes.
  }];
  let useDefaultAttributePrinterParser = 1;
}

def Kiln_LoweringConfigAttr : AttrDef<Kiln_Dialect, "LoweringConfig"> {
  let mnemonic = "lowering_config";
  let summary = "every level of one op's code-generation decision";
  let description = [{
    Chosen by `kiln-select-lowering-strategy` and only read by the passes after it. The
    selection runs twice, level by level: on each dispatch as it is formed
    (`level=workgroup`, codegen/workgroup_tiles.cc) it chooses the workgroup level, which
    `kiln-distribute-workgroups` applies; on the workgroup's ops in code generation it
    chooses the rest (codegen/strategy.cc, one function per op kind), which
    `kiln-block-for-cache` (cache level), `kiln-tile-to-registers` and `kiln-vectorize-tiles`
    (register level) apply. Loop-indexed arrays have one entry per loop of the op (0: not
    tiled at that level).

      #kiln.lowering_config<workgroup_tiles = [64, 0, 0]>
      #kiln.lowering_config<"contraction", workgroup_tiles = [64, 0, 0], product = matrix,
          cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], pack_b = [32, 8],
          tiles = [8, 32, 1], vector_sizes = [8, 32, 1], ragged_split = [0, 16, 0],
          named_contraction>

    - strategy: a name for the chosen strategy (diagnostics and tests); absent while only the
      workgroup level is chosen (and then no other level may be set);
    - workgroup_tiles: the slice of the op each workgroup of an async dispatch computes
      (empty: one workgroup); kept on the workgroup's ops, whose loops then span one tile;
    - product: the class of a contraction (none, matrix, few_rows, matrix_vector), the one
      predicate distribution and the split pass share with codegen;
    - cache_tiles / cache_order: cache blocks and their loop order (empty: no cache level);
    - pack_b: [strip, rows]: each cache block's B packed into panels of `strip` columns for
      register tiles of `rows` rows;
    - tiles / order: the register (vector) tiles and their loop order; empty tiles: the op
      stays scalar loops;
    - vector_sizes: the vector shape of a tile that is still dynamic after peeling;
    - ragged_split: a register tile whose extent along a loop is over ragged_split[loop] and
      not a multiple of it is cut at the last multiple (0: never cut): a ragged edge of 31
      columns becomes a whole vector of 16 and a remainder of 15, instead of one odd vector
      of 31 that LLVM legalizes piece by piece, or one-vector tiles everywhere;
    - prefetch_b_rows: prefetch B this many reduction steps ahead (0: no);
    - named_contraction: vectorize to vector.contract (outer products on the register tile);
    - decompose_windowed: rewrite each unit-height tile of a 2-D windowed op to 1-D first.
  }];
  let parameters = (ins
    StringRefParameter<"strategy name", "\"\"">:$strategy,
    OptionalArrayRefParameter<"int64_t">:$workgroup_tiles,
    StringRefParameter<"product class", "\"none\"">:$product,
    OptionalArrayRefParameter<"int64_t">:$cache_tiles,
    OptionalArrayRefParameter<"int64_t">:$cache_order,
    OptionalArrayRefParameter<"int64_t">:$pack_b,
    OptionalArrayRefParameter<"int64_t">:$tiles,
    OptionalArrayRefParameter<"int64_t">:$order,
    OptionalArrayRefParameter<"int64_t">:$vector_sizes,
    OptionalArrayRefParameter<"int64_t">:$ragged_split,
    DefaultValuedParameter<"int64_t", "0">:$prefetch_b_rows,
    DefaultValuedParameter<"bool", "false">:$named_contraction,
    DefaultValuedParameter<"bool", "false">:$decompose_windowed
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

#endif  // KILN_COMPILER_DIALECT_KILN_DIALECT
