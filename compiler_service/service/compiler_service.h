// kiln.compiler.v1.CompilerService: compiles programs into the artifact store.
#ifndef KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_
#define KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "compiler_service/compiler.h"
#include "kiln/compiler/v1/compiler.grpc.pb.h"
#include "runtime_service/service/artifact_store.h"

namespace kiln {

class CompilerServiceImpl final : public kiln::compiler::v1::CompilerService::Service {
 public:
  explicit CompilerServiceImpl(const ArtifactStore& store) : store_(store) {}

  // Compiles (or finds in the store) and returns what Compile answers. Used by the RPC and
  // by kilnd's start-up model loading.
  absl::StatusOr<kiln::compiler::v1::CompileResponse> CompileToStore(
      const kiln::compiler::v1::CompileRequest& request,
      const kiln::compiler::ContinueCheck& should_continue = nullptr);

  grpc::Status Compile(grpc::ServerContext* context,
                       const kiln::compiler::v1::CompileRequest* request,
                       kiln::compiler::v1::CompileResponse* response) override;

 private:
  const ArtifactStore& store_;
};

// The artifact digest: SHA-256 over a schema version, the source bytes, the normalized options
// (with the resolved target CPU and features), the compiler build and the executable ABI.
absl::StatusOr<std::string> ArtifactDigest(std::string_view source,
                                           const kiln::compiler::CompileOptions& options);

}  // namespace kiln

#endif  // KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_
