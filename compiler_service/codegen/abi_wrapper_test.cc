// The compiler's LLVM mirrors of the executable ABI structs against the C header: every field
// offset and size, the struct sizes and alignments under the DataLayout of the target the
// compiler emits for, and the constants EmitAbiWrapper builds from them. executable_abi_test
// pins the C side; this pins the compiler side to it.
#include "compiler_service/codegen/abi_wrapper.h"

#include <cstddef>
#include <string>
#include <vector>

#include "compiler_service/codegen/target.h"
#include "gtest/gtest.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DataLayout.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/LLVMContext.h"
#include "runtime_service/executable_abi.h"

namespace kiln::compiler {
namespace {

struct Field {
  const char* name;
  size_t offset;
  size_t size;
};
// A member's size without an object: the size of its declared type.
#define KILN_FIELD(type, member) \
  Field { #member, offsetof(type, member), sizeof(decltype(type::member)) }

struct CStruct {
  const char* name;
  size_t size;
  size_t align;
  std::vector<Field> fields;  // every field, in declaration order
};

CStruct Dispatch() {
  using T = kiln_dispatch_state_t;
  return {"kiln_dispatch_state_t",
          sizeof(T),
          alignof(T),
          {KILN_FIELD(T, workgroup_count), KILN_FIELD(T, workgroup_size),
           KILN_FIELD(T, binding_count), KILN_FIELD(T, constant_count), KILN_FIELD(T, binding_ptrs),
           KILN_FIELD(T, binding_lengths), KILN_FIELD(T, constants)}};
}

CStruct Workgroup() {
  using T = kiln_workgroup_state_t;
  return {"kiln_workgroup_state_t",
          sizeof(T),
          alignof(T),
          {KILN_FIELD(T, workgroup_id), KILN_FIELD(T, worker_id), KILN_FIELD(T, scratch),
           KILN_FIELD(T, scratch_size)}};
}

CStruct Binding() {
  using T = kiln_binding_t;
  return {"kiln_binding_t",
          sizeof(T),
          alignof(T),
          {KILN_FIELD(T, length), KILN_FIELD(T, flags), KILN_FIELD(T, reserved)}};
}

CStruct Export() {
  using T = kiln_export_t;
  return {"kiln_export_t",
          sizeof(T),
          alignof(T),
          {KILN_FIELD(T, name), KILN_FIELD(T, fn), KILN_FIELD(T, binding_count),
           KILN_FIELD(T, constant_count), KILN_FIELD(T, workgroup_size), KILN_FIELD(T, flags),
           KILN_FIELD(T, bindings), KILN_FIELD(T, workgroup_count), KILN_FIELD(T, reserved)}};
}

CStruct Import() {
  using T = kiln_import_t;
  return {"kiln_import_t",
          sizeof(T),
          alignof(T),
          {KILN_FIELD(T, name), KILN_FIELD(T, flags), KILN_FIELD(T, reserved)}};
}

CStruct Library() {
  using T = kiln_library_t;
  return {"kiln_library_t",
          sizeof(T),
          alignof(T),
          {KILN_FIELD(T, abi_version), KILN_FIELD(T, flags), KILN_FIELD(T, name),
           KILN_FIELD(T, required_cpu_features), KILN_FIELD(T, export_count),
           KILN_FIELD(T, import_count), KILN_FIELD(T, exports), KILN_FIELD(T, imports)}};
}
#undef KILN_FIELD

class AbiWrapperTest : public testing::Test {
 protected:
  void SetUp() override {
    auto spec = ResolveTarget("host", {});
    ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
    auto machine = CreateTargetMachine(*spec);
    ASSERT_TRUE(bool(machine)) << llvm::toString(machine.takeError());
    layout_ = std::make_unique<llvm::DataLayout>((*machine)->createDataLayout());
  }

  // The C struct's fields tile it with no padding, and the LLVM struct has exactly those fields
  // at the same offsets with the same sizes. No padding is an ABI rule this checks (the headers
  // spell out `reserved` fields instead): it is what makes the field lists here complete, since
  // a C field missing from a list leaves a gap or changes the size.
  void ExpectSameLayout(const CStruct& c, llvm::StructType* type) {
    SCOPED_TRACE(c.name);
    ASSERT_NE(type, nullptr);
    EXPECT_EQ(type->getName(), c.name);
    size_t end = 0;
    for (const Field& field : c.fields) {
      EXPECT_EQ(field.offset, end) << "padding or an unlisted field before " << field.name;
      end = field.offset + field.size;
    }
    EXPECT_EQ(end, c.size) << "padding or an unlisted field at the end";

    ASSERT_EQ(type->getNumElements(), c.fields.size()) << "the LLVM mirror has other fields";
    const llvm::StructLayout* llvm_layout = layout_->getStructLayout(type);
    for (unsigned i = 0; i < c.fields.size(); ++i) {
      EXPECT_EQ(llvm_layout->getElementOffset(i), c.fields[i].offset) << c.fields[i].name;
      EXPECT_EQ(layout_->getTypeAllocSize(type->getElementType(i)), c.fields[i].size)
          << c.fields[i].name;
    }
    EXPECT_EQ(layout_->getTypeAllocSize(type), c.size);
    EXPECT_EQ(layout_->getABITypeAlign(type).value(), c.align);
  }

  std::unique_ptr<llvm::DataLayout> layout_;
};

TEST_F(AbiWrapperTest, StructsMatchTheCHeader) {
  llvm::LLVMContext ctx;
  const AbiStructTypes types = GetAbiStructTypes(ctx);
  ExpectSameLayout(Dispatch(), types.dispatch_state);
  ExpectSameLayout(Workgroup(), types.workgroup_state);
  ExpectSameLayout(Binding(), types.binding_entry);
  ExpectSameLayout(Export(), types.export_entry);
  ExpectSameLayout(Import(), types.import_entry);
  ExpectSameLayout(Library(), types.library);
}

// A module with one lowered kernel of two bindings, wrapped.
std::unique_ptr<llvm::Module> Wrapped(llvm::LLVMContext& ctx, uint64_t features) {
  auto module = std::make_unique<llvm::Module>("m", ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* kernel = llvm::Function::Create(
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr, llvm::Type::getInt64Ty(ctx)},
                              false),
      llvm::GlobalValue::ExternalLinkage, "kernel", *module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", kernel));
  b.CreateRetVoid();
  llvm::Error error = EmitAbiWrapper(
      *module, "lib", {{"k", "kernel", {{64, true, false}, {128, false, true}}, {4, 2, 1}}},
      features);
  EXPECT_FALSE(bool(error)) << llvm::toString(std::move(error));
  return module;
}

// What EmitAbiWrapper emits is built from those same types, with the header's constants.
TEST_F(AbiWrapperTest, EmittedTablesUseTheCheckedTypes) {
  llvm::LLVMContext ctx;
  const uint64_t features = KILN_CPU_FEATURE_AVX2 | KILN_CPU_FEATURE_FMA;
  auto module = Wrapped(ctx, features);
  const AbiStructTypes types = GetAbiStructTypes(ctx);

  llvm::GlobalVariable* library = module->getNamedGlobal("kiln_library");
  ASSERT_NE(library, nullptr);
  EXPECT_EQ(library->getValueType(), types.library);
  auto* init = llvm::cast<llvm::ConstantStruct>(library->getInitializer());
  auto field = [&](unsigned i) { return llvm::cast<llvm::ConstantInt>(init->getOperand(i)); };
  EXPECT_EQ(field(0)->getZExtValue(), KILN_EXECUTABLE_ABI_VERSION);  // abi_version
  EXPECT_EQ(field(1)->getZExtValue(), 0u);                           // flags
  EXPECT_EQ(field(3)->getZExtValue(), features);                     // required_cpu_features
  EXPECT_EQ(field(4)->getZExtValue(), 1u);                           // export_count
  EXPECT_EQ(field(5)->getZExtValue(), 0u);                           // import_count

  llvm::GlobalVariable* exports = module->getNamedGlobal("kiln_exports");
  ASSERT_NE(exports, nullptr);
  auto* exports_type = llvm::cast<llvm::ArrayType>(exports->getValueType());
  EXPECT_EQ(exports_type->getElementType(), types.export_entry);
  EXPECT_EQ(exports_type->getNumElements(), 1u);
  auto* entry = llvm::cast<llvm::ConstantStruct>(
      llvm::cast<llvm::ConstantArray>(exports->getInitializer())->getOperand(0));
  EXPECT_EQ(llvm::cast<llvm::ConstantInt>(entry->getOperand(2))->getZExtValue(), 2u);
  // The binding declarations and the grid the runtime checks dispatches against.
  auto* bindings = llvm::cast<llvm::GlobalVariable>(entry->getOperand(6));
  auto* table = llvm::cast<llvm::ConstantArray>(bindings->getInitializer());
  ASSERT_EQ(table->getNumOperands(), 2u);
  std::vector<std::pair<uint64_t, uint64_t>> declared;
  for (llvm::Value* binding : table->operands()) {
    auto* fields = llvm::cast<llvm::ConstantStruct>(binding);
    EXPECT_EQ(fields->getType(), types.binding_entry);
    declared.emplace_back(llvm::cast<llvm::ConstantInt>(fields->getOperand(0))->getZExtValue(),
                          llvm::cast<llvm::ConstantInt>(fields->getOperand(1))->getZExtValue());
  }
  EXPECT_EQ(declared, (std::vector<std::pair<uint64_t, uint64_t>>{
                          {64, KILN_BINDING_FLAG_READ}, {128, KILN_BINDING_FLAG_WRITTEN}}));
  auto* grid = llvm::cast<llvm::Constant>(entry->getOperand(7));  // folds to a data array
  std::vector<uint64_t> counts(3);
  for (unsigned d = 0; d < 3; ++d)
    counts[d] = llvm::cast<llvm::ConstantInt>(grid->getAggregateElement(d))->getZExtValue();
  EXPECT_EQ(counts, (std::vector<uint64_t>{4, 2, 1}));

  // The query function refuses callers older than the version: `max_abi_version >= VERSION`.
  llvm::Function* query = module->getFunction(KILN_LIBRARY_QUERY_SYMBOL);
  ASSERT_NE(query, nullptr);
  EXPECT_EQ(query->getLinkage(), llvm::GlobalValue::ExternalLinkage);
  bool checks_version = false;
  for (llvm::Instruction& inst : query->getEntryBlock())
    if (auto* cmp = llvm::dyn_cast<llvm::ICmpInst>(&inst))
      if (auto* bound = llvm::dyn_cast<llvm::ConstantInt>(cmp->getOperand(1)))
        checks_version = cmp->getPredicate() == llvm::ICmpInst::ICMP_UGE &&
                         cmp->getOperand(0) == query->getArg(0) &&
                         bound->getZExtValue() == KILN_EXECUTABLE_ABI_VERSION;
  EXPECT_TRUE(checks_version);

  // The wrapper reads the state structs through the checked types: bindings from
  // dispatch_state.binding_ptrs, the workgroup from workgroup_state.workgroup_id.
  llvm::Function* wrapper = module->getFunction("kiln_dispatch_k");
  ASSERT_NE(wrapper, nullptr);
  std::vector<std::pair<llvm::Type*, uint64_t>> field_reads;
  for (llvm::Instruction& inst : wrapper->getEntryBlock())
    if (auto* gep = llvm::dyn_cast<llvm::GetElementPtrInst>(&inst))
      if (gep->getSourceElementType()->isStructTy() && gep->getNumIndices() == 2)
        field_reads.emplace_back(gep->getSourceElementType(),
                                 llvm::cast<llvm::ConstantInt>(gep->getOperand(2))->getZExtValue());
  EXPECT_EQ(field_reads, (std::vector<std::pair<llvm::Type*, uint64_t>>{
                             {types.dispatch_state, 4}, {types.workgroup_state, 0}}));
  // Those indices name the intended C fields (whose offsets StructsMatchTheCHeader checks).
  EXPECT_STREQ(Dispatch().fields[4].name, "binding_ptrs");
  EXPECT_STREQ(Workgroup().fields[0].name, "workgroup_id");
}

// A second module in the same context reuses the types (no "kiln_library_t.0" copies that the
// layout test would not see).
TEST_F(AbiWrapperTest, TypesAreSharedAcrossModules) {
  llvm::LLVMContext ctx;
  auto first = Wrapped(ctx, 0);
  auto second = Wrapped(ctx, 0);
  EXPECT_EQ(first->getNamedGlobal("kiln_library")->getValueType(),
            second->getNamedGlobal("kiln_library")->getValueType());
  EXPECT_EQ(llvm::StructType::getTypeByName(ctx, "kiln_library_t.0"), nullptr);
}

}  // namespace
}  // namespace kiln::compiler
