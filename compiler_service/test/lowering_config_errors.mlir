// RUN: kiln-opt %s --split-input-file --verify-diagnostics

// #kiln.lowering_config is checked when parsed: a config no pass could apply is an error where
// it is written, not a crash in the pass that reads it.

// expected-error @+1 {{product must be none, matrix, few_rows or matrix_vector, not 'square'}}
func.func private @bad_product() attributes {c = #kiln.lowering_config<"x", product = square>}

// -----

// expected-error @+1 {{pack_b packs cache blocks: it needs cache_tiles}}
func.func private @pack_without_blocks() attributes {c = #kiln.lowering_config<"x", pack_b = [32, 8], tiles = [8, 32, 1]>}

// -----

// expected-error @+1 {{order has 2 loops, tiles 3}}
func.func private @order_rank() attributes {c = #kiln.lowering_config<"x", tiles = [8, 32, 1], order = [1, 0]>}

// -----

// expected-error @+1 {{vector_sizes has 1 loops, tiles 2}}
func.func private @vector_rank() attributes {c = #kiln.lowering_config<"x", tiles = [1, 16], vector_sizes = [16]>}

// -----

// expected-error @+1 {{ragged_split has 3 loops, tiles 2}}
func.func private @ragged_rank() attributes {c = #kiln.lowering_config<"x", tiles = [1, 32], ragged_split = [0, 16, 0]>}

// -----

// expected-error @+1 {{a lowering config without a strategy has only its workgroup level chosen}}
func.func private @ragged_without_strategy() attributes {c = #kiln.lowering_config<workgroup_tiles = [8], ragged_split = [16]>}

// -----

// expected-error @+1 {{unknown #kiln.lowering_config field 'tile'}}
func.func private @unknown_field() attributes {c = #kiln.lowering_config<"x", tile = [8]>}

// -----

// expected-error @+1 {{tile and vector sizes must not be negative}}
func.func private @negative() attributes {c = #kiln.lowering_config<"x", tiles = [-8]>}


// -----

// expected-error @+1 {{a lowering config without a strategy must have workgroup_tiles}}
func.func private @nothing_chosen() attributes {c = #kiln.lowering_config<product = matrix>}

// -----

// expected-error @+1 {{a lowering config without a strategy has only its workgroup level chosen: name the strategy of its other levels}}
func.func private @levels_without_strategy() attributes {c = #kiln.lowering_config<workgroup_tiles = [16, 0, 0], tiles = [8, 32, 1]>}

// -----

// expected-error @+1 {{tile and vector sizes must not be negative}}
func.func private @negative_workgroup_tile() attributes {c = #kiln.lowering_config<workgroup_tiles = [-16, 0, 0]>}
