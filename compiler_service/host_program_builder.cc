#include "compiler_service/host_program_builder.h"

#include <limits>
#include <map>
#include <set>

#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace kiln::compiler {
namespace {

namespace mv1 = kiln::module::v1;

uint64_t ByteSize(mlir::MemRefType type) {
  int64_t element_bytes = std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
  return static_cast<uint64_t>(type.getNumElements() * element_bytes);
}

llvm::Expected<std::string> GlobalBytes(mlir::memref::GlobalOp global) {
  auto type = global.getType();
  auto initial = global.getInitialValueAttr();
  if (!initial)
    return llvm::createStringError("constant '%s' has no value", global.getSymName().str().c_str());
  if (auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(initial)) {
    if (dense.getElementType().isInteger(1)) {  // bit-packed in MLIR, bytes for the code
      std::string out;
      for (bool bit : dense.getValues<bool>()) out.push_back(bit ? 1 : 0);
      if (dense.isSplat()) out.assign(type.getNumElements(), out.empty() ? 0 : out[0]);
      return out;
    }
    llvm::ArrayRef<char> raw = dense.getRawData();
    if (dense.isSplat()) {
      std::string out;
      out.reserve(ByteSize(type));
      for (int64_t i = 0; i < type.getNumElements(); ++i) out.append(raw.data(), raw.size());
      return out;
    }
    return std::string(raw.data(), raw.size());
  }
  if (auto resource = llvm::dyn_cast<mlir::DenseResourceElementsAttr>(initial)) {
    mlir::AsmResourceBlob* blob = resource.getRawHandle().getBlob();
    if (blob == nullptr)
      return llvm::createStringError("constant '%s' refers to a missing resource blob",
                                     global.getSymName().str().c_str());
    llvm::ArrayRef<char> data = blob->getData();
    if (data.size() != ByteSize(type))
      return llvm::createStringError("constant '%s' has %zu bytes, its type needs %llu",
                                     global.getSymName().str().c_str(), data.size(),
                                     static_cast<unsigned long long>(ByteSize(type)));
    return std::string(data.data(), data.size());
  }
  return llvm::createStringError("constant '%s' has an unsupported initializer",
                                 global.getSymName().str().c_str());
}

// What a dispatch's code does with each buffer argument (executable ABI v2's binding flags).
struct BufferAccess {
  bool read = false;
  bool written = false;
};

// The runtime lets a dispatch write only outputs and transients on the strength of `written`, so
// that errs towards "written": every write effect counts, traced up through views to the
// argument it views, and an op whose effects are unknown writes every buffer it takes. `read`
// only asks the runtime to check that the buffer holds data first: a linalg operand its payload
// never uses (a pooling window) is not read.
std::vector<BufferAccess> BufferAccesses(mlir::func::FuncOp dispatch) {
  std::vector<BufferAccess> accesses(dispatch.getNumArguments());
  mlir::Block& entry = dispatch.getBody().front();
  auto mark = [&](mlir::Value value, bool BufferAccess::* what) {
    while (mlir::Operation* def = value.getDefiningOp()) {
      if (auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(def)) {
        value = view.getViewSource();
      } else if (def->getNumOperands() > 0) {
        value = def->getOperand(0);
      } else {
        return;  // the dispatch's own allocation
      }
    }
    auto arg = llvm::cast<mlir::BlockArgument>(value);
    if (arg.getOwner() == &entry) {
      accesses[arg.getArgNumber()].*what = true;
    } else {  // a loop-carried buffer: any argument may flow into it
      for (BufferAccess& access : accesses) access.*what = true;
    }
  };
  auto mark_buffers = [&](mlir::Operation* op, bool BufferAccess::* what) {
    for (mlir::Value operand : op->getOperands())
      if (llvm::isa<mlir::BaseMemRefType>(operand.getType())) mark(operand, what);
  };
  dispatch.walk([&](mlir::Operation* op) {
    if (op == dispatch.getOperation()) return;
    auto effects_op = llvm::dyn_cast<mlir::MemoryEffectOpInterface>(op);
    if (!effects_op) {
      // Loops and the like: the nested ops (walked too) speak for them.
      if (op->hasTrait<mlir::OpTrait::HasRecursiveMemoryEffects>()) return;
      mark_buffers(op, &BufferAccess::read);
      mark_buffers(op, &BufferAccess::written);
      return;
    }
    auto linalg_op = llvm::dyn_cast<mlir::linalg::LinalgOp>(op);
    llvm::SmallVector<mlir::MemoryEffects::EffectInstance> effects;
    effects_op.getEffects(effects);
    for (const mlir::MemoryEffects::EffectInstance& effect : effects) {
      const bool write = llvm::isa<mlir::MemoryEffects::Write>(effect.getEffect());
      if (!write && !llvm::isa<mlir::MemoryEffects::Read>(effect.getEffect())) continue;
      bool BufferAccess::* what = write ? &BufferAccess::written : &BufferAccess::read;
      mlir::OpOperand* operand = effect.getEffectValue<mlir::OpOperand*>();
      if (!write && linalg_op && operand != nullptr &&
          !linalg_op.payloadUsesValueFromOperand(operand))
        continue;
      if (mlir::Value value = effect.getValue()) {
        if (llvm::isa<mlir::BaseMemRefType>(value.getType())) mark(value, what);
      } else {
        mark_buffers(op, what);
      }
    }
  });
  return accesses;
}

}  // namespace

llvm::Expected<HostPrograms> BuildHostPrograms(mlir::ModuleOp module,
                                               std::vector<mv1::FunctionDef>& functions) {
  HostPrograms result;
  mlir::SymbolTable symbols(module);
  std::map<std::string, uint32_t> export_ordinals;
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (!func->hasAttr(kDispatchAttr)) continue;
    export_ordinals[func.getSymName().str()] = result.exports.size();
    DispatchExport& entry = result.exports.emplace_back();
    entry.name = func.getSymName().str();
    const std::vector<BufferAccess> accesses = BufferAccesses(func);
    for (unsigned i = 0; i + 1 < func.getNumArguments(); ++i) {  // the last is the workgroup id
      auto type = llvm::dyn_cast<mlir::MemRefType>(func.getArgument(i).getType());
      if (!type || !type.hasStaticShape() || !type.getLayout().isIdentity())
        return llvm::createStringError(
            "dispatch '%s' argument %u is not a static, contiguous buffer", entry.name.c_str(), i);
      entry.bindings.push_back({ByteSize(type), accesses[i].read, accesses[i].written});
    }
    auto counts = func->getAttrOfType<mlir::DenseI64ArrayAttr>(kWorkgroupCountAttr);
    if (!counts || counts.size() != 3)
      return llvm::createStringError("dispatch '%s' has no workgroup count", entry.name.c_str());
    for (int d = 0; d < 3; ++d) {
      if (counts[d] < 1 || counts[d] > std::numeric_limits<uint32_t>::max())
        return llvm::createStringError("dispatch '%s' has a workgroup count of %lld",
                                       entry.name.c_str(), static_cast<long long>(counts[d]));
      entry.workgroup_count[d] = static_cast<uint32_t>(counts[d]);
    }
  }

  std::map<std::string, uint32_t> constant_index;
  llvm::SmallVector<mlir::func::FuncOp> hosts;
  for (auto func : module.getOps<mlir::func::FuncOp>())
    if (func.isPublic() && !func.isExternal()) hosts.push_back(func);

  for (mlir::func::FuncOp host : hosts) {
    auto it = std::find_if(functions.begin(), functions.end(), [&](const mv1::FunctionDef& fn) {
      return fn.name() == host.getSymName();
    });
    if (it == functions.end())
      return llvm::createStringError("no signature recorded for '%s'",
                                     host.getSymName().str().c_str());
    mv1::FunctionDef& fn = *it;
    if (auto model = host->getAttrOfType<mlir::StringAttr>(kExecutionModelAttr))
      fn.set_execution_model(model.getValue() == kAsyncModel ? mv1::EXECUTION_MODEL_ASYNC
                                                             : mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
    if (auto reason = host->getAttrOfType<mlir::StringAttr>(kExecutionModelReasonAttr))
      fn.set_execution_model_reason(reason.getValue().str());
    mv1::HostProgram& program = *fn.mutable_program();
    program.Clear();
    if (auto size = host->getAttrOfType<mlir::IntegerAttr>(kArenaSizeAttr))
      program.set_transient_arena_size(size.getInt());

    llvm::DenseMap<mlir::Value, uint32_t> slots;
    uint32_t next_slot = 0;
    unsigned inputs = fn.inputs_size();
    if (host.getNumArguments() != inputs + static_cast<unsigned>(fn.outputs_size()))
      return llvm::createStringError(
          "host function '%s' has %u buffers for %u inputs and %d "
          "outputs",
          fn.name().c_str(), host.getNumArguments(), inputs, fn.outputs_size());
    for (mlir::BlockArgument arg : host.getArguments()) {
      uint32_t slot = next_slot++;
      slots[arg] = slot;
      if (arg.getArgNumber() < inputs) {
        auto& bind = *program.add_commands()->mutable_bind_input();
        bind.set_slot(slot);
        bind.set_input(arg.getArgNumber());
      } else {
        auto& bind = *program.add_commands()->mutable_bind_output();
        bind.set_slot(slot);
        bind.set_output(arg.getArgNumber() - inputs);
      }
    }

    // Barriers only where data flows: a dispatch that reads or writes what the current stage
    // writes, or writes what it reads, starts a new stage.
    std::set<uint32_t> stage_reads, stage_writes;
    for (mlir::Operation& op : host.getBody().front()) {
      if (auto alloc = llvm::dyn_cast<mlir::memref::AllocOp>(op)) {
        auto offset = alloc->getAttrOfType<mlir::IntegerAttr>(kArenaOffsetAttr);
        if (!offset) return llvm::createStringError("transient without a planned offset");
        uint32_t slot = next_slot++;
        slots[alloc.getResult()] = slot;
        auto& bind = *program.add_commands()->mutable_bind_transient();
        bind.set_slot(slot);
        bind.set_arena_offset(offset.getInt());
        bind.set_length(ByteSize(alloc.getType()));
      } else if (auto get = llvm::dyn_cast<mlir::memref::GetGlobalOp>(op)) {
        std::string name = get.getName().str();
        if (!constant_index.count(name)) {
          auto global = symbols.lookup<mlir::memref::GlobalOp>(name);
          if (!global) return llvm::createStringError("no global '%s'", name.c_str());
          auto bytes = GlobalBytes(global);
          if (!bytes) return bytes.takeError();
          constant_index[name] = result.constants.size();
          result.constants.push_back({name, std::move(*bytes)});
        }
        uint32_t slot = next_slot++;
        slots[get.getResult()] = slot;
        auto& bind = *program.add_commands()->mutable_bind_constant();
        bind.set_slot(slot);
        bind.set_constant(constant_index[name]);
      } else if (auto call = llvm::dyn_cast<mlir::func::CallOp>(op)) {
        if (!call->hasAttr(kDispatchAttr))
          return llvm::createStringError("host function calls '%s', which is not a dispatch",
                                         call.getCallee().str().c_str());
        auto ordinal = export_ordinals.find(call.getCallee().str());
        if (ordinal == export_ordinals.end())
          return llvm::createStringError("host function calls unknown dispatch '%s'",
                                         call.getCallee().str().c_str());
        const DispatchExport& entry = result.exports[ordinal->second];
        mv1::DispatchCommand command;
        command.set_executable(0);
        command.set_export_ordinal(ordinal->second);
        for (uint32_t count : entry.workgroup_count) command.add_workgroup_count(count);
        if (call.getNumOperands() != entry.bindings.size() + 1)
          return llvm::createStringError("call of dispatch '%s' has %u operands, expected %zu",
                                         entry.name.c_str(), call.getNumOperands(),
                                         entry.bindings.size() + 1);
        bool needs_barrier = false;
        std::vector<std::pair<uint32_t, bool>> accesses;
        for (unsigned i = 0; i + 1 < call.getNumOperands(); ++i) {
          mlir::Value operand = call.getOperand(i);
          auto found = slots.find(operand);
          if (found == slots.end())
            return llvm::createStringError("dispatch operand %u has no buffer slot", i);
          uint32_t slot = found->second;
          auto& binding = *command.add_bindings();
          binding.set_slot(slot);
          binding.set_offset(0);
          binding.set_length(entry.bindings[i].length);  // the operand's type is the argument's
          bool writes = entry.bindings[i].written;
          if (stage_writes.count(slot) || (writes && stage_reads.count(slot))) needs_barrier = true;
          accesses.push_back({slot, writes});
        }
        if (needs_barrier) {
          program.add_commands()->mutable_barrier();
          stage_reads.clear();
          stage_writes.clear();
        }
        for (auto [slot, writes] : accesses) (writes ? stage_writes : stage_reads).insert(slot);
        *program.add_commands()->mutable_dispatch() = std::move(command);
      } else if (llvm::isa<mlir::func::ReturnOp, mlir::arith::ConstantOp>(op)) {
        continue;
      } else {
        return llvm::createStringError("unexpected op '%s' left in the host program",
                                       op.getName().getStringRef().str().c_str());
      }
    }
    program.set_slot_count(next_slot);
  }

  for (mlir::func::FuncOp host : hosts) host.erase();
  for (auto global : llvm::make_early_inc_range(module.getOps<mlir::memref::GlobalOp>()))
    global.erase();
  return result;
}

}  // namespace kiln::compiler
