/* A hand-written executable library implementing the kiln executable ABI, for the loader and
 * runtime tests. Built as several shared objects whose defines vary the library struct:
 *   KILN_TEST_LIBRARY_NAME      library name
 *   KILN_TEST_ABI_VERSION       abi_version in the struct (default: the runtime's)
 *   KILN_TEST_HONOR_MAX_VERSION return NULL when the runtime's max version is lower
 *   KILN_TEST_REQUIRED_FEATURES required_cpu_features bits
 *   KILN_TEST_SYMBOL_RELOCATIONS `fail` reads its result through interposable symbols, giving
 *                               the embedded-ELF loader GLOB_DAT, JUMP_SLOT and 64 relocations
 *   KILN_TEST_IMPORT_MISSING    `fail` calls a function defined nowhere (an undefined symbol) */
#include "runtime_service/executable_abi.h"

#ifndef KILN_TEST_LIBRARY_NAME
#define KILN_TEST_LIBRARY_NAME "kiln_test_library"
#endif
#ifndef KILN_TEST_ABI_VERSION
#define KILN_TEST_ABI_VERSION KILN_EXECUTABLE_ABI_VERSION
#endif
#ifndef KILN_TEST_REQUIRED_FEATURES
#define KILN_TEST_REQUIRED_FEATURES 0
#endif

/* The [begin, end) slice of n elements that workgroup `id` of `count` handles. */
static void slice(size_t n, uint32_t id, uint32_t count, size_t* begin, size_t* end) {
  size_t per = (n + count - 1) / count;
  *begin = per * id < n ? per * id : n;
  *end = *begin + per < n ? *begin + per : n;
}

/* binding2[i] = binding0[i] + binding1[i], sliced along workgroup x. */
static int add_f32(const kiln_executable_env_t* env, const kiln_dispatch_state_t* dispatch,
                   const kiln_workgroup_state_t* workgroup) {
  (void)env;
  if (dispatch->binding_count != 3) return 1;
  size_t n = dispatch->binding_lengths[2] / sizeof(float);
  if (dispatch->binding_lengths[0] < n * sizeof(float) ||
      dispatch->binding_lengths[1] < n * sizeof(float))
    return 2;
  const float* a = (const float*)dispatch->binding_ptrs[0];
  const float* b = (const float*)dispatch->binding_ptrs[1];
  float* c = (float*)dispatch->binding_ptrs[2];
  size_t begin, end;
  slice(n, workgroup->workgroup_id[0], dispatch->workgroup_count[0], &begin, &end);
  for (size_t i = begin; i < end; ++i) c[i] = a[i] + b[i];
  return 0;
}

/* binding1[i] = binding0[i] * bitcast<float>(constant0), one workgroup. */
static int scale_f32(const kiln_executable_env_t* env, const kiln_dispatch_state_t* dispatch,
                     const kiln_workgroup_state_t* workgroup) {
  (void)env;
  (void)workgroup;
  if (dispatch->binding_count != 2 || dispatch->constant_count != 1) return 1;
  union {
    uint32_t bits;
    float value;
  } scale;
  scale.bits = dispatch->constants[0];
  size_t n = dispatch->binding_lengths[1] / sizeof(float);
  if (dispatch->binding_lengths[0] < n * sizeof(float)) return 2;
  const float* in = (const float*)dispatch->binding_ptrs[0];
  float* out = (float*)dispatch->binding_ptrs[1];
  for (size_t i = 0; i < n; ++i) out[i] = in[i] * scale.value;
  return 0;
}

/* Records what each workgroup saw: binding0 is u32[count_x*count_y*count_z][4] of
 * {x | y << 8 | z << 16, workgroup_size[0], workgroup_size[1], workgroup_size[2]}. */
static int probe(const kiln_executable_env_t* env, const kiln_dispatch_state_t* dispatch,
                 const kiln_workgroup_state_t* workgroup) {
  (void)env;
  const uint32_t* id = workgroup->workgroup_id;
  const uint32_t* count = dispatch->workgroup_count;
  size_t linear = ((size_t)id[2] * count[1] + id[1]) * count[0] + id[0];
  if (dispatch->binding_lengths[0] < (linear + 1) * 4 * sizeof(uint32_t)) return 3;
  uint32_t* out = (uint32_t*)dispatch->binding_ptrs[0] + linear * 4;
  out[0] = id[0] | id[1] << 8 | id[2] << 16;
  out[1] = dispatch->workgroup_size[0];
  out[2] = dispatch->workgroup_size[1];
  out[3] = dispatch->workgroup_size[2];
  return 0;
}

#ifdef KILN_TEST_SYMBOL_RELOCATIONS
/* Default-visibility definitions are interposable in a shared object, so references to them
 * go through the GOT and PLT: the pointer's initializer is an R_X86_64_64, its GOT entry a
 * GLOB_DAT and the call a JUMP_SLOT, all against defined symbols. */
__attribute__((visibility("default"))) int kiln_test_fail_code = 7;
__attribute__((visibility("default"))) int* const kiln_test_fail_code_ptr = &kiln_test_fail_code;
__attribute__((visibility("default"), noinline)) int kiln_test_read_fail_code(void) {
  return *kiln_test_fail_code_ptr;
}
#endif
#ifdef KILN_TEST_IMPORT_MISSING
__attribute__((visibility("default"))) extern int kiln_test_missing(void);
#endif

static int fail(const kiln_executable_env_t* env, const kiln_dispatch_state_t* dispatch,
                const kiln_workgroup_state_t* workgroup) {
  (void)env;
  (void)dispatch;
  (void)workgroup;
#if defined(KILN_TEST_IMPORT_MISSING)
  return kiln_test_missing();
#elif defined(KILN_TEST_SYMBOL_RELOCATIONS)
  return kiln_test_read_fail_code();
#else
  return 7;
#endif
}

/* binding1[0, 64) = binding0[0, 64), as compiled code does it: trusting the declared lengths and
 * grid (two workgroups of 32 bytes), never reading binding_lengths or workgroup_count. */
static int copy64(const kiln_executable_env_t* env, const kiln_dispatch_state_t* dispatch,
                  const kiln_workgroup_state_t* workgroup) {
  (void)env;
  const uint8_t* in = (const uint8_t*)dispatch->binding_ptrs[0];
  uint8_t* out = (uint8_t*)dispatch->binding_ptrs[1];
  for (size_t i = 0; i < 32; ++i) {
    size_t at = (size_t)workgroup->workgroup_id[0] * 32 + i;
    out[at] = in[at];
  }
  return 0;
}

/* The hand-written kernels bound themselves by binding_lengths and workgroup_count: length 0 and
 * grid 0 (any). copy64 declares what it needs, like compiled code. */
#define R KILN_BINDING_FLAG_READ
#define W KILN_BINDING_FLAG_WRITTEN
static const kiln_binding_t kAddBindings[] = {{0, R, 0}, {0, R, 0}, {0, W, 0}};
static const kiln_binding_t kScaleBindings[] = {{0, R, 0}, {0, W, 0}};
static const kiln_binding_t kProbeBindings[] = {{0, W, 0}};
static const kiln_binding_t kCopy64Bindings[] = {{64, R, 0}, {64, W, 0}};
#undef R
#undef W

static const kiln_export_t kExports[] = {
    {"add_f32", add_f32, 3, 0, {64, 1, 1}, 0, kAddBindings, {0, 0, 0}, 0},
    {"scale_f32", scale_f32, 2, 1, {1, 1, 1}, 0, kScaleBindings, {0, 0, 0}, 0},
    {"probe", probe, 1, 0, {8, 4, 2}, 0, kProbeBindings, {0, 0, 0}, 0},
    {"fail", fail, 0, 0, {1, 1, 1}, 0, NULL, {0, 0, 0}, 0},
    {"copy64", copy64, 2, 0, {1, 1, 1}, 0, kCopy64Bindings, {2, 1, 1}, 0},
};

static const kiln_library_t kLibrary = {
    KILN_TEST_ABI_VERSION,
    0,
    KILN_TEST_LIBRARY_NAME,
    KILN_TEST_REQUIRED_FEATURES,
    sizeof(kExports) / sizeof(kExports[0]),
    0,
    kExports,
    NULL,
};

__attribute__((visibility("default"))) const kiln_library_t* kiln_library_query(
    uint32_t max_abi_version, const kiln_executable_env_t* env) {
  (void)env;
#ifdef KILN_TEST_HONOR_MAX_VERSION
  if (max_abi_version < KILN_TEST_ABI_VERSION) return NULL;
#else
  (void)max_abi_version;
#endif
  return &kLibrary;
}
