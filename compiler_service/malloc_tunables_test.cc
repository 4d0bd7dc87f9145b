#include "compiler_service/malloc_tunables.h"

#include <gtest/gtest.h>

namespace kiln::compiler {
namespace {

TEST(MallocTunablesTest, AddedWhenAbsent) {
  char path[] = "PATH=/usr/bin";
  char* environment[] = {path, nullptr};
  EXPECT_EQ(WithCompileMallocTunables(environment),
            (std::vector<std::string>{"PATH=/usr/bin",
                                      std::string("GLIBC_TUNABLES=") + kCompileMallocTunables}));
}

TEST(MallocTunablesTest, UserSettingsComeLastSoTheyWin) {
  char path[] = "PATH=/usr/bin";
  char tunables[] = "GLIBC_TUNABLES=glibc.malloc.hugetlb=0";
  char* environment[] = {tunables, path, nullptr};
  EXPECT_EQ(WithCompileMallocTunables(environment),
            (std::vector<std::string>{
                std::string("GLIBC_TUNABLES=") + kCompileMallocTunables + ":glibc.malloc.hugetlb=0",
                "PATH=/usr/bin"}));
}

TEST(MallocTunablesTest, EmptyEnvironment) {
  char* environment[] = {nullptr};
  EXPECT_EQ(WithCompileMallocTunables(environment).size(), 1u);
  EXPECT_EQ(WithCompileMallocTunables(nullptr).size(), 1u);
}

}  // namespace
}  // namespace kiln::compiler
