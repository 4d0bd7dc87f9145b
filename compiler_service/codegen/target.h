// The CPU a module is compiled for: triple, CPU name and LLVM features, resolved once from the
// user's options ("host" or a named CPU plus extra features).
#ifndef KILN_COMPILER_SERVICE_CODEGEN_TARGET_H_
#define KILN_COMPILER_SERVICE_CODEGEN_TARGET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::compiler {

struct TargetSpec {
  std::string triple;
  std::string cpu;
  std::vector<std::string> features;  // "+avx2", "-avx512f", ...
  // kiln_cpu_feature_bits the generated code may use: the runtime refuses to load the library
  // on a CPU that lacks any of them.
  uint64_t required_cpu_features = 0;

  std::string FeatureString() const;
  // Enabled feature names without the '+', for the module's metadata.
  std::vector<std::string> EnabledFeatures() const;
};

// cpu == "" or "host": this machine's CPU and features. Otherwise an LLVM CPU name (e.g.
// "skylake-avx512", "znver4"), validated against the x86 target.
llvm::Expected<TargetSpec> ResolveTarget(const std::string& cpu,
                                         const std::vector<std::string>& extra_features);

llvm::Expected<std::unique_ptr<llvm::TargetMachine>> CreateTargetMachine(const TargetSpec& spec);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_TARGET_H_
