// The embedded-ELF loader. The image is untrusted until its code runs: every read is
// bounds-checked, first against the image bytes, then (once the segments are copied into
// place) against the loaded segments, so a malformed image is an error, never a fault.
//
// Load order: validate headers → reserve the address span (PROT_NONE) → copy segments in
// (read-write, never executable) → read the dynamic section → relocate → find the query
// function → give each segment its own protections, RELRO read-only → call the query function
// → check the library struct's pointers → the base class's ABI validation.
#include "runtime_service/loader/elf_loader.h"

#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/base/status_macros.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;

#if defined(__x86_64__)
constexpr bool kHostRunsX86_64 = true;
#else
constexpr bool kHostRunsX86_64 = false;
#endif

// Far beyond any dispatch library, and small enough that a corrupt p_memsz cannot reserve an
// absurd range. Addresses are capped too, so that vaddr + memsz never overflows.
constexpr uint64_t kMaxAddressSpan = uint64_t{1} << 30;
constexpr uint64_t kMaxAddress = uint64_t{1} << 46;

std::string Hex(uint64_t value) { return absl::StrCat("0x", absl::Hex(value)); }

// Whether [offset, offset + size) lies within [0, limit), without overflowing.
bool Fits(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

const char* RelocationName(uint32_t type) {
  switch (type) {
#define KILN_RELOCATION_NAME(name) \
  case name:                       \
    return #name;
    KILN_RELOCATION_NAME(R_X86_64_NONE)
    KILN_RELOCATION_NAME(R_X86_64_64)
    KILN_RELOCATION_NAME(R_X86_64_PC32)
    KILN_RELOCATION_NAME(R_X86_64_GOT32)
    KILN_RELOCATION_NAME(R_X86_64_PLT32)
    KILN_RELOCATION_NAME(R_X86_64_COPY)
    KILN_RELOCATION_NAME(R_X86_64_GLOB_DAT)
    KILN_RELOCATION_NAME(R_X86_64_JUMP_SLOT)
    KILN_RELOCATION_NAME(R_X86_64_RELATIVE)
    KILN_RELOCATION_NAME(R_X86_64_GOTPCREL)
    KILN_RELOCATION_NAME(R_X86_64_32)
    KILN_RELOCATION_NAME(R_X86_64_32S)
    KILN_RELOCATION_NAME(R_X86_64_16)
    KILN_RELOCATION_NAME(R_X86_64_PC16)
    KILN_RELOCATION_NAME(R_X86_64_8)
    KILN_RELOCATION_NAME(R_X86_64_PC8)
    KILN_RELOCATION_NAME(R_X86_64_DTPMOD64)
    KILN_RELOCATION_NAME(R_X86_64_DTPOFF64)
    KILN_RELOCATION_NAME(R_X86_64_TPOFF64)
    KILN_RELOCATION_NAME(R_X86_64_TLSGD)
    KILN_RELOCATION_NAME(R_X86_64_TLSLD)
    KILN_RELOCATION_NAME(R_X86_64_DTPOFF32)
    KILN_RELOCATION_NAME(R_X86_64_GOTTPOFF)
    KILN_RELOCATION_NAME(R_X86_64_TPOFF32)
    KILN_RELOCATION_NAME(R_X86_64_PC64)
    KILN_RELOCATION_NAME(R_X86_64_GOTOFF64)
    KILN_RELOCATION_NAME(R_X86_64_GOTPC32)
    KILN_RELOCATION_NAME(R_X86_64_SIZE32)
    KILN_RELOCATION_NAME(R_X86_64_SIZE64)
    KILN_RELOCATION_NAME(R_X86_64_GOTPC32_TLSDESC)
    KILN_RELOCATION_NAME(R_X86_64_TLSDESC_CALL)
    KILN_RELOCATION_NAME(R_X86_64_TLSDESC)
    KILN_RELOCATION_NAME(R_X86_64_IRELATIVE)
    KILN_RELOCATION_NAME(R_X86_64_RELATIVE64)
    KILN_RELOCATION_NAME(R_X86_64_GOTPCRELX)
    KILN_RELOCATION_NAME(R_X86_64_REX_GOTPCRELX)
#undef KILN_RELOCATION_NAME
    default:
      return nullptr;
  }
}

std::string DescribeRelocationType(uint32_t type) {
  const char* name = RelocationName(type);
  return name != nullptr ? absl::StrCat(name, " (", type, ")") : absl::StrCat(type);
}

int Protection(uint32_t flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

struct Segment {
  int index;  // program header index, for messages
  uint64_t vaddr;
  uint64_t memsz;
  uint64_t offset;
  uint64_t filesz;
  uint32_t flags;
};

// One load in progress: the parsed headers, then the copied image in a mapping it does not
// own (the library does, so that every early return unmaps it).
class ElfImage {
 public:
  ElfImage(std::span<const uint8_t> image, std::string prefix)
      : image_(image),
        prefix_(std::move(prefix)),
        page_(static_cast<uint64_t>(sysconf(_SC_PAGESIZE))) {}

  // Validates the ELF header and program headers, before anything is mapped.
  absl::Status ParseHeaders();
  uint64_t span_size() const { return span_end_ - span_start_; }

  // Copies the segments into `mapping` (span_size() bytes, PROT_NONE), reads the dynamic
  // section and applies the relocations; everything stays read-write and non-executable.
  absl::Status LoadInto(uint8_t* mapping);
  // The query function's address; call before Protect, which may make the symbol table
  // unreadable (a segment without PF_R).
  absl::StatusOr<kiln_library_query_fn_t> FindQuery();
  // Gives every segment its own protections, then makes the RELRO pages read-only. Returns
  // the RELRO range (empty when there is none).
  absl::StatusOr<std::span<const uint8_t>> Protect();
  // Checks that the library struct and everything it points to lies in the image, readable
  // (names, tables; the struct and tables aligned for their types) or executable (functions),
  // before the base class dereferences it.
  absl::Status CheckLibrary(const kiln_library_t* library) const;

 private:
  absl::Status CheckLoadSegment(int index, const Elf64_Phdr& phdr);
  // Reads and checks the dynamic section: symbol and string tables, relocation tables.
  absl::Status ReadDynamic();
  absl::StatusOr<uint64_t> CountGnuHashSymbols(uint64_t table) const;
  absl::StatusOr<std::string> SymbolName(const Elf64_Sym& symbol, uint64_t index) const;
  absl::StatusOr<uint64_t> ResolveSymbol(uint64_t index) const;
  absl::Status ApplyRelocations(uint64_t table, uint64_t size, const char* table_name);

  // The segment holding all of [vaddr, vaddr + size) with at least `flags`; only its file
  // bytes when `file_backed`.
  const Segment* FindSegment(uint64_t vaddr, uint64_t size, uint32_t flags = 0,
                             bool file_backed = false) const;
  uint64_t PageFloor(uint64_t value) const { return value & ~(page_ - 1); }
  uint64_t PageCeil(uint64_t value) const { return PageFloor(value + page_ - 1); }
  uint8_t* At(uint64_t vaddr) const { return mapping_ + (vaddr - span_start_); }
  uint64_t Address(uint64_t vaddr) const { return reinterpret_cast<uintptr_t>(At(vaddr)); }
  // The image address of a runtime pointer, if it lies in the mapping.
  std::optional<uint64_t> VaddrOf(const void* pointer) const;
  // Only after FindSegment has vouched for the bytes.
  template <typename T>
  T Read(uint64_t vaddr) const {
    T value;
    std::memcpy(&value, At(vaddr), sizeof(T));
    return value;
  }

  const std::span<const uint8_t> image_;
  const std::string prefix_;
  const uint64_t page_;

  std::vector<Segment> segments_;  // PT_LOAD, sorted by address, disjoint pages
  uint64_t last_file_end_ = 0;
  std::optional<Elf64_Phdr> dynamic_;
  std::optional<Elf64_Phdr> relro_;
  uint64_t span_start_ = 0;
  uint64_t span_end_ = 0;
  uint8_t* mapping_ = nullptr;

  // From the dynamic section.
  uint64_t symtab_ = 0;
  uint64_t symbol_count_ = 0;
  uint64_t strtab_ = 0;
  uint64_t strsz_ = 0;
  uint64_t rela_ = 0;
  uint64_t relasz_ = 0;
  uint64_t jmprel_ = 0;
  uint64_t pltrelsz_ = 0;
};

absl::Status ElfImage::ParseHeaders() {
  if (image_.size() < SELFMAG || std::memcmp(image_.data(), ELFMAG, SELFMAG) != 0)
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " is not an ELF image (bad magic)"));
  if (image_.size() < sizeof(Elf64_Ehdr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " is a truncated ELF image: ", image_.size(),
                     " bytes, less than the ", sizeof(Elf64_Ehdr), "-byte ELF header"));
  }
  Elf64_Ehdr header;
  std::memcpy(&header, image_.data(), sizeof(header));
  if (header.e_ident[EI_CLASS] != ELFCLASS64) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " is not a 64-bit ELF (class ", header.e_ident[EI_CLASS], ")"));
  }
  if (header.e_ident[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix_, " is not a little-endian ELF (data encoding ", header.e_ident[EI_DATA], ")"));
  }
  if (header.e_ident[EI_VERSION] != EV_CURRENT || header.e_version != EV_CURRENT) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has ELF version ", header.e_ident[EI_VERSION], "/",
                     header.e_version, ", not EV_CURRENT (", EV_CURRENT, ")"));
  }
  if (header.e_type != ET_DYN) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " is ELF type ", header.e_type, ", not a shared object (ET_DYN)"));
  }
  if (header.e_machine != EM_X86_64) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix_, " is for ELF machine ", header.e_machine,
                     "; embedded executables must be x86-64 (", EM_X86_64, ")"));
  }
  if (!kHostRunsX86_64) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix_, " is x86-64 code, which this host cannot run"));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix_, " has ", header.e_phentsize, "-byte program headers, not ", sizeof(Elf64_Phdr)));
  }
  // PN_XNUM would move the count into section 0; no linker does that for a small library.
  if (header.e_phnum == 0 || header.e_phnum == PN_XNUM) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has an unsupported program header count ", header.e_phnum));
  }
  const uint64_t table_size = uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
  if (!Fits(header.e_phoff, table_size, image_.size())) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " has its program header table (",
                                                   table_size, " bytes at offset ", header.e_phoff,
                                                   ") outside the ", image_.size(), "-byte image"));
  }

  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr;
    std::memcpy(&phdr, image_.data() + header.e_phoff + i * sizeof(Elf64_Phdr), sizeof(phdr));
    switch (phdr.p_type) {
      case PT_LOAD:
        KILN_RETURN_IF_ERROR(CheckLoadSegment(i, phdr));
        break;
      case PT_DYNAMIC:
        if (dynamic_.has_value())
          return absl::InvalidArgumentError(absl::StrCat(prefix_, " has two PT_DYNAMIC headers"));
        dynamic_ = phdr;
        break;
      case PT_GNU_RELRO:
        if (relro_.has_value()) {
          return absl::InvalidArgumentError(absl::StrCat(prefix_, " has two PT_GNU_RELRO headers"));
        }
        relro_ = phdr;
        break;
      case PT_TLS:
        return absl::InvalidArgumentError(absl::StrCat(
            prefix_, " has thread-local storage (PT_TLS), which embedded executables cannot use"));
      default:
        break;  // notes, GNU_STACK, GNU_EH_FRAME, ...: nothing to load
    }
  }
  if (segments_.empty())
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " has no PT_LOAD segments"));

  // Segments are sorted and disjoint, so the last one ends the span.
  span_start_ = PageFloor(segments_.front().vaddr);
  span_end_ = PageCeil(segments_.back().vaddr + segments_.back().memsz);
  if (span_size() > kMaxAddressSpan) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " needs ", span_size(),
                                                   " bytes of address space; the limit is ",
                                                   kMaxAddressSpan));
  }
  // RELRO's pages are made read-only after relocation: they must all belong to one writable
  // segment. GNU ld pads RELRO's end to a page boundary, past the end of the segment but
  // within its last page, so the check is page-granular.
  if (relro_.has_value()) {
    const Segment* segment = FindSegment(relro_->p_vaddr, 0, PF_W);
    if (segment == nullptr || relro_->p_memsz > kMaxAddressSpan ||
        PageFloor(relro_->p_vaddr + relro_->p_memsz) > PageCeil(segment->vaddr + segment->memsz)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix_, " has a RELRO range (", relro_->p_memsz, " bytes at ",
                       Hex(relro_->p_vaddr), ") outside its writable segments"));
    }
  }
  return absl::OkStatus();
}

absl::Status ElfImage::CheckLoadSegment(int index, const Elf64_Phdr& phdr) {
  const std::string name = absl::StrCat(prefix_, " segment ", index);
  if ((phdr.p_flags & PF_W) && (phdr.p_flags & PF_X))
    return absl::InvalidArgumentError(absl::StrCat(name, " is writable and executable"));
  if (phdr.p_filesz > phdr.p_memsz) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has more file bytes (", phdr.p_filesz,
                                                   ") than memory bytes (", phdr.p_memsz, ")"));
  }
  if (!Fits(phdr.p_offset, phdr.p_filesz, image_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " (", phdr.p_filesz, " file bytes at offset ", phdr.p_offset,
                     ") lies outside the ", image_.size(), "-byte image"));
  }
  if (phdr.p_vaddr > kMaxAddress || phdr.p_memsz > kMaxAddressSpan) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " (", phdr.p_memsz, " bytes at ", Hex(phdr.p_vaddr), ") is too large"));
  }
  // What every linker guarantees (the kernel's mmap needs it); a mismatch means corruption.
  if (phdr.p_offset % page_ != phdr.p_vaddr % page_) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has file offset ", Hex(phdr.p_offset),
                                                   " and address ", Hex(phdr.p_vaddr),
                                                   ", which differ modulo the page size"));
  }
  if (!segments_.empty()) {
    const Segment& previous = segments_.back();
    if (phdr.p_vaddr < previous.vaddr) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " at ", Hex(phdr.p_vaddr), " follows segment ", previous.index, " at ",
                       Hex(previous.vaddr), ": PT_LOAD segments must be sorted"));
    }
    // Protections are per page, so segments may not share one.
    if (PageFloor(phdr.p_vaddr) < PageCeil(previous.vaddr + previous.memsz)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " overlaps segment ", previous.index, " in memory"));
    }
    if (phdr.p_filesz > 0 && phdr.p_offset < last_file_end_) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " overlaps an earlier segment in the file"));
    }
  }
  segments_.push_back(
      {index, phdr.p_vaddr, phdr.p_memsz, phdr.p_offset, phdr.p_filesz, phdr.p_flags});
  if (phdr.p_filesz > 0) last_file_end_ = phdr.p_offset + phdr.p_filesz;
  return absl::OkStatus();
}

const Segment* ElfImage::FindSegment(uint64_t vaddr, uint64_t size, uint32_t flags,
                                     bool file_backed) const {
  for (const Segment& segment : segments_) {
    if ((segment.flags & flags) == flags && vaddr >= segment.vaddr &&
        Fits(vaddr - segment.vaddr, size, file_backed ? segment.filesz : segment.memsz)) {
      return &segment;
    }
  }
  return nullptr;
}

std::optional<uint64_t> ElfImage::VaddrOf(const void* pointer) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
  const uintptr_t base = reinterpret_cast<uintptr_t>(mapping_);
  if (address < base || address - base >= span_size()) return std::nullopt;
  return address - base + span_start_;
}

absl::Status ElfImage::LoadInto(uint8_t* mapping) {
  mapping_ = mapping;
  for (const Segment& segment : segments_) {
    const uint64_t start = PageFloor(segment.vaddr);
    const uint64_t length = PageCeil(segment.vaddr + segment.memsz) - start;
    if (length == 0) continue;
    if (mprotect(At(start), length, PROT_READ | PROT_WRITE) != 0) {
      return absl::ResourceExhaustedError(absl::StrCat(
          prefix_, ": cannot make segment ", segment.index, " writable: ", strerror(errno)));
    }
    // The mapping is anonymous, so the bss tail (memsz beyond filesz) is already zero.
    std::memcpy(At(segment.vaddr), image_.data() + segment.offset, segment.filesz);
  }
  KILN_RETURN_IF_ERROR(ReadDynamic());
  if (relasz_ != 0) KILN_RETURN_IF_ERROR(ApplyRelocations(rela_, relasz_, "DT_RELA"));
  if (pltrelsz_ != 0) KILN_RETURN_IF_ERROR(ApplyRelocations(jmprel_, pltrelsz_, "DT_JMPREL"));
  return absl::OkStatus();
}

absl::Status ElfImage::ReadDynamic() {
  if (!dynamic_.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has no dynamic section (PT_DYNAMIC)"));
  }
  if (FindSegment(dynamic_->p_vaddr, dynamic_->p_memsz) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has its dynamic section (", dynamic_->p_memsz, " bytes at ",
                     Hex(dynamic_->p_vaddr), ") outside its segments"));
  }
  std::optional<uint64_t> symtab, strtab, strsz, syment, hash, gnu_hash;
  uint64_t rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela);
  uint64_t jmprel = 0, pltrelsz = 0, pltrel = DT_RELA;
  std::optional<uint64_t> needed;
  bool terminated = false, text_relocations = false, initializers = false;
  const char* unsupported = nullptr;
  const uint64_t count = dynamic_->p_memsz / sizeof(Elf64_Dyn);
  for (uint64_t i = 0; i < count && !terminated; ++i) {
    const auto entry = Read<Elf64_Dyn>(dynamic_->p_vaddr + i * sizeof(Elf64_Dyn));
    const uint64_t value = entry.d_un.d_val;
    switch (entry.d_tag) {
      case DT_NULL:
        terminated = true;
        break;
      case DT_SYMTAB:
        symtab = value;
        break;
      case DT_STRTAB:
        strtab = value;
        break;
      case DT_STRSZ:
        strsz = value;
        break;
      case DT_SYMENT:
        syment = value;
        break;
      case DT_HASH:
        hash = value;
        break;
      case DT_GNU_HASH:
        gnu_hash = value;
        break;
      case DT_RELA:
        rela = value;
        break;
      case DT_RELASZ:
        relasz = value;
        break;
      case DT_RELAENT:
        relaent = value;
        break;
      case DT_JMPREL:
        jmprel = value;
        break;
      case DT_PLTRELSZ:
        pltrelsz = value;
        break;
      case DT_PLTREL:
        pltrel = value;
        break;
      case DT_NEEDED:
        if (!needed.has_value()) needed = value;
        break;
      case DT_TEXTREL:
        text_relocations = true;
        break;
      case DT_FLAGS:
        if (value & DF_TEXTREL) text_relocations = true;
        break;
      case DT_INIT:
      case DT_PREINIT_ARRAY:
        initializers = true;
        break;
      case DT_INIT_ARRAYSZ:
        if (value != 0) initializers = true;
        break;
      case DT_REL:
      case DT_RELSZ:
        unsupported = "REL relocations (DT_REL)";
        break;
      case DT_RELR:
      case DT_RELRSZ:
        unsupported = "packed relocations (DT_RELR)";
        break;
      default:
        break;  // DT_PLTGOT, DT_FLAGS_1, DT_RELACOUNT, DT_FINI, ...: not needed here
    }
  }
  if (!terminated) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has a dynamic section without a DT_NULL terminator"));
  }
  if (unsupported != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " uses ", unsupported, "; only RELA relocations are supported"));
  }
  if (text_relocations) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " needs text relocations (DT_TEXTREL); code must be PIC"));
  }
  // Nothing would run them; code that depends on them would see uninitialized data.
  if (initializers) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_,
                     " has initializers (DT_INIT/DT_INIT_ARRAY), which embedded executables may "
                     "not have"));
  }
  if (!symtab.has_value() || !strtab.has_value() || !strsz.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has no dynamic symbol table (DT_SYMTAB, DT_STRTAB and DT_STRSZ)"));
  }
  if (syment.has_value() && *syment != sizeof(Elf64_Sym)) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix_, " has ", *syment, "-byte symbols (DT_SYMENT), not ", sizeof(Elf64_Sym)));
  }
  if (FindSegment(*strtab, *strsz) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " has its string table (", *strsz,
                                                   " bytes at ", Hex(*strtab),
                                                   ") outside its segments"));
  }
  strtab_ = *strtab;
  strsz_ = *strsz;
  if (needed.has_value()) {
    Elf64_Sym fake{};
    fake.st_name = static_cast<Elf64_Word>(std::min<uint64_t>(*needed, UINT32_MAX));
    absl::StatusOr<std::string> library = SymbolName(fake, 0);
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " depends on shared library '", library.ok() ? *library : "?",
                     "' (DT_NEEDED); embedded executables must be freestanding"));
  }

  // The symbol count is not in the dynamic section; the hash tables know it.
  symtab_ = *symtab;
  if (hash.has_value()) {
    if (FindSegment(*hash, 2 * sizeof(uint32_t)) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix_, " has its DT_HASH table outside its segments"));
    }
    symbol_count_ = Read<uint32_t>(*hash + sizeof(uint32_t));  // nchain
  } else if (gnu_hash.has_value()) {
    KILN_ASSIGN_OR_RETURN(symbol_count_, CountGnuHashSymbols(*gnu_hash));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix_, " has neither DT_HASH nor DT_GNU_HASH, so its symbol count is unknown"));
  }
  if (FindSegment(symtab_, symbol_count_ * sizeof(Elf64_Sym)) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " has its symbol table (",
                                                   symbol_count_, " symbols at ", Hex(symtab_),
                                                   ") outside its segments"));
  }

  if (relasz != 0 && relaent != sizeof(Elf64_Rela)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has ", relaent, "-byte RELA entries, not ", sizeof(Elf64_Rela)));
  }
  if (pltrelsz != 0 && pltrel != DT_RELA) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has PLT relocations of kind ", pltrel, ", not DT_RELA"));
  }
  rela_ = rela;
  relasz_ = relasz;
  jmprel_ = jmprel;
  pltrelsz_ = pltrelsz;
  return absl::OkStatus();
}

// DT_GNU_HASH: the highest symbol index in any bucket starts the last chain, which ends at the
// first entry with its low bit set; that index + 1 is the symbol count.
absl::StatusOr<uint64_t> ElfImage::CountGnuHashSymbols(uint64_t table) const {
  auto outside = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " has its DT_GNU_HASH table outside its segments"));
  };
  // Header: nbuckets, symoffset (first hashed symbol), bloom words, bloom shift.
  if (FindSegment(table, 4 * sizeof(uint32_t)) == nullptr) return outside();
  const uint32_t bucket_count = Read<uint32_t>(table);
  const uint32_t first_hashed = Read<uint32_t>(table + sizeof(uint32_t));
  const uint32_t bloom_words = Read<uint32_t>(table + 2 * sizeof(uint32_t));
  const uint64_t buckets = table + 4 * sizeof(uint32_t) + uint64_t{bloom_words} * sizeof(uint64_t);
  if (FindSegment(buckets, uint64_t{bucket_count} * sizeof(uint32_t)) == nullptr) return outside();
  uint32_t last_chain_start = 0;
  for (uint32_t i = 0; i < bucket_count; ++i)
    last_chain_start = std::max(last_chain_start, Read<uint32_t>(buckets + i * sizeof(uint32_t)));
  // Every bucket empty: only the unhashed symbols below first_hashed exist.
  if (last_chain_start < first_hashed) return uint64_t{first_hashed};
  const uint64_t chains = buckets + uint64_t{bucket_count} * sizeof(uint32_t);
  // Bounded: each step reads 4 more bytes, which must stay inside one segment.
  for (uint64_t index = last_chain_start;; ++index) {
    const uint64_t entry = chains + (index - first_hashed) * sizeof(uint32_t);
    if (FindSegment(entry, sizeof(uint32_t)) == nullptr) return outside();
    if (Read<uint32_t>(entry) & 1) return index + 1;
  }
}

absl::StatusOr<std::string> ElfImage::SymbolName(const Elf64_Sym& symbol, uint64_t index) const {
  if (symbol.st_name >= strsz_) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " symbol ", index, " has its name outside the string table"));
  }
  const char* start = reinterpret_cast<const char*>(At(strtab_ + symbol.st_name));
  const void* end = std::memchr(start, 0, strsz_ - symbol.st_name);
  if (end == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " symbol ", index, " has an unterminated name"));
  }
  return std::string(start, static_cast<const char*>(end));
}

absl::StatusOr<uint64_t> ElfImage::ResolveSymbol(uint64_t index) const {
  if (index == STN_UNDEF) return 0;
  if (index >= symbol_count_) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " refers to symbol ", index, " of ", symbol_count_));
  }
  const auto symbol = Read<Elf64_Sym>(symtab_ + index * sizeof(Elf64_Sym));
  KILN_ASSIGN_OR_RETURN(std::string name, SymbolName(symbol, index));
  if (symbol.st_shndx == SHN_UNDEF) {
    // The runtime provides no imports yet: nothing else may be left unresolved.
    if (ELF64_ST_BIND(symbol.st_info) == STB_WEAK) return 0;
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, ": undefined symbol '", name,
                     "': embedded executables may only import through the kiln import table"));
  }
  const int type = ELF64_ST_TYPE(symbol.st_info);
  if (type == STT_TLS || type == STT_GNU_IFUNC) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, " symbol '", name, "' is thread-local or an indirect function (type ",
                     type, "), which embedded executables cannot use"));
  }
  if (symbol.st_shndx == SHN_ABS) return symbol.st_value;
  if (symbol.st_value < span_start_ || symbol.st_value > span_end_) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " symbol '", name, "' has address ",
                                                   Hex(symbol.st_value), " outside the image"));
  }
  return Address(symbol.st_value);
}

absl::Status ElfImage::ApplyRelocations(uint64_t table, uint64_t size, const char* table_name) {
  if (size % sizeof(Elf64_Rela) != 0 || FindSegment(table, size) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, " has its ", table_name, " table (",
                                                   size, " bytes at ", Hex(table),
                                                   ") outside its segments or misaligned"));
  }
  const uint64_t load_bias = Address(0);
  for (uint64_t i = 0; i < size / sizeof(Elf64_Rela); ++i) {
    const auto rela = Read<Elf64_Rela>(table + i * sizeof(Elf64_Rela));
    const uint32_t type = ELF64_R_TYPE(rela.r_info);
    auto where = [&] { return absl::StrCat(prefix_, " relocation ", i, " in ", table_name); };
    switch (type) {
      case R_X86_64_NONE:
        continue;
      case R_X86_64_RELATIVE:
      case R_X86_64_64:
      case R_X86_64_GLOB_DAT:
      case R_X86_64_JUMP_SLOT:
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(where(), ": unsupported relocation type ", DescribeRelocationType(type)));
    }
    // Text relocations are not supported: every target is in a writable segment.
    if (FindSegment(rela.r_offset, sizeof(uint64_t), PF_W) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where(), " (", DescribeRelocationType(type),
                                                     ") writes 8 bytes at ", Hex(rela.r_offset),
                                                     ", outside the image's writable segments"));
    }
    uint64_t value;
    if (type == R_X86_64_RELATIVE) {
      value = load_bias + static_cast<uint64_t>(rela.r_addend);
    } else {
      KILN_ASSIGN_OR_RETURN(const uint64_t symbol, ResolveSymbol(ELF64_R_SYM(rela.r_info)));
      value = type == R_X86_64_64 ? symbol + static_cast<uint64_t>(rela.r_addend) : symbol;
    }
    std::memcpy(At(rela.r_offset), &value, sizeof(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<kiln_library_query_fn_t> ElfImage::FindQuery() {
  for (uint64_t i = 1; i < symbol_count_; ++i) {
    const auto symbol = Read<Elf64_Sym>(symtab_ + i * sizeof(Elf64_Sym));
    if (symbol.st_shndx == SHN_UNDEF) continue;
    KILN_ASSIGN_OR_RETURN(std::string name, SymbolName(symbol, i));
    if (name != KILN_LIBRARY_QUERY_SYMBOL) continue;
    if (ELF64_ST_TYPE(symbol.st_info) != STT_FUNC || ELF64_ST_BIND(symbol.st_info) != STB_GLOBAL) {
      return absl::InvalidArgumentError(absl::StrCat(prefix_, "'s ", KILN_LIBRARY_QUERY_SYMBOL,
                                                     " is not a global function symbol"));
    }
    // The whole function must be code from the file, or the call would run zeros or data.
    const uint64_t size = std::max<uint64_t>(symbol.st_size, 1);
    if (FindSegment(symbol.st_value, size, PF_X, /*file_backed=*/true) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(prefix_, "'s ", KILN_LIBRARY_QUERY_SYMBOL,
                                                     " (", size, " bytes at ", Hex(symbol.st_value),
                                                     ") lies outside its executable segments"));
    }
    // NOLINTNEXTLINE(performance-no-int-to-ptr): a loader; the symbol's relocated address
    return reinterpret_cast<kiln_library_query_fn_t>(Address(symbol.st_value));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(prefix_, " does not export ", KILN_LIBRARY_QUERY_SYMBOL));
}

absl::StatusOr<std::span<const uint8_t>> ElfImage::Protect() {
  for (const Segment& segment : segments_) {
    const uint64_t start = PageFloor(segment.vaddr);
    const uint64_t length = PageCeil(segment.vaddr + segment.memsz) - start;
    if (length != 0 && mprotect(At(start), length, Protection(segment.flags)) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat(prefix_, ": cannot protect segment ", segment.index, ": ", strerror(errno)));
    }
  }
  if (!relro_.has_value()) return std::span<const uint8_t>();
  // As glibc does: whole pages from the one holding the start up to the one holding the end;
  // linkers pad RELRO so that its end is page-aligned.
  const uint64_t start = PageFloor(relro_->p_vaddr);
  const uint64_t end = PageFloor(relro_->p_vaddr + relro_->p_memsz);
  if (end == start) return std::span<const uint8_t>();
  if (mprotect(At(start), end - start, PROT_READ) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat(prefix_, ": cannot make RELRO read-only: ", strerror(errno)));
  }
  return std::span<const uint8_t>(At(start), end - start);
}

absl::Status ElfImage::CheckLibrary(const kiln_library_t* library) const {
  auto readable = [&](const void* pointer, uint64_t size) {
    std::optional<uint64_t> vaddr = VaddrOf(pointer);
    return vaddr.has_value() && FindSegment(*vaddr, size, PF_R) != nullptr;
  };
  auto string_ok = [&](const char* string) {
    std::optional<uint64_t> vaddr = VaddrOf(string);
    const Segment* segment = vaddr.has_value() ? FindSegment(*vaddr, 1, PF_R) : nullptr;
    return segment != nullptr &&
           std::memchr(string, 0, segment->vaddr + segment->memsz - *vaddr) != nullptr;
  };
  auto code_ok = [&](const void* function) {
    std::optional<uint64_t> vaddr = VaddrOf(function);
    return vaddr.has_value() && FindSegment(*vaddr, 1, PF_X, /*file_backed=*/true) != nullptr;
  };
  auto outside = [&](std::string_view field, const char* what) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, "'s library struct field ",
                                                   std::string(field), " points outside its ", what,
                                                   " segments"));
  };
  // Reading a struct through a misaligned pointer is undefined behaviour, however readable.
  auto aligned = [](const void* pointer, size_t alignment) {
    return reinterpret_cast<uintptr_t>(pointer) % alignment == 0;
  };
  auto misaligned = [&](std::string_view field, size_t alignment) {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, "'s library struct field ",
                                                   std::string(field), " is not ", alignment,
                                                   "-byte aligned"));
  };

  if (!aligned(library, alignof(kiln_library_t)))
    return misaligned("(the struct)", alignof(kiln_library_t));
  if (!readable(library, sizeof(library->abi_version))) return outside("(the struct)", "readable");
  // Under another version the layout is unknown: Validate reports the version, reading nothing
  // else.
  if (library->abi_version != KILN_EXECUTABLE_ABI_VERSION) return absl::OkStatus();
  if (!readable(library, sizeof(*library))) return outside("(the struct)", "readable");
  if (library->name != nullptr && !string_ok(library->name)) return outside("name", "readable");
  if (library->exports != nullptr && library->export_count != 0) {
    if (!aligned(library->exports, alignof(kiln_export_t)))
      return misaligned("exports", alignof(kiln_export_t));
    if (!readable(library->exports, uint64_t{library->export_count} * sizeof(kiln_export_t)))
      return outside("exports", "readable");
    for (uint32_t i = 0; i < library->export_count; ++i) {
      const kiln_export_t& entry = library->exports[i];
      if (entry.name != nullptr && !string_ok(entry.name))
        return outside(absl::StrCat("exports[", i, "].name"), "readable");
      if (entry.fn != nullptr && !code_ok(reinterpret_cast<const void*>(entry.fn)))
        return outside(absl::StrCat("exports[", i, "].fn"), "executable");
      if (entry.bindings != nullptr && entry.binding_count != 0) {
        if (!aligned(entry.bindings, alignof(kiln_binding_t)))
          return misaligned(absl::StrCat("exports[", i, "].bindings"), alignof(kiln_binding_t));
        if (!readable(entry.bindings, uint64_t{entry.binding_count} * sizeof(kiln_binding_t)))
          return outside(absl::StrCat("exports[", i, "].bindings"), "readable");
      }
    }
  }
  if (library->imports != nullptr && library->import_count != 0) {
    if (!aligned(library->imports, alignof(kiln_import_t)))
      return misaligned("imports", alignof(kiln_import_t));
    if (!readable(library->imports, uint64_t{library->import_count} * sizeof(kiln_import_t)))
      return outside("imports", "readable");
    for (uint32_t i = 0; i < library->import_count; ++i) {
      if (library->imports[i].name != nullptr && !string_ok(library->imports[i].name))
        return outside(absl::StrCat("imports[", i, "].name"), "readable");
    }
  }
  return absl::OkStatus();
}

}  // namespace

EmbeddedElfLibrary::~EmbeddedElfLibrary() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

absl::StatusOr<std::unique_ptr<EmbeddedElfLibrary>> EmbeddedElfLibrary::Load(
    std::span<const uint8_t> image, const mv1::ExecutableDef& def, uint64_t host_features) {
  std::unique_ptr<EmbeddedElfLibrary> library(new EmbeddedElfLibrary());
  KILN_RETURN_IF_ERROR(library->LoadImage(image, def, host_features, nullptr));
  return library;
}

absl::StatusOr<std::unique_ptr<EmbeddedElfLibrary>> EmbeddedElfLibrary::LoadWithoutRunning(
    std::span<const uint8_t> image, const mv1::ExecutableDef& def, uint64_t host_features,
    const QueryStandIn& stand_in) {
  std::unique_ptr<EmbeddedElfLibrary> library(new EmbeddedElfLibrary());
  KILN_RETURN_IF_ERROR(library->LoadImage(image, def, host_features, &stand_in));
  return library;
}

absl::Status EmbeddedElfLibrary::LoadImage(std::span<const uint8_t> image,
                                           const mv1::ExecutableDef& def, uint64_t host_features,
                                           const QueryStandIn* stand_in) {
  const std::string prefix = absl::StrCat("executable '", def.name(), "'");
  ElfImage elf(image, prefix);
  KILN_RETURN_IF_ERROR(elf.ParseHeaders());

  // One reservation for the whole span keeps the segments' relative placement; the gaps
  // between segments stay PROT_NONE.
  void* mapping =
      mmap(nullptr, elf.span_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat(prefix, ": cannot reserve ", elf.span_size(), " bytes: ", strerror(errno)));
  }
  mapping_ = static_cast<uint8_t*>(mapping);
  mapping_size_ = elf.span_size();

  KILN_RETURN_IF_ERROR(elf.LoadInto(mapping_));
  KILN_ASSIGN_OR_RETURN(kiln_library_query_fn_t query, elf.FindQuery());
  KILN_ASSIGN_OR_RETURN(std::span<const uint8_t> relro, elf.Protect());
  relro_ = relro.data();
  relro_size_ = relro.size();

  const kiln_library_t* library = stand_in != nullptr ? (*stand_in)({mapping_, mapping_size_})
                                                      : query(KILN_EXECUTABLE_ABI_VERSION, &env_);
  if (library == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, " cannot serve executable ABI version ", KILN_EXECUTABLE_ABI_VERSION,
                     " (its query function returned no library)"));
  }
  KILN_RETURN_IF_ERROR(elf.CheckLibrary(library));
  return Validate(library, def, host_features);
}

absl::StatusOr<std::unique_ptr<ExecutableLibrary>> LoadEmbeddedElf(std::span<const uint8_t> image,
                                                                   const mv1::ExecutableDef& def,
                                                                   uint64_t host_features) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedElfLibrary> library,
                        EmbeddedElfLibrary::Load(image, def, host_features));
  return std::unique_ptr<ExecutableLibrary>(std::move(library));
}

}  // namespace kiln
