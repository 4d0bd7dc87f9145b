#include "compiler_service/codegen/abi_wrapper.h"

#include <functional>

#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/Transforms/Utils/ModuleUtils.h"
#include "runtime_service/executable_abi.h"

namespace kiln::compiler {
namespace {

constexpr unsigned kDispatchStateBindingPtrsField = 4;
constexpr unsigned kWorkgroupStateWorkgroupIdField = 0;

// The named struct `name` with `fields`; one per context, so that every module of a context (and
// the layout test) sees the same type.
llvm::StructType* NamedStruct(llvm::LLVMContext& ctx, llvm::StringRef name,
                              llvm::ArrayRef<llvm::Type*> fields) {
  if (llvm::StructType* existing = llvm::StructType::getTypeByName(ctx, name)) return existing;
  return llvm::StructType::create(ctx, fields, name);
}

llvm::Constant* CString(llvm::Module& module, llvm::StringRef text, llvm::StringRef name) {
  llvm::Constant* init = llvm::ConstantDataArray::getString(module.getContext(), text);
  auto* global = new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::PrivateLinkage, init, name);
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return global;
}

}  // namespace

AbiStructTypes GetAbiStructTypes(llvm::LLVMContext& ctx) {
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i32x3 = llvm::ArrayType::get(i32, 3);
  AbiStructTypes types;
  types.dispatch_state =
      NamedStruct(ctx, "kiln_dispatch_state_t", {i32x3, i32x3, i32, i32, ptr, ptr, ptr});
  types.workgroup_state = NamedStruct(ctx, "kiln_workgroup_state_t", {i32x3, i32, ptr, i64});
  types.binding_entry = NamedStruct(ctx, "kiln_binding_t", {i64, i32, i32});
  types.export_entry =
      NamedStruct(ctx, "kiln_export_t", {ptr, ptr, i32, i32, i32x3, i32, ptr, i32x3, i32});
  types.import_entry = NamedStruct(ctx, "kiln_import_t", {ptr, i32, i32});
  types.library = NamedStruct(ctx, "kiln_library_t", {i32, i32, ptr, i64, i32, i32, ptr, ptr});
  return types;
}

llvm::Error EmitAbiWrapper(llvm::Module& module, const std::string& library_name,
                           const std::vector<ExportSpec>& exports, uint64_t required_cpu_features) {
  llvm::LLVMContext& ctx = module.getContext();
  const AbiStructTypes types = GetAbiStructTypes(ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);

  // Every symbol the lowering produced becomes internal: only the query function is exported,
  // and LLVM may inline the kernels into their wrappers.
  for (llvm::Function& fn : module.functions())
    if (!fn.isDeclaration()) fn.setLinkage(llvm::GlobalValue::InternalLinkage);
  for (llvm::GlobalVariable& global : module.globals())
    if (!global.isDeclaration()) global.setLinkage(llvm::GlobalValue::InternalLinkage);

  auto* dispatch_type = llvm::FunctionType::get(i32, {ptr, ptr, ptr}, /*isVarArg=*/false);
  std::vector<llvm::Constant*> export_entries;
  for (const ExportSpec& spec : exports) {
    llvm::Function* kernel = module.getFunction(spec.function);
    if (kernel == nullptr)
      return llvm::createStringError("ABI wrapper: no lowered function '%s'",
                                     spec.function.c_str());
    const auto binding_count = static_cast<uint32_t>(spec.bindings.size());
    if (kernel->arg_size() != binding_count + 1)
      return llvm::createStringError("ABI wrapper: function '%s' takes %zu arguments, expected %u",
                                     spec.function.c_str(), kernel->arg_size(), binding_count + 1);
    auto* wrapper = llvm::Function::Create(dispatch_type, llvm::GlobalValue::InternalLinkage,
                                           "kiln_dispatch_" + spec.name, module);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", wrapper));
    llvm::Value* state = wrapper->getArg(1);
    llvm::Value* bindings_field =
        b.CreateStructGEP(types.dispatch_state, state, kDispatchStateBindingPtrsField);
    llvm::Value* bindings = b.CreateLoad(ptr, bindings_field, "bindings");
    std::vector<llvm::Value*> args;
    for (uint32_t i = 0; i < binding_count; ++i) {
      llvm::Value* slot = b.CreateConstInBoundsGEP1_64(ptr, bindings, i);
      args.push_back(b.CreateLoad(ptr, slot));
    }
    llvm::Value* workgroup_id = b.CreateConstInBoundsGEP2_32(
        types.workgroup_state, wrapper->getArg(2), 0, kWorkgroupStateWorkgroupIdField);
    llvm::Value* workgroup_x = b.CreateLoad(i32, workgroup_id, "workgroup_id_x");  // [0]
    args.push_back(b.CreateZExt(workgroup_x, kernel->getArg(binding_count)->getType()));
    llvm::CallInst* call = b.CreateCall(kernel, args);
    // A kernel that checks indices it computed from data returns a kiln_dispatch_status
    // (kiln-lower-dispatch-asserts); the others cannot fail.
    if (kernel->getReturnType()->isIntegerTy(32))
      b.CreateRet(call);
    else
      b.CreateRet(llvm::ConstantInt::get(i32, KILN_DISPATCH_OK));

    auto* i32x3 = llvm::ArrayType::get(i32, 3);
    auto triple = [&](std::array<uint32_t, 3> values) {
      return llvm::ConstantArray::get(
          i32x3, {llvm::ConstantInt::get(i32, values[0]), llvm::ConstantInt::get(i32, values[1]),
                  llvm::ConstantInt::get(i32, values[2])});
    };
    // What the runtime checks every dispatch of this export against (VerifyProgram,
    // runtime_service/program/program_verifier.cc).
    std::vector<llvm::Constant*> binding_entries;
    for (const BindingSpec& binding : spec.bindings) {
      const uint32_t flags = (binding.read ? uint32_t{KILN_BINDING_FLAG_READ} : 0u) |
                             (binding.written ? uint32_t{KILN_BINDING_FLAG_WRITTEN} : 0u);
      binding_entries.push_back(llvm::ConstantStruct::get(
          types.binding_entry,
          {llvm::ConstantInt::get(i64, binding.length), llvm::ConstantInt::get(i32, flags),
           llvm::ConstantInt::get(i32, 0)}));
    }
    llvm::Constant* bindings_table = llvm::ConstantPointerNull::get(ptr);
    if (!binding_entries.empty()) {
      auto* table_type = llvm::ArrayType::get(types.binding_entry, binding_entries.size());
      bindings_table = new llvm::GlobalVariable(
          module, table_type, /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
          llvm::ConstantArray::get(table_type, binding_entries), "kiln_bindings_" + spec.name);
    }
    export_entries.push_back(llvm::ConstantStruct::get(
        types.export_entry,
        {CString(module, spec.name, "kiln_export_name"), wrapper,
         llvm::ConstantInt::get(i32, binding_count), llvm::ConstantInt::get(i32, 0),
         triple({1, 1, 1}), llvm::ConstantInt::get(i32, 0), bindings_table,
         triple(spec.workgroup_count), llvm::ConstantInt::get(i32, 0)}));
  }

  auto* exports_type = llvm::ArrayType::get(types.export_entry, export_entries.size());
  auto* exports_table = new llvm::GlobalVariable(
      module, exports_type, /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
      llvm::ConstantArray::get(exports_type, export_entries), "kiln_exports");
  auto* library_struct = new llvm::GlobalVariable(
      module, types.library, /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
      llvm::ConstantStruct::get(
          types.library,
          {llvm::ConstantInt::get(i32, KILN_EXECUTABLE_ABI_VERSION), llvm::ConstantInt::get(i32, 0),
           CString(module, library_name, "kiln_library_name"),
           llvm::ConstantInt::get(i64, required_cpu_features),
           llvm::ConstantInt::get(i32, export_entries.size()), llvm::ConstantInt::get(i32, 0),
           exports_table, llvm::ConstantPointerNull::get(ptr)}),
      "kiln_library");

  // const kiln_library_t* kiln_library_query(uint32_t max_abi_version, const env*)
  auto* query =
      llvm::Function::Create(llvm::FunctionType::get(ptr, {i32, ptr}, false),
                             llvm::GlobalValue::ExternalLinkage, KILN_LIBRARY_QUERY_SYMBOL, module);
  query->setVisibility(llvm::GlobalValue::DefaultVisibility);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", query));
  llvm::Value* supported =
      b.CreateICmpUGE(query->getArg(0), llvm::ConstantInt::get(i32, KILN_EXECUTABLE_ABI_VERSION));
  b.CreateRet(b.CreateSelect(supported, library_struct, llvm::ConstantPointerNull::get(ptr)));
  return llvm::Error::success();
}

void EmitFreestandingRuntime(llvm::Module& module) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i8 = llvm::Type::getInt8Ty(ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  std::vector<llvm::Constant*> keep;

  // Byte loops: these only back the rare large copy LLVM outlines; the hot data movement is
  // vectorized in the dispatches themselves.
  auto define = [&](const char* name, llvm::FunctionType* type,
                    const std::function<void(llvm::IRBuilder<>&, llvm::Function*)>& body) {
    llvm::Function* fn = module.getFunction(name);
    if (fn == nullptr)
      fn = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, name, module);
    if (!fn->isDeclaration()) return;
    fn->setLinkage(llvm::GlobalValue::ExternalLinkage);
    fn->setVisibility(llvm::GlobalValue::HiddenVisibility);
    fn->addFnAttr("no-builtins");  // or LLVM turns the loop back into a call to itself
    fn->addFnAttr(llvm::Attribute::NoInline);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    body(b, fn);
    keep.push_back(fn);
  };
  auto byte_loop = [&](llvm::IRBuilder<>& b, llvm::Function* fn, llvm::Value* count, bool backwards,
                       const std::function<void(llvm::IRBuilder<>&, llvm::Value*)>& step) {
    llvm::BasicBlock* entry = b.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx, "loop", fn);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx, "done", fn);
    b.CreateCondBr(b.CreateICmpEQ(count, llvm::ConstantInt::get(i64, 0)), done, loop);
    b.SetInsertPoint(loop);
    llvm::PHINode* i = b.CreatePHI(i64, 2);
    i->addIncoming(llvm::ConstantInt::get(i64, 0), entry);
    llvm::Value* index =
        backwards ? b.CreateSub(b.CreateSub(count, i), llvm::ConstantInt::get(i64, 1)) : i;
    step(b, index);
    llvm::Value* next = b.CreateAdd(i, llvm::ConstantInt::get(i64, 1));
    i->addIncoming(next, b.GetInsertBlock());
    b.CreateCondBr(b.CreateICmpEQ(next, count), done, loop);
    b.SetInsertPoint(done);
  };
  auto copy_fn = [&](bool overlap_safe) {
    return [&, overlap_safe](llvm::IRBuilder<>& b, llvm::Function* fn) {
      llvm::Value* dst = fn->getArg(0);
      llvm::Value* src = fn->getArg(1);
      llvm::Value* count = fn->getArg(2);
      auto step = [&](llvm::IRBuilder<>& lb, llvm::Value* index) {
        llvm::Value* byte = lb.CreateLoad(i8, lb.CreateGEP(i8, src, index));
        lb.CreateStore(byte, lb.CreateGEP(i8, dst, index));
      };
      if (!overlap_safe) {
        byte_loop(b, fn, count, false, step);
        b.CreateRet(dst);
        return;
      }
      // memmove: copy backwards when the destination starts inside the source.
      llvm::BasicBlock* forward = llvm::BasicBlock::Create(ctx, "forward", fn);
      llvm::BasicBlock* backward = llvm::BasicBlock::Create(ctx, "backward", fn);
      b.CreateCondBr(b.CreateICmpULT(b.CreatePtrToInt(dst, i64), b.CreatePtrToInt(src, i64)),
                     forward, backward);
      b.SetInsertPoint(forward);
      byte_loop(b, fn, count, false, step);
      b.CreateRet(dst);
      b.SetInsertPoint(backward);
      byte_loop(b, fn, count, true, step);
      b.CreateRet(dst);
    };
  };
  auto* copy_type = llvm::FunctionType::get(ptr, {ptr, ptr, i64}, false);
  define("memcpy", copy_type, copy_fn(false));
  define("memmove", copy_type, copy_fn(true));
  define("memset", llvm::FunctionType::get(ptr, {ptr, i32, i64}, false),
         [&](llvm::IRBuilder<>& b, llvm::Function* fn) {
           llvm::Value* value = b.CreateTrunc(fn->getArg(1), i8);
           byte_loop(b, fn, fn->getArg(2), false, [&](llvm::IRBuilder<>& lb, llvm::Value* index) {
             lb.CreateStore(value, lb.CreateGEP(i8, fn->getArg(0), index));
           });
           b.CreateRet(fn->getArg(0));
         });
  std::vector<llvm::GlobalValue*> used;
  used.reserve(keep.size());
  for (llvm::Constant* fn : keep) used.push_back(llvm::cast<llvm::GlobalValue>(fn));
  llvm::appendToCompilerUsed(module, used);
}

}  // namespace kiln::compiler
