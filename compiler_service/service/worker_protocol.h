// What crosses the socket between kilnd and a compile worker: CompileOptions and CompileResult
// (compiler_service/compiler.h) as kiln.compiler.worker.v1 messages, both directions.
#ifndef KILN_COMPILER_SERVICE_SERVICE_WORKER_PROTOCOL_H_
#define KILN_COMPILER_SERVICE_SERVICE_WORKER_PROTOCOL_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "compiler_service/compiler.h"
#include "kiln/compiler/worker/v1/worker.pb.h"

namespace kiln::compile_worker {

namespace wv1 = kiln::compiler::worker::v1;

// The debugging hooks (dump_after/dump) do not cross: workers compile for the daemon only.
wv1::WorkerCompileRequest ToRequest(std::string_view source,
                                    const kiln::compiler::CompileOptions& options);
kiln::compiler::CompileOptions ToOptions(const wv1::WorkerCompileRequest& request);

wv1::WorkerCompileResponse ToResponse(const absl::StatusOr<kiln::compiler::CompileResult>& result);
absl::StatusOr<kiln::compiler::CompileResult> FromResponse(wv1::WorkerCompileResponse response);

}  // namespace kiln::compile_worker

#endif  // KILN_COMPILER_SERVICE_SERVICE_WORKER_PROTOCOL_H_
