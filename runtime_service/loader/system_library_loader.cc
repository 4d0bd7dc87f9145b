// System-library executables: a shared object in a module segment, loaded by the system's
// dynamic linker from an anonymous memory file (no temp files, nothing left on disk).
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/loader/executable_library.h"

namespace kiln {
namespace {

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
#else
#error "kiln's system library loader supports x86-64 and AArch64 hosts"
#endif

}  // namespace

// The dynamic linker trusts the file sizes it is given, and a segment that extends past the end
// of a truncated image would fault (SIGBUS) while relocating instead of failing cleanly.
absl::Status CheckSystemLibraryImage(std::span<const uint8_t> image, const std::string& prefix) {
  if (image.size() < SELFMAG || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0)
    return absl::InvalidArgumentError(absl::StrCat(prefix, " is not an ELF image"));
  if (image.size() < sizeof(Elf64_Ehdr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, " is a truncated ELF image (", image.size(), " bytes)"));
  }
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof(header));
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
    return absl::InvalidArgumentError(absl::StrCat(prefix, " is not a 64-bit little-endian ELF"));
  if (header.e_type != ET_DYN)
    return absl::InvalidArgumentError(absl::StrCat(prefix, " is not an ELF shared object"));
  if (header.e_machine != kHostMachine) {
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, " is for ELF machine ", header.e_machine, ", not this host's ", kHostMachine));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phoff > image.size() ||
      uint64_t{header.e_phnum} * sizeof(Elf64_Phdr) > image.size() - header.e_phoff) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, " has a truncated or malformed program header table"));
  }
  for (uint16_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr;
    std::memcpy(&phdr, image.data() + header.e_phoff + i * sizeof(Elf64_Phdr), sizeof(phdr));
    if (phdr.p_type == PT_NULL) continue;
    if (phdr.p_offset > image.size() || phdr.p_filesz > image.size() - phdr.p_offset) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, " is a truncated ELF image: program header ", i,
                       " needs bytes up to ", phdr.p_offset + phdr.p_filesz, " of ", image.size()));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status WriteAll(int fd, std::span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write executable to a memfd: ", strerror(errno)));
    }
    data = data.subspan(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

std::string DlError() {
  const char* error = dlerror();
  return error != nullptr ? error : "unknown dynamic linker error";
}

class SystemLibrary final : public ExecutableLibrary {
 public:
  SystemLibrary() = default;
  ~SystemLibrary() override {
    if (handle_ != nullptr) dlclose(handle_);
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Load(std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
                    uint64_t host_features) {
    const std::string prefix = absl::StrCat("executable '", def.name(), "'");
    KILN_RETURN_IF_ERROR(CheckSystemLibraryImage(image, prefix));

    fd_ = memfd_create(def.name().empty() ? "kiln-executable" : def.name().c_str(),
                       MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd_ < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat(prefix, ": memfd_create failed: ", strerror(errno)));
    }
    KILN_RETURN_IF_ERROR(WriteAll(fd_, image));
    // Sealed before dlopen maps it: the memfd is reachable as /proc/<kilnd>/fd/N, and its
    // unwritten MAP_PRIVATE pages would show any later write or truncation (code changed after
    // every check, or SIGBUS). Sealed, the bytes loaded stay the bytes the cache verified.
    if (fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat(prefix, ": cannot seal its memfd: ", strerror(errno)));
    }

    // The fd stays open while the library is loaded, although dlopen no longer needs it: glibc
    // recognizes an already-loaded object by its path string, so if the fd number were closed
    // and reused for the next executable, dlopen("/proc/self/fd/N") would hand back the
    // previous library instead of loading the new one.
    const std::string path = absl::StrCat("/proc/self/fd/", fd_);
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(prefix, ": dlopen failed: ", DlError()));

    dlerror();  // clear any stale error so that the dlsym result can be told apart
    void* symbol = dlsym(handle_, KILN_LIBRARY_QUERY_SYMBOL);
    if (symbol == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, " does not export ", KILN_LIBRARY_QUERY_SYMBOL, ": ", DlError()));
    }
    auto query = reinterpret_cast<kiln_library_query_fn_t>(symbol);
    const kiln_library_t* library = query(KILN_EXECUTABLE_ABI_VERSION, &env_);
    if (library == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, " cannot serve executable ABI version ", KILN_EXECUTABLE_ABI_VERSION,
                       " (its query function returned no library)"));
    }
    return Validate(library, def, host_features);
  }

 private:
  void* handle_ = nullptr;
  int fd_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExecutableLibrary>> LoadSystemLibrary(
    std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
    uint64_t host_features) {
  auto library = std::make_unique<SystemLibrary>();
  KILN_RETURN_IF_ERROR(library->Load(image, def, host_features));
  return library;
}

}  // namespace kiln
