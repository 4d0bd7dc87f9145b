#include "runtime_service/module/module_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln::module {

namespace mv1 = kiln::module::v1;

// The header is written and read with memcpy: the format is little-endian.
static_assert(std::endian::native == std::endian::little);

namespace {

constexpr uint64_t kHeaderLength = sizeof(ModuleFileHeader);
constexpr uint64_t kStorageAlignment = 4096;

// Rounds `value` up to a multiple of the power of two `alignment`; false on overflow.
bool AlignUp(uint64_t value, uint64_t alignment, uint64_t* out) {
  uint64_t mask = alignment - 1;
  if (value > std::numeric_limits<uint64_t>::max() - mask) return false;
  *out = (value + mask) & ~mask;
  return true;
}

bool IsValidAlignment(uint64_t alignment) {
  return alignment >= kSegmentAlignment && std::has_single_bit(alignment);
}

absl::Status CheckTensorType(const mv1::FunctionDef& function, const char* kind,
                             const mv1::ArgumentDef& arg) {
  if (DataTypeSize(arg.type().dtype()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("function '", function.name(), "' ", kind, " '",
                                                   arg.name(), "' has unsupported data type ",
                                                   static_cast<int>(arg.type().dtype())));
  }
  auto length = ByteLength(arg.type().dtype(), std::span<const int64_t>(arg.type().shape().data(),
                                                                        arg.type().shape().size()));
  if (!length.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("function '", function.name(), "' ", kind, " '",
                                                   arg.name(), "': ", length.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- ModuleBuilder ----

ModuleBuilder::ModuleBuilder() { def_.set_executable_abi_version(KILN_EXECUTABLE_ABI_VERSION); }

uint32_t ModuleBuilder::AddSegment(std::string name, std::span<const uint8_t> data,
                                   uint32_t alignment) {
  mv1::SegmentDef* segment = def_.add_segments();
  segment->set_name(std::move(name));
  // Anything below the format's minimum is raised to it; a non-power-of-two fails Serialize.
  segment->set_alignment(std::max<uint32_t>(alignment, kSegmentAlignment));
  segment_data_.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
  return static_cast<uint32_t>(def_.segments_size() - 1);
}

uint32_t ModuleBuilder::AddOwnedSegment(std::string name, std::string&& data, uint32_t alignment) {
  const uint32_t index = AddSegment(std::move(name), std::span<const uint8_t>(), alignment);
  segment_data_.back() = std::move(data);
  return index;
}

absl::StatusOr<std::string> ModuleBuilder::Serialize() {
  if (static_cast<size_t>(def_.segments_size()) != segment_data_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("module has ", def_.segments_size(), " segment definitions but ",
                     segment_data_.size(), " segments were added with AddSegment"));
  }
  for (int i = 0; i < def_.segments_size(); ++i) {
    mv1::SegmentDef* segment = def_.mutable_segments(i);
    if (!IsValidAlignment(segment->alignment())) {
      return absl::InvalidArgumentError(absl::StrCat("segment '", segment->name(),
                                                     "' has alignment ", segment->alignment(),
                                                     "; it must be a power of two >= 64"));
    }
    const std::string& data = segment_data_[i];
    Sha256Hash hash = Sha256(std::string_view(data));
    segment->set_length(data.size());
    segment->set_sha256(hash.data(), hash.size());
  }

  // The ModuleDef stores the segment offsets, so its size depends on them and they depend on
  // its size. Reserve room for the metadata, lay out, and grow the reservation until the
  // serialized ModuleDef fits; varint sizes only grow with the offsets, so this converges in a
  // few rounds. A reservation larger than needed just leaves padding before the first segment.
  uint64_t reserved = def_.ByteSizeLong();
  uint64_t file_length = 0;
  bool fits = false;
  for (int round = 0; round < 16 && !fits; ++round) {
    uint64_t offset = kHeaderLength + reserved;
    for (int i = 0; i < def_.segments_size(); ++i) {
      mv1::SegmentDef* segment = def_.mutable_segments(i);
      if (!AlignUp(offset, segment->alignment(), &offset))
        return absl::InvalidArgumentError("module is too large");
      segment->set_offset(offset);
      offset += segment->length();
    }
    file_length = offset;
    uint64_t needed = def_.ByteSizeLong();
    if (needed <= reserved) {
      fits = true;
    } else {
      reserved = needed;
    }
  }
  if (!fits) return absl::InternalError("module layout did not converge");

  const uint64_t metadata_length = def_.ByteSizeLong();
  if (metadata_length > kMaxMetadataLength) {
    return absl::InvalidArgumentError(absl::StrCat("module metadata is ", metadata_length,
                                                   " bytes; the limit is ", kMaxMetadataLength));
  }

  ModuleFileHeader header{};
  std::memcpy(header.magic, kModuleMagic, sizeof(header.magic));
  header.format_version = kModuleFormatVersion;
  header.header_length = static_cast<uint32_t>(kHeaderLength);
  header.metadata_offset = kHeaderLength;
  header.metadata_length = metadata_length;
  header.file_length = file_length;

  // Appended in file order (segments are laid out in order), so that only the padding is
  // zeroed: a model's weights are tens of MB.
  std::string file;
  file.reserve(file_length);
  file.append(reinterpret_cast<const char*>(&header), sizeof(header));
  file.resize(kHeaderLength, '\0');
  if (!def_.AppendToString(&file) || file.size() != kHeaderLength + metadata_length)
    return absl::InternalError("failed to serialize the ModuleDef");
  for (int i = 0; i < def_.segments_size(); ++i) {
    file.resize(def_.segments(i).offset(), '\0');
    file.append(segment_data_[i]);
  }
  file.resize(file_length, '\0');
  return file;
}

// ---- ModuleFile ----

ModuleFile::~ModuleFile() {
  if (data_ == nullptr) return;
  if (mapped_) {
    munmap(const_cast<uint8_t*>(data_), size_);
  } else {
    std::free(const_cast<uint8_t*>(data_));
  }
}

// Why a copy and not the mmap this reader used to make: a MAP_PRIVATE mapping still shows the
// file's pages until they are written, so another process truncating the file made the next
// access SIGBUS and overwriting it changed weights under a loaded module, after every hash had
// been checked. Reading into anonymous memory makes the bytes verified the bytes run. Cost: the
// module's size in private memory instead of shared page cache, and one copy. Measured here (a
// 2-core VM, page cache warm) on a 512 MiB module, open + validate + the cache's whole-file
// MAC: 0.71-0.75 s mapped, 0.77-0.83 s copied into huge pages; 2.4 s the first time, when huge
// pages were not to be had and every 4 KiB page faulted (~14 us each in this VM).
absl::StatusOr<std::unique_ptr<ModuleFile>> ModuleFile::Open(const std::string& path,
                                                             const ModuleOpenOptions& options) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (forever). It has
  // no effect on the regular files that are read.
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (options.follow_symlinks ? 0 : O_NOFOLLOW);
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    int error = errno;
    if (error == ELOOP && !options.follow_symlinks) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is a symbolic link, which is not followed"));
    }
    std::string message = absl::StrCat("cannot open module file '", path, "': ", strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot stat module file '", path, "': ", strerror(errno)));
  }
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a regular file"));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (options.expected_size.has_value() && size != *options.expected_size) {
    return absl::DataLossError(absl::StrCat("module file '", path, "' has ", size,
                                            " bytes; its record says ", *options.expected_size,
                                            size < *options.expected_size ? " (truncated)" : ""));
  }

  std::unique_ptr<ModuleFile> file(new ModuleFile());
  if (size > 0) {  // mmap rejects a zero length; Validate reports the empty file
    void* data =
        mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, /*fd=*/-1, 0);
    if (data == MAP_FAILED) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot allocate ", size, " bytes for module file '", path, "': ", strerror(errno)));
    }
    file->data_ = static_cast<const uint8_t*>(data);
    file->size_ = size;
    file->mapped_ = true;
    // Faulting in fresh pages is most of the copy's cost; huge pages make 512x fewer faults
    // (a hint: where transparent huge pages are off, nothing changes).
    madvise(data, size, MADV_HUGEPAGE);
    auto* out = static_cast<uint8_t*>(data);
    uint64_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return absl::UnavailableError(
            absl::StrCat("cannot read module file '", path, "': ", strerror(errno)));
      }
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("module file '", path, "' shrank to ", done,
                                                " bytes while it was read (", size, " expected)"));
      }
      done += static_cast<uint64_t>(n);
    }
    // Read-only from here on, like the mapping was: a stray write faults instead of changing
    // weights.
    mprotect(data, size, PROT_READ);
  }
  if (options.authenticate) KILN_RETURN_IF_ERROR(options.authenticate(file->bytes()));
  absl::Status status = file->Validate();
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<ModuleFile>> ModuleFile::FromBytes(std::span<const uint8_t> bytes) {
  // Page-aligned like an mmap, so that segments aligned beyond 64 bytes (up to a page) are
  // aligned in memory too. aligned_alloc wants a size that is a multiple of the alignment.
  uint64_t capacity = 0;
  if (!AlignUp(std::max<uint64_t>(bytes.size(), 1), kStorageAlignment, &capacity))
    return absl::InvalidArgumentError("module is too large");
  void* storage = std::aligned_alloc(kStorageAlignment, capacity);
  if (storage == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", capacity, " bytes for a module"));
  }
  if (!bytes.empty()) std::memcpy(storage, bytes.data(), bytes.size());
  std::unique_ptr<ModuleFile> file(new ModuleFile());
  file->data_ = static_cast<const uint8_t*>(storage);
  file->size_ = bytes.size();
  KILN_RETURN_IF_ERROR(file->Validate());
  return file;
}

std::span<const uint8_t> ModuleFile::segment(uint32_t index) const {
  if (index >= static_cast<uint32_t>(def_.segments_size())) return {};
  const mv1::SegmentDef& segment = def_.segments(index);
  return {data_ + segment.offset(), static_cast<size_t>(segment.length())};
}

absl::Status ModuleFile::Validate() {
  // Magic first, so that a file that is not a module at all is named as such.
  if (size_ == 0) return absl::InvalidArgumentError("not a kiln module file (empty)");
  if (std::memcmp(data_, kModuleMagic, std::min<size_t>(size_, sizeof(kModuleMagic))) != 0)
    return absl::InvalidArgumentError("not a kiln module file (bad magic)");
  if (size_ < kHeaderLength) {
    return absl::DataLossError(absl::StrCat("module file is truncated: ", size_,
                                            " bytes is less than the ", kHeaderLength,
                                            "-byte header"));
  }
  ModuleFileHeader header;
  std::memcpy(&header, data_, sizeof(header));
  if (header.format_version != kModuleFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported module format version ",
                                                   header.format_version, " (this runtime reads ",
                                                   kModuleFormatVersion, ")"));
  }
  if (header.header_length != kHeaderLength || header.metadata_offset != kHeaderLength) {
    return absl::DataLossError(absl::StrCat(
        "corrupt module header: header_length ", header.header_length, ", metadata_offset ",
        header.metadata_offset, " (both must be ", kHeaderLength, ")"));
  }
  if (header.file_length != size_) {
    if (header.file_length > size_) {
      return absl::DataLossError(absl::StrCat("module file is truncated: header says ",
                                              header.file_length, " bytes, file has ", size_));
    }
    return absl::DataLossError(
        absl::StrCat("module file has ", size_, " bytes but its header says ", header.file_length));
  }
  if (header.metadata_length > kMaxMetadataLength) {
    return absl::DataLossError(absl::StrCat("corrupt module header: metadata_length ",
                                            header.metadata_length, " exceeds the limit of ",
                                            kMaxMetadataLength));
  }
  const uint64_t metadata_end = kHeaderLength + header.metadata_length;  // no overflow: bounded
  if (metadata_end > size_) {
    return absl::DataLossError(absl::StrCat("corrupt module header: metadata ends at ",
                                            metadata_end, " past the end of the file (", size_,
                                            " bytes)"));
  }
  if (!def_.ParseFromArray(data_ + kHeaderLength, static_cast<int>(header.metadata_length)))
    return absl::DataLossError("module metadata (ModuleDef) does not parse");

  if (def_.executable_abi_version() != KILN_EXECUTABLE_ABI_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat("module '", def_.name(), "' was built for executable ABI version ",
                     def_.executable_abi_version(), "; this runtime supports version ",
                     KILN_EXECUTABLE_ABI_VERSION));
  }

  // Segments: aligned, inside the file after the metadata, pairwise disjoint, hash-verified.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) of non-empty segments
  std::vector<int> range_segment;
  for (int i = 0; i < def_.segments_size(); ++i) {
    const mv1::SegmentDef& segment = def_.segments(i);
    const std::string name = segment.name().empty() ? absl::StrCat("#", i) : segment.name();
    if (!IsValidAlignment(segment.alignment())) {
      return absl::DataLossError(absl::StrCat("segment '", name, "' has alignment ",
                                              segment.alignment(),
                                              "; it must be a power of two >= 64"));
    }
    if (segment.offset() % segment.alignment() != 0) {
      return absl::DataLossError(absl::StrCat("segment '", name, "' at offset ", segment.offset(),
                                              " is not aligned to ", segment.alignment()));
    }
    if (segment.offset() < metadata_end) {
      return absl::DataLossError(absl::StrCat("segment '", name, "' at offset ", segment.offset(),
                                              " overlaps the header or metadata (which end at ",
                                              metadata_end, ")"));
    }
    if (segment.offset() > size_ || segment.length() > size_ - segment.offset()) {
      return absl::DataLossError(absl::StrCat("segment '", name, "' (offset ", segment.offset(),
                                              ", length ", segment.length(),
                                              ") lies outside the file (", size_, " bytes)"));
    }
    if (segment.sha256().size() != 32) {
      return absl::DataLossError(absl::StrCat("segment '", name, "' has a malformed SHA-256 (",
                                              segment.sha256().size(), " bytes, expected 32)"));
    }
    if (segment.length() > 0) {
      ranges.emplace_back(segment.offset(), segment.offset() + segment.length());
      range_segment.push_back(i);
    }
  }
  {
    std::vector<size_t> order(ranges.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return ranges[a].first < ranges[b].first; });
    for (size_t k = 1; k < order.size(); ++k) {
      const auto& previous = ranges[order[k - 1]];
      const auto& current = ranges[order[k]];
      if (current.first < previous.second) {
        return absl::DataLossError(
            absl::StrCat("segments '", def_.segments(range_segment[order[k - 1]]).name(), "' and '",
                         def_.segments(range_segment[order[k]]).name(), "' overlap"));
      }
    }
  }
  for (int i = 0; i < def_.segments_size(); ++i) {
    const mv1::SegmentDef& segment_def = def_.segments(i);
    Sha256Hash hash = Sha256(segment(static_cast<uint32_t>(i)));
    if (std::memcmp(hash.data(), segment_def.sha256().data(), hash.size()) != 0) {
      const std::string name =
          segment_def.name().empty() ? absl::StrCat("#", i) : segment_def.name();
      return absl::DataLossError(absl::StrCat("segment '", name, "' fails its SHA-256 check"));
    }
  }

  // Tables that reference segments.
  const uint32_t segment_count = static_cast<uint32_t>(def_.segments_size());
  for (const mv1::ExecutableDef& executable : def_.executables()) {
    if (executable.segment() >= segment_count) {
      return absl::DataLossError(absl::StrCat("executable '", executable.name(),
                                              "' references segment ", executable.segment(), " of ",
                                              segment_count));
    }
    if (executable.format() != mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY &&
        executable.format() != mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF) {
      return absl::InvalidArgumentError(absl::StrCat("executable '", executable.name(),
                                                     "' has unsupported format ",
                                                     static_cast<int>(executable.format())));
    }
  }
  for (const mv1::ConstantDef& constant : def_.constants()) {
    if (constant.segment() >= segment_count) {
      return absl::DataLossError(absl::StrCat("constant '", constant.name(),
                                              "' references segment ", constant.segment(), " of ",
                                              segment_count));
    }
  }

  // Signatures: every tensor type must have a computable byte length, and function names must
  // be unique so that lookups by name are unambiguous.
  std::set<std::string_view> function_names;
  for (const mv1::FunctionDef& function : def_.functions()) {
    if (!function_names.insert(function.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("module defines function '", function.name(), "' more than once"));
    }
    for (const mv1::ArgumentDef& input : function.inputs())
      KILN_RETURN_IF_ERROR(CheckTensorType(function, "input", input));
    for (const mv1::ArgumentDef& output : function.outputs())
      KILN_RETURN_IF_ERROR(CheckTensorType(function, "output", output));
  }
  return absl::OkStatus();
}

}  // namespace kiln::module
