// Fuzzes the compiler's front door: what Compile (compiler.cc; the Compile RPC, kiln-compile)
// does with a user's bytes before any lowering. They are parsed as MLIR, op verifiers included,
// in a fresh context with the compiler's dialects, then checked by kiln-verify-supported-input,
// the pass that turns everything kiln cannot compile into an error on the offending op. Codegen
// is left out: it is slow, and only programs that pass this gate reach it. Neither step may
// crash, whatever the bytes; errors are diagnostics.
//
// Inputs in MLIR bytecode are skipped: MLIR 22's bytecode reader aborts on counts it reads
// without bounds (e.g. a region count of 2^55: "SmallVector unable to grow", from
// BytecodeReader::Impl::parseRegions), so mutated bytecode finds that upstream crash within
// seconds and nothing else. The bytecode reader is still exercised on valid bytecode: every
// program that parses is written as bytecode, read back, and must get the same verdict.
//
// Note: libMLIR.so itself is not instrumented, so libFuzzer's coverage guidance only sees kiln's
// code here; the parser is exercised for crashes, not explored by coverage.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "compiler_service/transforms/passes.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "runtime_service/testing/fuzzing.h"

namespace {

// The registrations of RegisterCompilerDialects (pipeline/pipelines.cc), restated because its
// library would link every kiln pass into the fuzzer.
const mlir::DialectRegistry& Registry() {
  static const mlir::DialectRegistry* registry = [] {
    auto* r = new mlir::DialectRegistry();
    mlir::registerAllDialects(*r);
    mlir::registerAllExtensions(*r);
    mlir::registerAllToLLVMIRTranslations(*r);
    return r;
  }();
  return *registry;
}

// Parses `bytes` as the compiler does and runs the input check; nullopt when it does not parse,
// else whether the check passed. `bytecode` receives the parsed program as bytecode.
std::optional<bool> ParseAndVerify(llvm::StringRef bytes, std::string* bytecode) {
  // As in Compile: one context per program, no threads of its own.
  mlir::MLIRContext context(Registry(), mlir::MLIRContext::Threading::DISABLED);
  // Diagnostics are the expected outcome for most inputs; printing them would only be noise.
  mlir::ScopedDiagnosticHandler quiet(&context, [](mlir::Diagnostic&) { return mlir::success(); });

  llvm::SourceMgr source_mgr;
  source_mgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(bytes, "fuzz.mlir"),
                                llvm::SMLoc());
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(source_mgr, mlir::ParserConfig(&context));
  if (!module) return std::nullopt;
  if (bytecode != nullptr) {
    llvm::raw_string_ostream os(*bytecode);
    KILN_FUZZ_CHECK(mlir::succeeded(mlir::writeBytecodeToFile(*module, os)));
  }
  mlir::PassManager pm(&context);
  pm.addPass(kiln::compiler::createVerifySupportedInput());
  return mlir::succeeded(pm.run(*module));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr char kBytecodeMagic[] = {'M', 'L', '\xef', 'R'};
  if (size >= sizeof(kBytecodeMagic) && std::memcmp(data, kBytecodeMagic, 4) == 0) return 0;

  std::string bytecode;
  const std::optional<bool> verdict =
      ParseAndVerify(llvm::StringRef(reinterpret_cast<const char*>(data), size), &bytecode);
  if (!verdict.has_value()) return 0;
  KILN_FUZZ_CHECK(ParseAndVerify(bytecode, nullptr) == verdict);
  return 0;
}
