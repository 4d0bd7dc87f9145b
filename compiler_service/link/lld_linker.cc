#include "compiler_service/link/lld_linker.h"

#include <mutex>
#include <vector>

#include "lld/Common/Driver.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

LLD_HAS_DRIVER(elf)

namespace kiln::compiler {
namespace {

// lld keeps global state per link: one link at a time in this process.
std::mutex& LinkMutex() {
  static std::mutex mutex;
  return mutex;
}

// A private directory removed with everything in it, whatever path the link takes out.
class ScratchDir {
 public:
  llvm::Error Create() {
    if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("kiln-link", path_))
      return llvm::createStringError(ec, "cannot create a scratch directory for linking");
    return llvm::Error::success();
  }
  ~ScratchDir() {
    // Best effort: a scratch directory left behind in the temp dir does no harm.
    if (!path_.empty()) (void)llvm::sys::fs::remove_directories(path_);
  }
  std::string Join(llvm::StringRef name) const {
    llvm::SmallString<256> out(path_);
    llvm::sys::path::append(out, name);
    return std::string(out);
  }

 private:
  llvm::SmallString<256> path_;
};

}  // namespace

llvm::Expected<std::string> LinkSharedLibrary(std::span<const std::string> objects,
                                              bool freestanding) {
  // lld reads its inputs from files, so the objects go through a private scratch directory.
  // (Only the compiler writes temp files; the runtime loads from memory.)
  ScratchDir dir;
  if (llvm::Error error = dir.Create()) return error;
  std::vector<std::string> object_paths;
  object_paths.reserve(objects.size());
  for (const std::string& object : objects) {
    const std::string& path =
        object_paths.emplace_back(dir.Join("module" + std::to_string(object_paths.size()) + ".o"));
    std::error_code ec;
    llvm::raw_fd_ostream out(path, ec);
    if (ec) return llvm::createStringError(ec, "cannot write %s", path.c_str());
    out << object;
  }
  std::string library_path = dir.Join("module.so");

  std::string out_text, err_text;
  llvm::raw_string_ostream out_stream(out_text), err_stream(err_text);
  std::vector<const char*> args = {"ld.lld", "-shared",     "-z",
                                   "now",    "-z",          "relro",
                                   "-z",     "noexecstack", "--build-id=none",
                                   "-O1",    "-o",          library_path.c_str()};
  for (const std::string& path : object_paths) args.push_back(path.c_str());
  if (freestanding) {
    for (const char* arg : {"-nostdlib", "--no-undefined", "--hash-style=both", "-z", "text"})
      args.push_back(arg);
  } else {
    args.push_back("--hash-style=gnu");
  }
  lld::Result result;
  {
    std::lock_guard<std::mutex> lock(LinkMutex());
    result = lld::lldMain(args, out_stream, err_stream, {{lld::Gnu, &lld::elf::link}});
  }
  if (result.retCode != 0) {
    // The one failure users can cause: code that needs a C library function.
    size_t at = err_text.find("undefined symbol: ");
    if (freestanding && at != std::string::npos) {
      std::string symbol =
          err_text.substr(at + 18, err_text.find_first_of("\n ", at + 18) - at - 18);
      return llvm::createStringError(
          "the generated code needs '%s' from the C library, which embedded-elf executables "
          "cannot import; compile with --executable-format=system-library",
          symbol.c_str());
    }
    return llvm::createStringError("lld failed: %s", err_text.c_str());
  }

  auto buffer = llvm::MemoryBuffer::getFile(library_path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) return llvm::createStringError(buffer.getError(), "cannot read linked library");
  return (*buffer)->getBuffer().str();
}

}  // namespace kiln::compiler
