#include "compiler_service/service/sandbox.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace kiln::compile_worker {

namespace {

// Landlock ABI 3's right (Linux 6.2); Debian 12's headers stop at ABI 2.
constexpr uint64_t kAccessFsTruncate = uint64_t{1} << 14;

// System calls a compile never needs and an attacker would want. A denylist (not an allowlist)
// because LLVM, glibc and lld between them use a long, version-dependent list of ordinary calls;
// what matters is that nothing here reaches the network, another process or the kernel's
// attack surface.
constexpr const char* kDenied[] = {
    // network
    // (send/recv stay: the worker's own channel is a socketpair, and without socket() and
    // connect() there is nothing else to send to.)
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    // other programs and processes
    "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "tkill", "rt_sigqueueinfo",
    "rt_tgsigqueueinfo", "kcmp",
    // namespaces, mounts, identity
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "setuid", "setgid", "setreuid",
    "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    // the kernel's larger attack surfaces
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "personality", "open_by_handle_at",
    "name_to_handle_at", "quotactl", "swapon", "swapoff", "reboot", "acct", "syslog", "iopl",
    "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup",
    "lookup_dcookie", "fanotify_init", "ustat", "sysfs", "uselib", "nfsservctl", "mbind",
    "migrate_pages", "move_pages", "set_mempolicy"};

struct SeccompDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};

absl::Status InstallSeccomp() {
  std::unique_ptr<void, SeccompDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return absl::InternalError("seccomp_init failed");
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not a system call on this architecture
    if (int rc = seccomp_rule_add(ctx.get(), deny, nr, 0); rc < 0)
      return absl::InternalError(absl::StrCat("seccomp rule for ", name, ": ", std::strerror(-rc)));
  }
  const auto self = static_cast<scmp_datum_t>(getpid());
  // Signals only to itself (abort() and raise() use tgkill on their own process).
  if (seccomp_rule_add(ctx.get(), deny, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_NE, self)) < 0 ||
      seccomp_rule_add(ctx.get(), deny, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_NE, self)) < 0)
    return absl::InternalError("seccomp rule for kill/tgkill failed");
  // Threads yes, processes no: clone needs CLONE_THREAD. clone3 passes its flags in memory a
  // filter cannot read, so it reports ENOSYS and glibc falls back to clone.
  if (seccomp_rule_add(ctx.get(), deny, SCMP_SYS(clone), 1,
                       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)) < 0 ||
      seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
    return absl::InternalError("seccomp rule for clone failed");
  if (int rc = seccomp_load(ctx.get()); rc < 0)
    return absl::InternalError(absl::StrCat("seccomp_load: ", std::strerror(-rc)));
  return absl::OkStatus();
}

// Landlock: every kind of file-system write is handled (so denied), then allowed beneath
// `writable_dir` only. The access rights of newer ABIs are added when the kernel has them.
absl::Status InstallLandlock(const std::string& writable_dir, std::string& notes) {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) {
    notes = absl::StrCat("Landlock unavailable (", std::strerror(errno),
                         "): file-system writes are not confined");
    return absl::UnavailableError(notes);
  }
  uint64_t writes =
      LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
      LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
      LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
      LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_EXECUTE;
  if (abi >= 2) writes |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) writes |= kAccessFsTruncate;
  landlock_ruleset_attr ruleset{};
  ruleset.handled_access_fs = writes;
  int ruleset_fd =
      static_cast<int>(syscall(SYS_landlock_create_ruleset, &ruleset, sizeof(ruleset), 0));
  if (ruleset_fd < 0)
    return absl::InternalError(absl::StrCat("landlock_create_ruleset: ", std::strerror(errno)));
  int dir_fd = open(writable_dir.c_str(), O_PATH | O_CLOEXEC | O_DIRECTORY);
  if (dir_fd < 0) {
    close(ruleset_fd);
    return absl::InternalError(
        absl::StrCat("cannot open the worker directory: ", std::strerror(errno)));
  }
  landlock_path_beneath_attr beneath{};
  beneath.allowed_access = writes & ~static_cast<uint64_t>(LANDLOCK_ACCESS_FS_EXECUTE);
  beneath.parent_fd = dir_fd;
  long added = syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0);
  int add_errno = errno;
  close(dir_fd);
  if (added < 0) {
    close(ruleset_fd);
    return absl::InternalError(absl::StrCat("landlock_add_rule: ", std::strerror(add_errno)));
  }
  long restricted = syscall(SYS_landlock_restrict_self, ruleset_fd, 0);
  int restrict_errno = errno;
  close(ruleset_fd);
  if (restricted < 0)
    return absl::InternalError(
        absl::StrCat("landlock_restrict_self: ", std::strerror(restrict_errno)));
  return absl::OkStatus();
}

}  // namespace

absl::Status EnterSandbox(const std::string& writable_dir, SandboxReport& report) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return absl::InternalError(absl::StrCat("PR_SET_NO_NEW_PRIVS: ", std::strerror(errno)));
  // Not dumpable: other processes of the same user cannot ptrace it or read its memory.
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  absl::Status landlock = InstallLandlock(writable_dir, report.notes);
  report.landlock = landlock.ok();
  if (!landlock.ok() && !absl::IsUnavailable(landlock)) return landlock;
  if (absl::Status seccomp = InstallSeccomp(); !seccomp.ok()) return seccomp;
  report.seccomp = true;
  return absl::OkStatus();
}

}  // namespace kiln::compile_worker
