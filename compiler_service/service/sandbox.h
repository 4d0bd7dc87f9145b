// The sandbox a compile worker enters before it reads its first program (issue 15): MLIR and
// LLVM parse and transform hostile input in this process, so what a compromised compiler could
// do is cut down to what compiling needs.
#ifndef KILN_COMPILER_SERVICE_SERVICE_SANDBOX_H_
#define KILN_COMPILER_SERVICE_SERVICE_SANDBOX_H_

#include <string>

#include "absl/status/status.h"

namespace kiln::compile_worker {

struct SandboxReport {
  bool seccomp = false;   // the system-call filter is in force
  bool landlock = false;  // writes are confined to the private directory
  std::string notes;      // what could not be applied on this kernel, for the log
};

// Irreversibly, for this process and its threads:
// - no new privileges (setuid binaries, file capabilities);
// - a seccomp filter that refuses (EPERM) networking (socket, connect, bind, ...), executing
//   programs, creating processes (fork, clone without CLONE_THREAD), signalling other
//   processes, ptrace and cross-process memory access, namespaces and mounts, kernel modules,
//   BPF, perf, keyrings, io_uring and userfaultfd;
// - with Landlock (Linux 5.13+), file-system writes of any kind only under `writable_dir`
//   (lld's scratch files go there through TMPDIR); reads stay open (external data, libraries).
// Everything else a compile does (threads, mmap, reads, its own temp files) is allowed.
// An error means the filter could not be installed at all; a kernel without Landlock is noted
// in the report instead.
absl::Status EnterSandbox(const std::string& writable_dir, SandboxReport& report);

}  // namespace kiln::compile_worker

#endif  // KILN_COMPILER_SERVICE_SERVICE_SANDBOX_H_
