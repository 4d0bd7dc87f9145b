// glibc malloc settings for a process that compiles. A compile allocates, fills and frees
// buffers of a model's size again and again (its weights as the ONNX file, as imported
// tensors, as attributes, as module segments). Fresh anonymous memory costs a page fault per
// 4 KB page on first touch, and in a VM a fault is expensive: resnet18 (46 MB of weights)
// spent more time in page faults than in importing. With transparent huge pages for malloc's
// memory (one fault per 2 MB) and buffers up to 32 MB reused from the heap instead of mapped
// and unmapped each time, its one-core compile went from 2.95 to about 1.9 s.
//
// glibc reads these tunables (GLIBC_TUNABLES) only when a process starts: kilnd passes them to
// its compile workers, and kiln-compile re-executes itself with them for a large input.
#ifndef KILN_COMPILER_SERVICE_MALLOC_TUNABLES_H_
#define KILN_COMPILER_SERVICE_MALLOC_TUNABLES_H_

#include <string>
#include <vector>

namespace kiln::compiler {

// "glibc.malloc.hugetlb=1:...": what a compiling process should run with.
extern const char kCompileMallocTunables[];

// Whether this process's GLIBC_TUNABLES already carry kCompileMallocTunables' settings.
bool HasCompileMallocTunables();

// `environment` (a NULL-terminated environ) with kCompileMallocTunables put in front of its
// GLIBC_TUNABLES (glibc applies them in order, so a setting of the user's own wins), or added.
std::vector<std::string> WithCompileMallocTunables(char* const* environment);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_MALLOC_TUNABLES_H_
