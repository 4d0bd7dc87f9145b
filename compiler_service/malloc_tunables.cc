#include "compiler_service/malloc_tunables.h"

#include <cstdlib>
#include <string_view>

namespace kiln::compiler {

// hugetlb=1: malloc madvises its memory for transparent huge pages (where the kernel's THP mode
// is "madvise" or "always"). mmap_threshold: buffers up to 32 MB come from the heap and are
// reused; trim_threshold: up to 256 MB of freed heap stays with the process between buffers.
const char kCompileMallocTunables[] =
    "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:"
    "glibc.malloc.trim_threshold=268435456";

bool HasCompileMallocTunables() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr &&
         std::string_view(tunables).find(kCompileMallocTunables) != std::string_view::npos;
}

std::vector<std::string> WithCompileMallocTunables(char* const* environment) {
  constexpr std::string_view kName = "GLIBC_TUNABLES=";
  std::vector<std::string> result;
  bool merged = false;
  for (char* const* entry = environment; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view variable(*entry);
    if (!merged && variable.substr(0, kName.size()) == kName) {
      std::string_view user = variable.substr(kName.size());
      std::string value = std::string(kName) + kCompileMallocTunables;
      if (!user.empty()) value.append(":").append(user);
      result.push_back(std::move(value));
      merged = true;
      continue;
    }
    result.emplace_back(variable);
  }
  if (!merged) result.push_back(std::string(kName) + kCompileMallocTunables);
  return result;
}

}  // namespace kiln::compiler
