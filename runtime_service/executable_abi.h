/* kiln executable ABI: the one contract between code the compiler emits and the runtime's
 * executable loaders. Standalone C (only <stdint.h>/<stddef.h>) so that generated code, the
 * runtime and tests can all include it. The compiler emits these structs as LLVM constants
 * (compiler_service/codegen/abi_wrapper.cc); the layout checks in executable_abi_test.cc pin
 * every offset, so a change here that the compiler does not mirror fails a test.
 *
 * A library exports one symbol, KILN_LIBRARY_QUERY_SYMBOL, of type kiln_library_query_fn_t.
 * The runtime calls it once after loading and validates the returned library struct: ABI
 * version, required CPU features (a mismatch is a load error, never SIGILL), exports. */
#ifndef KILN_RUNTIME_SERVICE_EXECUTABLE_ABI_H_
#define KILN_RUNTIME_SERVICE_EXECUTABLE_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible layout or semantic change. Version 2: each export declares the bytes
 * it accesses through each binding, which bindings it writes and the grid it was compiled for, so
 * that the runtime proves at load time that a module's host program cannot make the code read or
 * write outside the buffers it is given (runtime_service/program/program_verifier.cc). */
#define KILN_EXECUTABLE_ABI_VERSION 2u

#define KILN_LIBRARY_QUERY_SYMBOL "kiln_library_query"

/* CPU features a library may require (bit positions are stable). */
enum kiln_cpu_feature_bits {
  KILN_CPU_FEATURE_SSE4_2 = 1ull << 0,
  KILN_CPU_FEATURE_AVX = 1ull << 1,
  KILN_CPU_FEATURE_AVX2 = 1ull << 2,
  KILN_CPU_FEATURE_FMA = 1ull << 3,
  KILN_CPU_FEATURE_F16C = 1ull << 4,
  KILN_CPU_FEATURE_BMI2 = 1ull << 5,
  KILN_CPU_FEATURE_AVX512F = 1ull << 6,
  KILN_CPU_FEATURE_AVX512VL = 1ull << 7,
  KILN_CPU_FEATURE_AVX512BW = 1ull << 8,
  KILN_CPU_FEATURE_AVX512DQ = 1ull << 9,
  KILN_CPU_FEATURE_AVX512CD = 1ull << 10,
  KILN_CPU_FEATURE_AVX512VNNI = 1ull << 11,
  KILN_CPU_FEATURE_AVX512BF16 = 1ull << 12,
  KILN_CPU_FEATURE_AVX512FP16 = 1ull << 13,
};

/* Per-process environment handed to every call: imports resolved by the runtime. */
typedef struct kiln_executable_env_t {
  uint32_t abi_version;
  uint32_t import_count;
  /* import_thunks[i] implements library->imports[i]. */
  void* const* import_thunks;
} kiln_executable_env_t;

/* Per-dispatch state, shared by all workgroups of one dispatch. */
typedef struct kiln_dispatch_state_t {
  uint32_t workgroup_count[3];
  uint32_t workgroup_size[3];
  uint32_t binding_count;
  uint32_t constant_count;
  void* const* binding_ptrs;     /* binding_count base pointers */
  const size_t* binding_lengths; /* binding_count byte lengths */
  const uint32_t* constants;     /* constant_count push constants */
} kiln_dispatch_state_t;

/* Per-workgroup state. */
typedef struct kiln_workgroup_state_t {
  uint32_t workgroup_id[3];
  uint32_t worker_id;
  void* scratch; /* worker-local scratch memory, may be NULL */
  size_t scratch_size;
} kiln_workgroup_state_t;

/* What a dispatch returns. Kernels check what no load-time proof can: indices computed from the
 * data (a gather's, an embedding lookup's). */
enum kiln_dispatch_status {
  KILN_DISPATCH_OK = 0,
  /* An index computed from the data was outside the tensor it indexes. Nothing was read out of
   * bounds (the kernel read element 0 instead), and the dispatch's results are not valid. */
  KILN_DISPATCH_INDEX_OUT_OF_RANGE = 1,
};

/* Called once per workgroup. Returns KILN_DISPATCH_OK, or a kiln_dispatch_status or other
 * non-zero code on failure. */
typedef int (*kiln_dispatch_fn_t)(const kiln_executable_env_t* env,
                                  const kiln_dispatch_state_t* dispatch_state,
                                  const kiln_workgroup_state_t* workgroup_state);

/* What an export does with one of its bindings. */
enum kiln_binding_flag_bits {
  KILN_BINDING_FLAG_WRITTEN = 1u << 0, /* the export stores to it: never an input or constant */
  /* The export loads from it: unless it also writes it, something must have written it first
   * (an operand whose contents the code never uses, like a pooling window, is not read). */
  KILN_BINDING_FLAG_READ = 1u << 1,
};

typedef struct kiln_binding_t {
  /* Bytes from the binding's start that the export may access, whatever binding_lengths says;
   * a dispatch must bind at least this many. 0: the export bounds every access by
   * binding_lengths itself (hand-written code). */
  uint64_t length;
  uint32_t flags; /* kiln_binding_flag_bits */
  uint32_t reserved;
} kiln_binding_t;

typedef struct kiln_export_t {
  const char* name;
  kiln_dispatch_fn_t fn;
  uint32_t binding_count;
  uint32_t constant_count;
  uint32_t workgroup_size[3];     /* hint */
  uint32_t flags;                 /* reserved, 0 */
  const kiln_binding_t* bindings; /* binding_count entries (NULL only when there are none) */
  /* The grid the code was compiled for: its workgroups index their tiles by workgroup_id, so a
   * dispatch must use exactly this count. 0 in a dimension: any count (the export bounds itself
   * by workgroup_count, as hand-written code does). */
  uint32_t workgroup_count[3];
  uint32_t reserved;
} kiln_export_t;

typedef struct kiln_import_t {
  const char* name;
  uint32_t flags; /* reserved, 0 */
  uint32_t reserved;
} kiln_import_t;

typedef struct kiln_library_t {
  uint32_t abi_version;
  uint32_t flags; /* reserved, 0 */
  const char* name;
  uint64_t required_cpu_features; /* kiln_cpu_feature_bits */
  uint32_t export_count;
  uint32_t import_count;
  const kiln_export_t* exports;
  const kiln_import_t* imports;
} kiln_library_t;

/* Returns NULL when the library cannot serve max_abi_version. */
typedef const kiln_library_t* (*kiln_library_query_fn_t)(uint32_t max_abi_version,
                                                         const kiln_executable_env_t* env);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_SERVICE_EXECUTABLE_ABI_H_ */
