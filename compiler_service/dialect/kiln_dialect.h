// The kiln dialect (KilnDialect.td) and #kiln.lowering_config.
#ifndef KILN_COMPILER_SERVICE_DIALECT_KILN_DIALECT_H_
#define KILN_COMPILER_SERVICE_DIALECT_KILN_DIALECT_H_

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"

// Generated from KilnDialect.td; needs the MLIR headers above.
#include "compiler_service/dialect/KilnDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "compiler_service/dialect/KilnAttrs.h.inc"

namespace kiln::compiler {

// Where an op's config lives: a discardable attribute of this name.
inline constexpr char kLoweringConfigAttr[] = "kiln.lowering_config";

inline LoweringConfigAttr GetLoweringConfig(mlir::Operation* op) {
  return op->getAttrOfType<LoweringConfigAttr>(kLoweringConfigAttr);
}

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_DIALECT_KILN_DIALECT_H_
