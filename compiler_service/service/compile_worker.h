// The compile worker process: kilnd re-executes itself as `kilnd --compile-worker DIR BYTES`
// (private directory, address-space limit) with one end of a socketpair as fd 3, and the child
// compiles one program per request until the socket closes (see compile_worker_pool.h for the
// parent's side).
#ifndef KILN_COMPILER_SERVICE_SERVICE_COMPILE_WORKER_H_
#define KILN_COMPILER_SERVICE_SERVICE_COMPILE_WORKER_H_

#include <cstdint>

namespace kiln::compile_worker {

// The argv[1] that makes kilnd a worker, and the worker's channel.
inline constexpr const char* kWorkerFlag = "--compile-worker";
inline constexpr int kChannelFd = 3;

// Exit statuses the parent turns into a request's status.
inline constexpr int kExitOutOfMemory = 86;  // an allocation failed (RLIMIT_AS)
inline constexpr int kExitSandboxFailed = 87;
inline constexpr int kExitProtocolError = 88;

// Runs the worker: limits its address space to `memory_limit_bytes` (0: none) and core dumps to
// nothing, enters the sandbox (writes confined to `private_dir`, which becomes the
// working and temp directory), then serves compiles on kChannelFd until it closes or the parent
// dies. Returns the process exit status. Allocation failures end the process with
// kExitOutOfMemory; crashes (a stack overflow in the parser, an abort) end it by the signal,
// which the parent reports as that one compile's failure.
int RunCompileWorker(const char* private_dir, uint64_t memory_limit_bytes);

// main()'s entry: argv is {program, kWorkerFlag, DIR, BYTES}.
int CompileWorkerMain(int argc, char** argv);

}  // namespace kiln::compile_worker

#endif  // KILN_COMPILER_SERVICE_SERVICE_COMPILE_WORKER_H_
