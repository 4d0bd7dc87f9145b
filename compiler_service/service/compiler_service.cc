#include "compiler_service/service/compiler_service.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "grpc_edge/grpc_status.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace cv1 = kiln::compiler::v1;

grpc::Status CompilerServiceImpl::Compile(grpc::ServerContext* context,
                                          const cv1::CompileRequest* request,
                                          cv1::CompileResponse* response) {
  auto should_continue = [context]() -> absl::Status {
    if (context->IsCancelled()) return absl::CancelledError("the client cancelled the compile");
    if (context->deadline() < std::chrono::system_clock::now())
      return absl::DeadlineExceededError("the compile's deadline passed");
    return absl::OkStatus();
  };
  auto result = cache_.Compile(*request, should_continue);
  if (!result.ok()) {
    spdlog::info("compile of '{}' failed: {}", request->source_name(), result.status().ToString());
    return ToGrpcStatus(result.status());
  }
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status CompilerServiceImpl::GetArtifact(grpc::ServerContext* context,
                                              const cv1::GetArtifactRequest* request,
                                              grpc::ServerWriter<cv1::ArtifactChunk>* writer) {
  auto file = store_.OpenModule(request->digest());
  if (!file.ok()) return ToGrpcStatus(file.status());
  // Verified by OpenModule; streamed from the mapping, so the bytes are the cache file's.
  std::span<const uint8_t> bytes = (*file)->bytes();
  size_t chunk = request->chunk_bytes() == 0
                     ? size_t{1} << 20
                     : std::clamp<size_t>(request->chunk_bytes(), 4096, size_t{4} << 20);
  for (size_t offset = 0; offset < bytes.size(); offset += chunk) {
    if (context->IsCancelled())
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the download");
    cv1::ArtifactChunk message;
    size_t length = std::min(chunk, bytes.size() - offset);
    message.set_data(reinterpret_cast<const char*>(bytes.data()) + offset, length);
    message.set_offset(offset);
    if (offset == 0) {
      message.set_total_bytes(bytes.size());
      message.set_file_sha256(FileDigest(bytes));
    }
    if (!writer->Write(message))
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  return grpc::Status::OK;
}

grpc::Status CompilerServiceImpl::CacheStats(grpc::ServerContext*, const cv1::CacheStatsRequest*,
                                             cv1::CacheStatsResponse* response) {
  ArtifactStoreStats stats = store_.Stats();
  response->set_entries(stats.entries);
  response->set_bytes(stats.bytes);
  response->set_max_bytes(stats.max_bytes);
  response->set_hits(stats.hits);
  response->set_misses(stats.misses);
  response->set_evictions(stats.evictions);
  response->set_corrupt_dropped(stats.corrupt_dropped);
  response->set_pinned_entries(stats.pinned_entries);
  response->set_compiles(cache_.compiles());
  response->set_merged_compiles(cache_.merged_compiles());
  response->set_compile_failures(cache_.compile_failures());
  response->set_cache_dir(store_.root());
  return grpc::Status::OK;
}

grpc::Status CompilerServiceImpl::ListArtifacts(grpc::ServerContext*,
                                                const cv1::ListArtifactsRequest*,
                                                cv1::ListArtifactsResponse* response) {
  for (const ArtifactInfo& info : store_.List()) {
    cv1::ArtifactInfo& out = *response->add_artifacts();
    out.set_digest(info.digest);
    out.set_size_bytes(info.size_bytes);
    out.set_last_access_unix_ms(info.last_access_unix_ms);
    out.set_pinned(info.pinned);
  }
  return grpc::Status::OK;
}

grpc::Status CompilerServiceImpl::EvictArtifacts(grpc::ServerContext*,
                                                 const cv1::EvictArtifactsRequest* request,
                                                 cv1::EvictArtifactsResponse* response) {
  absl::Status status;
  if (request->all() && request->digests_size() > 0) {
    status = absl::InvalidArgumentError("give digests or all, not both");
  } else if (!request->all() && request->digests_size() == 0) {
    status = absl::InvalidArgumentError("no digests given (set all to evict everything unused)");
  }
  if (!status.ok()) return ToGrpcStatus(status);
  EvictionResult result =
      store_.Evict(std::vector<std::string>(request->digests().begin(), request->digests().end()),
                   request->all());
  for (const std::string& digest : result.evicted) response->add_evicted(digest);
  response->set_bytes_freed(result.bytes_freed);
  for (const auto& [digest, reason] : result.skipped) {
    cv1::SkippedArtifact& skipped = *response->add_skipped();
    skipped.set_digest(digest);
    skipped.set_reason(reason);
  }
  return grpc::Status::OK;
}

}  // namespace kiln
