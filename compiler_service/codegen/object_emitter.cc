#include "compiler_service/codegen/object_emitter.h"

#include <algorithm>
#include <system_error>
#include <thread>
#include <utility>

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Transforms/Utils/SplitModule.h"

namespace kiln::compiler {
namespace {

// Below this many instructions (before optimization) one thread does everything: splitting
// costs a bitcode round trip per part, more than a small module takes (the MLP example has
// about 500; resnet18 about 12,000, mobilenet_v2 about 30,000).
constexpr unsigned kMinInstructionsToSplit = 4000;

// Functions whose address is data (the dispatch wrappers, named by the export table) become
// hidden globals: the table and each wrapper may then go to different parts, while a kernel,
// internal and called only by its wrapper, stays in the wrapper's part and is inlined there.
void ExternalizeAddressTakenFunctions(llvm::Module& module) {
  for (llvm::Function& function : module) {
    if (!function.hasLocalLinkage()) continue;
    const bool address_taken = llvm::any_of(function.uses(), [](const llvm::Use& use) {
      return llvm::isa<llvm::Constant>(use.getUser());
    });
    if (!address_taken) continue;
    function.setLinkage(llvm::GlobalValue::ExternalLinkage);
    function.setVisibility(llvm::GlobalValue::HiddenVisibility);
  }
}

void Optimize(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(module, mam);
}

llvm::Expected<std::string> Generate(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  llvm::legacy::PassManager codegen;
  if (machine.addPassesToEmitFile(codegen, stream, nullptr, llvm::CodeGenFileType::ObjectFile))
    return llvm::createStringError("the target cannot emit object files");
  codegen.run(module);
  return std::string(buffer.begin(), buffer.end());
}

// One part, on its own thread: parsed into a private context (an LLVMContext is not shared
// across threads), optimized and generated with a private TargetMachine.
llvm::Expected<std::string> OptimizeAndGeneratePart(const std::string& bitcode,
                                                    const TargetMachineFactory& make_machine) {
  llvm::LLVMContext context;
  auto part = llvm::parseBitcodeFile(llvm::MemoryBufferRef(bitcode, "part"), context);
  if (!part) return part.takeError();
  auto machine = make_machine();
  if (!machine) return machine.takeError();
  Optimize(**part, **machine);
  return Generate(**part, **machine);
}

}  // namespace

llvm::Expected<std::vector<std::string>> EmitObjects(llvm::Module& module,
                                                     const TargetMachineFactory& make_machine,
                                                     unsigned threads) {
  auto machine = make_machine();
  if (!machine) return machine.takeError();
  module.setDataLayout((*machine)->createDataLayout());
  module.setTargetTriple((*machine)->getTargetTriple());

  std::string verify_errors;
  llvm::raw_string_ostream verify_stream(verify_errors);
  if (llvm::verifyModule(module, &verify_stream))
    return llvm::createStringError("generated LLVM IR is invalid: %s", verify_errors.c_str());

  unsigned instructions = 0, functions = 0;
  for (const llvm::Function& function : module) {
    if (function.isDeclaration()) continue;
    instructions += function.getInstructionCount();
    ++functions;
  }
  const unsigned parts = std::min(threads, functions);
  if (parts <= 1 || instructions < kMinInstructionsToSplit) {
    Optimize(module, **machine);
    auto object = Generate(module, **machine);
    if (!object) return object.takeError();
    return std::vector<std::string>{std::move(*object)};
  }

  // Parts that keep every internal symbol with its users, packed by size so that the threads
  // are balanced; each is optimized on its own (nothing crosses a part but calls of the few
  // hidden globals: wrappers from the table, memcpy and the like).
  ExternalizeAddressTakenFunctions(module);
  std::vector<std::string> bitcode;
  llvm::SplitModule(
      module, parts,
      [&](std::unique_ptr<llvm::Module> part) {
        llvm::raw_string_ostream out(bitcode.emplace_back());
        llvm::WriteBitcodeToFile(*part, out);
      },
      /*PreserveLocals=*/true);

  std::vector<llvm::Expected<std::string>> objects;
  objects.reserve(bitcode.size());
  for (size_t i = 0; i < bitcode.size(); ++i) objects.emplace_back(std::string());
  {
    std::vector<std::thread> workers;
    workers.reserve(bitcode.size());
    size_t started = 0;
    try {
      for (; started < bitcode.size(); ++started) {
        workers.emplace_back(
            [&, i = started] { objects[i] = OptimizeAndGeneratePart(bitcode[i], make_machine); });
      }
    } catch (const std::system_error&) {
      // No more threads to be had (a process or memory limit): this thread does the rest.
      for (size_t i = started; i < bitcode.size(); ++i)
        objects[i] = OptimizeAndGeneratePart(bitcode[i], make_machine);
    }
    for (std::thread& worker : workers) worker.join();
  }
  std::vector<std::string> result;
  result.reserve(objects.size());
  llvm::Error errors = llvm::Error::success();
  for (auto& object : objects) {
    if (!object) {
      errors = llvm::joinErrors(std::move(errors), object.takeError());
      continue;
    }
    result.push_back(std::move(*object));
  }
  if (errors) return errors;
  return result;
}

}  // namespace kiln::compiler
