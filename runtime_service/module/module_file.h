// The kiln module file: the single implementation of the format, used by the compiler's module
// writer and the runtime's module reader alike.
//
// Layout: [ModuleFileHeader, 64 bytes][ModuleDef protobuf][pad][segment]...[pad][segment]
// Every segment starts at a multiple of its alignment (>= 64) so that an mmap of the file can
// use weights and executables in place.
#ifndef KILN_RUNTIME_SERVICE_MODULE_MODULE_FILE_H_
#define KILN_RUNTIME_SERVICE_MODULE_MODULE_FILE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"

namespace kiln::module {

inline constexpr char kModuleMagic[8] = {'K', 'I', 'L', 'N', 'M', 'O', 'D', '\0'};
inline constexpr uint32_t kModuleFormatVersion = 1;
inline constexpr uint64_t kSegmentAlignment = 64;
// Upper bound on the metadata a reader accepts: a guard against hostile headers.
inline constexpr uint64_t kMaxMetadataLength = 64ull << 20;

struct ModuleFileHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_length;    // sizeof(ModuleFileHeader)
  uint64_t metadata_offset;  // == header_length
  uint64_t metadata_length;  // bytes of the serialized ModuleDef
  uint64_t file_length;      // total file size
  uint8_t reserved[24];      // zero
};
static_assert(sizeof(ModuleFileHeader) == 64);

// Builds a module file. Segments are added first; their offsets are assigned by Serialize.
class ModuleBuilder {
 public:
  ModuleBuilder();
  kiln::module::v1::ModuleDef& def() { return def_; }
  // Adds a segment and returns its index into def().segments(). The data is copied.
  uint32_t AddSegment(std::string name, std::span<const uint8_t> data,
                      uint32_t alignment = kSegmentAlignment);
  // The same, taking the bytes over instead of copying them.
  uint32_t AddOwnedSegment(std::string name, std::string&& data,
                           uint32_t alignment = kSegmentAlignment);
  // Lays out and returns the complete file. Fills every SegmentDef's offset/length/sha256.
  absl::StatusOr<std::string> Serialize();

 private:
  kiln::module::v1::ModuleDef def_;
  std::vector<std::string> segment_data_;
};

// How ModuleFile::Open reads a file.
struct ModuleOpenOptions {
  // Refuse a symbolic link at the path itself (O_NOFOLLOW): nothing in the artifact cache is one.
  bool follow_symlinks = true;
  // When set, the file must have exactly this many bytes, checked before anything is read.
  std::optional<uint64_t> expected_size;
  // Runs over exactly the bytes read, before they are parsed (the artifact cache's HMAC); its
  // error is returned as is.
  std::function<absl::Status(std::span<const uint8_t>)> authenticate;
};

// A validated, read-only module file, held in this process's own memory (read from disk or
// copied from memory, never mapped from the file).
class ModuleFile {
 public:
  ~ModuleFile();
  ModuleFile(const ModuleFile&) = delete;
  ModuleFile& operator=(const ModuleFile&) = delete;

  // Reads and validates a file. Only a regular file is read (opened O_NONBLOCK, so a FIFO never
  // blocks, then fstat); its bytes are copied into private read-only memory, so the module is
  // immune to later changes of the file: truncating it cannot SIGBUS, overwriting it cannot
  // change weights or code. Errors: NOT_FOUND (no such file), INVALID_ARGUMENT (not a regular
  // file, a refused symlink, not a kiln module / unsupported version), DATA_LOSS (truncated,
  // bad bounds, hash mismatch, a size other than expected_size), PERMISSION_DENIED.
  static absl::StatusOr<std::unique_ptr<ModuleFile>> Open(const std::string& path,
                                                          const ModuleOpenOptions& options = {});
  // Validates an in-memory module (copied into 64-byte-aligned storage).
  static absl::StatusOr<std::unique_ptr<ModuleFile>> FromBytes(std::span<const uint8_t> bytes);

  const kiln::module::v1::ModuleDef& def() const { return def_; }
  std::span<const uint8_t> segment(uint32_t index) const;
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  ModuleFile() = default;
  absl::Status Validate();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // munmap (anonymous memory of Open) vs free on destruction
  kiln::module::v1::ModuleDef def_;
};

}  // namespace kiln::module

#endif  // KILN_RUNTIME_SERVICE_MODULE_MODULE_FILE_H_
