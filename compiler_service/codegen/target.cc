#include "compiler_service/codegen/target.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/TargetParser/X86TargetParser.h"
#include "runtime_service/loader/cpu_features.h"

namespace kiln::compiler {
namespace {

void InitializeNativeTargetOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // Compile time of whole models. LLVM's instruction schedulers (before and after register
    // allocation) track memory dependences in maps that cost quadratic time in a scheduling
    // region's loads and stores until the region reaches `dag-maps-huge-region` (1000), where
    // they start being reduced. kiln's unrolled vector microkernels make regions of thousands:
    // those maps were 85% of mobilenet_v2's 10.6 s in the backend. At 200 the backend takes
    // 3.9 s, and the schedule of memory operations is kept in program order only beyond that
    // (benchmarks/bench_kernels.py and bench_models.py: kernels within noise).
    auto& options = llvm::cl::getRegisteredOptions();
    if (auto it = options.find("dag-maps-huge-region"); it != options.end())
      (void)it->second->addOccurrence(0, "dag-maps-huge-region", "200");
  });
}

// Whether LLVM's target for `triple` knows the feature: an unknown one ("+evil") would be
// ignored by LLVM with a warning on stderr, yet still change the cache key.
bool IsKnownFeature(const std::string& triple_name, llvm::StringRef feature) {
  // The triple is always the default one, so the first call's list serves every later call.
  static const std::vector<std::string> known = [&triple_name] {
    std::vector<std::string> names;
    llvm::Triple triple(triple_name);
    std::string error;
    const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
    if (target == nullptr) return names;
    std::unique_ptr<llvm::MCSubtargetInfo> info(
        target->createMCSubtargetInfo(triple, "generic", ""));
    if (!info) return names;
    for (const llvm::SubtargetFeatureKV& kv : info->getAllProcessorFeatures())
      names.emplace_back(kv.Key);
    std::sort(names.begin(), names.end());
    return names;
  }();
  return known.empty() || std::binary_search(known.begin(), known.end(), feature.str());
}

}  // namespace

std::string TargetSpec::FeatureString() const {
  std::string out;
  for (const std::string& feature : features) {
    if (!out.empty()) out += ",";
    out += feature;
  }
  return out;
}

std::vector<std::string> TargetSpec::EnabledFeatures() const {
  std::vector<std::string> out;
  for (const std::string& feature : features)
    if (!feature.empty() && feature[0] == '+') out.push_back(feature.substr(1));
  return out;
}

llvm::Expected<TargetSpec> ResolveTarget(const std::string& cpu,
                                         const std::vector<std::string>& extra_features) {
  InitializeNativeTargetOnce();
  TargetSpec spec;
  spec.triple = llvm::sys::getDefaultTargetTriple();
  llvm::StringMap<bool> enabled;
  if (cpu.empty() || cpu == "host") {
    spec.cpu = llvm::sys::getHostCPUName().str();
    enabled = llvm::sys::getHostCPUFeatures();
  } else {
    if (llvm::X86::parseArchX86(cpu, /*Only64Bit=*/true) == llvm::X86::CK_None &&
        llvm::X86::parseTuneCPU(cpu, true) == llvm::X86::CK_None)
      return llvm::createStringError("unknown target CPU '%s'", cpu.c_str());
    spec.cpu = cpu;
    llvm::SmallVector<llvm::StringRef, 64> cpu_features;
    llvm::X86::getFeaturesForCPU(cpu, cpu_features, /*NeedPlus=*/false);
    for (llvm::StringRef feature : cpu_features) enabled[feature] = true;
  }
  for (const std::string& feature : extra_features) {
    if (feature.size() < 2 || (feature[0] != '+' && feature[0] != '-'))
      return llvm::createStringError("target feature '%s' must start with '+' or '-'",
                                     feature.c_str());
    if (!IsKnownFeature(spec.triple, llvm::StringRef(feature).drop_front()))
      return llvm::createStringError("unknown target feature '%s' for %s", feature.c_str(),
                                     spec.triple.c_str());
    enabled[feature.substr(1)] = feature[0] == '+';
  }
  std::vector<std::string> names;
  for (const auto& entry : enabled) names.push_back(entry.getKey().str());
  std::sort(names.begin(), names.end());  // deterministic: the feature string is part of cache keys
  for (const std::string& name : names) {
    bool on = enabled[name];
    spec.features.push_back((on ? "+" : "-") + name);
    if (on) spec.required_cpu_features |= CpuFeatureBitFromLlvmName(name);
  }
  return spec;
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>> CreateTargetMachine(const TargetSpec& spec) {
  InitializeNativeTargetOnce();
  llvm::Triple triple(spec.triple);
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (target == nullptr)
    return llvm::createStringError("no LLVM target for '%s': %s", spec.triple.c_str(),
                                   error.c_str());
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, spec.cpu, spec.FeatureString(), options, llvm::Reloc::PIC_, llvm::CodeModel::Small,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return llvm::createStringError("cannot create a target machine for '%s'", spec.cpu.c_str());
  return machine;
}

}  // namespace kiln::compiler
