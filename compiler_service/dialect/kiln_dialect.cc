#include "compiler_service/dialect/kiln_dialect.h"

#include <string>

#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"
#include "mlir/IR/Builders.h"

// Generated from KilnDialect.td; needs the headers above.
#include "compiler_service/dialect/KilnDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "compiler_service/dialect/KilnAttrs.cpp.inc"

namespace kiln::compiler {

void KilnDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "compiler_service/dialect/KilnAttrs.cpp.inc"
      >();
}

namespace {

constexpr llvm::StringLiteral kProducts[] = {"none", "matrix", "few_rows", "matrix_vector"};

mlir::ParseResult ParseIntList(mlir::AsmParser& parser, llvm::SmallVectorImpl<int64_t>& values) {
  return parser.parseCommaSeparatedList(mlir::AsmParser::Delimiter::Square,
                                        [&] { return parser.parseInteger(values.emplace_back()); });
}

void PrintIntList(mlir::AsmPrinter& printer, llvm::StringRef key, llvm::ArrayRef<int64_t> values) {
  if (values.empty()) return;
  printer << ", " << key << " = [";
  llvm::interleaveComma(values, printer);
  printer << "]";
}

}  // namespace

// <"name" (, key = value | , flag)*>, or <workgroup_tiles = [...]> before a strategy is chosen.
mlir::Attribute LoweringConfigAttr::parse(mlir::AsmParser& parser, mlir::Type) {
  std::string strategy;
  std::string product = "none";
  llvm::SmallVector<int64_t> workgroup_tiles, cache_tiles, cache_order, pack_b, tiles, order,
      vector_sizes, ragged_split;
  int64_t prefetch_b_rows = 0;
  bool named_contraction = false, decompose_windowed = false;
  if (parser.parseLess()) return {};
  // Without a strategy name the first field follows '<' directly.
  bool first = mlir::failed(parser.parseOptionalString(&strategy));
  while (first || mlir::succeeded(parser.parseOptionalComma())) {
    first = false;
    llvm::StringRef key;
    const llvm::SMLoc at = parser.getCurrentLocation();
    if (parser.parseKeyword(&key)) return {};
    if (key == "named_contraction") {
      named_contraction = true;
      continue;
    }
    if (key == "decompose_windowed") {
      decompose_windowed = true;
      continue;
    }
    if (parser.parseEqual()) return {};
    llvm::SmallVector<int64_t>* list = llvm::StringSwitch<llvm::SmallVector<int64_t>*>(key)
                                           .Case("workgroup_tiles", &workgroup_tiles)
                                           .Case("cache_tiles", &cache_tiles)
                                           .Case("cache_order", &cache_order)
                                           .Case("pack_b", &pack_b)
                                           .Case("tiles", &tiles)
                                           .Case("order", &order)
                                           .Case("vector_sizes", &vector_sizes)
                                           .Case("ragged_split", &ragged_split)
                                           .Default(nullptr);
    if (list != nullptr) {
      if (ParseIntList(parser, *list)) return {};
    } else if (key == "product") {
      llvm::StringRef value;
      if (parser.parseKeyword(&value)) return {};
      product = value.str();
    } else if (key == "prefetch_b_rows") {
      if (parser.parseInteger(prefetch_b_rows)) return {};
    } else {
      parser.emitError(at, "unknown #kiln.lowering_config field '") << key << "'";
      return {};
    }
  }
  if (parser.parseGreater()) return {};
  return parser.getChecked<LoweringConfigAttr>(parser.getContext(), strategy, workgroup_tiles,
                                               product, cache_tiles, cache_order, pack_b, tiles,
                                               order, vector_sizes, ragged_split, prefetch_b_rows,
                                               named_contraction, decompose_windowed);
}

void LoweringConfigAttr::print(mlir::AsmPrinter& printer) const {
  printer << "<";
  if (getStrategy().empty()) {
    // Only the workgroup level is chosen (the verifier allows nothing else).
    printer << "workgroup_tiles = [";
    llvm::interleaveComma(getWorkgroupTiles(), printer);
    printer << "]>";
    return;
  }
  printer << "\"" << getStrategy() << "\"";
  PrintIntList(printer, "workgroup_tiles", getWorkgroupTiles());
  if (getProduct() != "none") printer << ", product = " << getProduct();
  PrintIntList(printer, "cache_tiles", getCacheTiles());
  PrintIntList(printer, "cache_order", getCacheOrder());
  PrintIntList(printer, "pack_b", getPackB());
  PrintIntList(printer, "tiles", getTiles());
  PrintIntList(printer, "order", getOrder());
  PrintIntList(printer, "vector_sizes", getVectorSizes());
  PrintIntList(printer, "ragged_split", getRaggedSplit());
  if (getPrefetchBRows() != 0) printer << ", prefetch_b_rows = " << getPrefetchBRows();
  if (getNamedContraction()) printer << ", named_contraction";
  if (getDecomposeWindowed()) printer << ", decompose_windowed";
  printer << ">";
}

mlir::LogicalResult LoweringConfigAttr::verify(
    llvm::function_ref<mlir::InFlightDiagnostic()> emitError, llvm::StringRef strategy,
    llvm::ArrayRef<int64_t> workgroup_tiles, llvm::StringRef product,
    llvm::ArrayRef<int64_t> cache_tiles, llvm::ArrayRef<int64_t> cache_order,
    llvm::ArrayRef<int64_t> pack_b, llvm::ArrayRef<int64_t> tiles, llvm::ArrayRef<int64_t> order,
    llvm::ArrayRef<int64_t> vector_sizes, llvm::ArrayRef<int64_t> ragged_split,
    int64_t prefetch_b_rows, bool named_contraction, bool decompose_windowed) {
  if (strategy.empty()) {
    if (workgroup_tiles.empty())
      return emitError() << "a lowering config without a strategy must have workgroup_tiles";
    if (product != "none" || !cache_tiles.empty() || !cache_order.empty() || !pack_b.empty() ||
        !tiles.empty() || !order.empty() || !vector_sizes.empty() || !ragged_split.empty() ||
        prefetch_b_rows != 0 || named_contraction || decompose_windowed)
      return emitError() << "a lowering config without a strategy has only its workgroup level "
                            "chosen: name the strategy of its other levels";
  }
  if (!llvm::is_contained(kProducts, product))
    return emitError() << "product must be none, matrix, few_rows or matrix_vector, not '"
                       << product << "'";
  if (!cache_order.empty() && cache_order.size() != cache_tiles.size())
    return emitError() << "cache_order has " << cache_order.size() << " loops, cache_tiles "
                       << cache_tiles.size();
  if (!pack_b.empty() && (pack_b.size() != 2 || pack_b[0] <= 0 || pack_b[1] <= 0))
    return emitError() << "pack_b must be [strip, rows], both positive";
  if (!pack_b.empty() && cache_tiles.empty())
    return emitError() << "pack_b packs cache blocks: it needs cache_tiles";
  if (!order.empty() && order.size() != tiles.size())
    return emitError() << "order has " << order.size() << " loops, tiles " << tiles.size();
  if (!vector_sizes.empty() && vector_sizes.size() != tiles.size())
    return emitError() << "vector_sizes has " << vector_sizes.size() << " loops, tiles "
                       << tiles.size();
  if (!ragged_split.empty() && ragged_split.size() != tiles.size())
    return emitError() << "ragged_split has " << ragged_split.size() << " loops, tiles "
                       << tiles.size();
  if (llvm::any_of(workgroup_tiles, [](int64_t v) { return v < 0; }) ||
      llvm::any_of(cache_tiles, [](int64_t v) { return v < 0; }) ||
      llvm::any_of(tiles, [](int64_t v) { return v < 0; }) ||
      llvm::any_of(vector_sizes, [](int64_t v) { return v < 0; }) ||
      llvm::any_of(ragged_split, [](int64_t v) { return v < 0; }) || prefetch_b_rows < 0)
    return emitError() << "tile and vector sizes must not be negative";
  return mlir::success();
}

}  // namespace kiln::compiler
