#include "compiler_service/service/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace kiln::compile_worker {
namespace {

namespace fs = std::filesystem;

// Each check runs in a forked child (the sandbox is irreversible) whose exit status is the
// number of the first check that failed, 0 if all held.
int RunSandboxed(const std::string& writable, const std::string& outside) {
  pid_t parent = getppid();
  SandboxReport report;
  if (!EnterSandbox(writable, report).ok() || !report.seccomp) return 1;
  if (socket(AF_INET, SOCK_STREAM, 0) >= 0 || errno != EPERM) return 2;
  if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0) return 3;
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  if (execv("/bin/true", argv) == 0 || errno != EPERM) return 4;
  pid_t child = fork();
  if (child == 0) _exit(0);
  if (child >= 0 || errno != EPERM) return 5;
  if (kill(parent, 0) == 0 || errno != EPERM) return 6;
  // Threads are allowed (LLVM and lld may use them).
  bool ran = false;
  std::thread([&ran] { ran = true; }).join();
  if (!ran) return 7;
  // Reads anywhere, writes only in the private directory (when the kernel has Landlock).
  if (open("/etc/hostname", O_RDONLY) < 0 && open("/proc/self/status", O_RDONLY) < 0) return 8;
  int inside = open((writable + "/scratch").c_str(), O_CREAT | O_WRONLY, 0600);
  if (inside < 0) return 9;
  close(inside);
  if (report.landlock) {
    int escaped = open((outside + "/planted").c_str(), O_CREAT | O_WRONLY, 0600);
    if (escaped >= 0 || errno != EACCES) return 10;
  }
  return 0;
}

TEST(SandboxTest, DeniesNetworkProcessesAndWritesOutsideItsDirectory) {
  fs::path base = fs::temp_directory_path() / ("kiln-sandbox-test-" + std::to_string(getpid()));
  fs::create_directories(base / "private");
  fs::create_directories(base / "outside");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(RunSandboxed((base / "private").string(), (base / "outside").string()));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "sandbox check " << WEXITSTATUS(status) << " failed";
  EXPECT_TRUE(fs::exists(base / "private" / "scratch"));
  EXPECT_FALSE(fs::exists(base / "outside" / "planted"));
  fs::remove_all(base);
}

}  // namespace
}  // namespace kiln::compile_worker
