// kiln-opt: mlir-opt with kiln's passes and pipelines registered, for lit tests and debugging.
#include "compiler_service/pipeline/pipelines.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char** argv) {
  kiln::compiler::RegisterCompilerPasses();
  mlir::DialectRegistry registry;
  kiln::compiler::RegisterCompilerDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "kiln optimizer driver\n", registry));
}
