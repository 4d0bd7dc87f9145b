// kiln.compiler.v1.CompilerService: the gRPC adapter over the compile cache (compile_cache.h)
// and the artifact store it fills (GetArtifact, CacheStats, ListArtifacts, EvictArtifacts).
// A call's deadline and cancellation become the cache's ContinueCheck; its status becomes
// gRPC's here, once.
#ifndef KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_
#define KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_

#include "artifact_cache/artifact_store.h"
#include "compiler_service/service/compile_cache.h"
#include "kiln/compiler/v1/compiler.grpc.pb.h"

namespace kiln {

class CompilerServiceImpl final : public kiln::compiler::v1::CompilerService::Service {
 public:
  // `cache` is not owned; it outlives the service.
  explicit CompilerServiceImpl(CompileCache& cache) : cache_(cache), store_(cache.store()) {}

  grpc::Status Compile(grpc::ServerContext* context,
                       const kiln::compiler::v1::CompileRequest* request,
                       kiln::compiler::v1::CompileResponse* response) override;
  grpc::Status GetArtifact(grpc::ServerContext* context,
                           const kiln::compiler::v1::GetArtifactRequest* request,
                           grpc::ServerWriter<kiln::compiler::v1::ArtifactChunk>* writer) override;
  grpc::Status CacheStats(grpc::ServerContext* context,
                          const kiln::compiler::v1::CacheStatsRequest* request,
                          kiln::compiler::v1::CacheStatsResponse* response) override;
  grpc::Status ListArtifacts(grpc::ServerContext* context,
                             const kiln::compiler::v1::ListArtifactsRequest* request,
                             kiln::compiler::v1::ListArtifactsResponse* response) override;
  grpc::Status EvictArtifacts(grpc::ServerContext* context,
                              const kiln::compiler::v1::EvictArtifactsRequest* request,
                              kiln::compiler::v1::EvictArtifactsResponse* response) override;

 private:
  CompileCache& cache_;
  const ArtifactStore& store_;
};

}  // namespace kiln

#endif  // KILN_COMPILER_SERVICE_SERVICE_COMPILER_SERVICE_H_
