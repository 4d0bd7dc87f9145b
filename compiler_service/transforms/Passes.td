//===- Passes.td - kiln compiler passes --------------------*- tablegen -*-===//
//
// Every kiln pass is declared here; each lives in its own file under transforms/ and has a
// lit/FileCheck test in compiler_service/test/.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_TRANSFORMS_PASSES
#define KILN_COMPILER_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def VerifySupportedInput : Pass<"kiln-verify-supported-input", "mlir::ModuleOp"> {
  let summary = "Rejects programs kiln cannot compile, naming the op and its location";
  let description = [{
    kiln compiles static-shape programs in the func, linalg, tensor, arith and math dialects.
    This pass runs first and turns everything else (ops of other dialects, dynamic shapes,
    non-tensor function signatures, unsupported element types) into an error attached to the
    offending op, so users get `file:line:col: error: ...` instead of a crash or a silent
    wrong answer deep in the pipeline.
  }];
}

def StripKilnAttributes : Pass<"kiln-strip-attributes", "mlir::ModuleOp"> {
  let summary = "Removes kiln.* argument and result attributes once signatures are recorded";
  let description = [{
    Argument and result names (`kiln.name`) are read into the module's signatures before
    lowering; the attributes themselves have no meaning to LLVM and are removed so that
    lowering and translation never see them.
  }];
}

#endif // KILN_COMPILER_TRANSFORMS_PASSES
