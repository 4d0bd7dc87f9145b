// Writes the checked-in seed corpora of the runtime's and server's fuzz targets (the compiler's
// MLIR seeds are plain text files). Run by scripts/make-fuzz-seeds.sh, which builds the inputs:
//
//   kiln_make_fuzz_seeds SOURCE_ROOT TEST_ELF TEST_ELF_MISSING_IMPORT TEST_LIBRARY
//                        TEST_LIBRARY_MODULE [COMPILED_MODULE...]
//
// TEST_ELF* are the embedded-ELF fixtures, TEST_LIBRARY the system-library one, and the modules
// come from kiln_make_test_module and kiln-compile. Seeds are small valid inputs plus a few
// near-valid ones; each input layout must match what its <thing>_fuzz.cc reads.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "runtime_service/loader/elf_loader.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/tensor/npy.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
namespace mv1 = kiln::module::v1;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "make_fuzz_seeds: cannot read " << path << "\n";
    std::exit(1);
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) {
    std::cerr << "make_fuzz_seeds: cannot write " << path << "\n";
    std::exit(1);
  }
}

template <typename T>
T Check(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::cerr << "make_fuzz_seeds: " << what << ": " << value.status() << "\n";
    std::exit(1);
  }
  return *std::move(value);
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Appends what runtime_service/testing/fuzzing.h's FuzzInput reads back.
struct InputWriter {
  std::string bytes;
  template <typename T>
  InputWriter& Integer(T value) {
    bytes.append(reinterpret_cast<const char*>(&value), sizeof(value));
    return *this;
  }
  InputWriter& Byte(uint8_t value) { return Integer(value); }
  InputWriter& String(const std::string& text) {
    Byte(static_cast<uint8_t>(text.size()));
    bytes += text;
    return *this;
  }
};

// ---- module_file_fuzz ----

void AddArg(google::protobuf::RepeatedPtrField<mv1::ArgumentDef>* args, const char* name,
            DataType dtype, const std::vector<int64_t>& shape) {
  mv1::ArgumentDef* arg = args->Add();
  arg->set_name(name);
  arg->mutable_type()->set_dtype(dtype);
  for (int64_t dim : shape) arg->mutable_type()->add_shape(dim);
}

mv1::BufferRef Ref(uint32_t slot, uint64_t offset, uint64_t length) {
  mv1::BufferRef ref;
  ref.set_slot(slot);
  ref.set_offset(offset);
  ref.set_length(length);
  return ref;
}

// No executables: a host program of binds, copies, fills and barriers, which the fuzzer always
// loads (and records), plus a second function of assorted types whose program fills its output.
std::string CopyFillModule() {
  module::ModuleBuilder builder;
  builder.def().set_name("copy_fill");
  const std::string weights(16, '\x3f');
  mv1::ConstantDef* constant = builder.def().add_constants();
  constant->set_name("w");
  constant->set_segment(builder.AddSegment("w", Bytes(weights)));
  builder.AddSegment("empty", {}, 4096);

  mv1::FunctionDef* main = builder.def().add_functions();
  main->set_name("main");
  main->set_execution_model(mv1::EXECUTION_MODEL_ASYNC);
  AddArg(main->mutable_inputs(), "x", mv1::DATA_TYPE_F32, {4});
  AddArg(main->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {4});
  AddArg(main->mutable_outputs(), "z", mv1::DATA_TYPE_F32, {2, 2});
  mv1::HostProgram* program = main->mutable_program();
  program->set_slot_count(5);
  program->set_transient_arena_size(128);
  auto command = [&] { return program->add_commands(); };
  command()->mutable_bind_input()->set_slot(0);
  command()->mutable_bind_output()->set_slot(1);
  auto* z = command()->mutable_bind_output();
  z->set_slot(2);
  z->set_output(1);
  command()->mutable_bind_constant()->set_slot(3);
  auto* transient = command()->mutable_bind_transient();
  transient->set_slot(4);
  transient->set_arena_offset(64);
  transient->set_length(16);
  auto* copy = command()->mutable_copy();
  *copy->mutable_source() = Ref(0, 0, 16);
  *copy->mutable_target() = Ref(4, 0, 16);
  command()->mutable_barrier();
  auto* copy2 = command()->mutable_copy();
  *copy2->mutable_source() = Ref(4, 0, 16);
  *copy2->mutable_target() = Ref(1, 0, 16);
  auto* fill = command()->mutable_fill();
  *fill->mutable_target() = Ref(2, 0, 8);
  fill->set_pattern(std::string("\0\0\x80\x3f", 4));
  auto* copy3 = command()->mutable_copy();
  *copy3->mutable_source() = Ref(3, 8, 8);
  *copy3->mutable_target() = Ref(2, 8, 8);

  mv1::FunctionDef* types = builder.def().add_functions();
  types->set_name("types");
  AddArg(types->mutable_inputs(), "a", mv1::DATA_TYPE_BF16, {});
  AddArg(types->mutable_inputs(), "b", mv1::DATA_TYPE_U64, {0, 3});
  AddArg(types->mutable_inputs(), "c", mv1::DATA_TYPE_BOOL, {1, 1, 1});
  AddArg(types->mutable_outputs(), "d", mv1::DATA_TYPE_I16, {5});
  types->mutable_program()->set_slot_count(1);
  types->mutable_program()->add_commands()->mutable_bind_output();
  auto* fill_d = types->mutable_program()->add_commands()->mutable_fill();
  *fill_d->mutable_target() = Ref(0, 0, 10);
  fill_d->set_pattern(std::string(2, '\x7f'));
  return Check(builder.Serialize(), "copy_fill module");
}

void ModuleSeeds(const fs::path& dir, const std::vector<fs::path>& modules) {
  const std::string copy_fill = CopyFillModule();
  WriteFile(dir / "copy_fill.kmod", copy_fill);
  WriteFile(dir / "truncated.kmod", copy_fill.substr(0, 100));
  std::string bad_hash = copy_fill;
  bad_hash[bad_hash.find(std::string(16, '\x3f'))] ^= 1;  // a byte of constant "w"
  WriteFile(dir / "bad_hash.kmod", bad_hash);
  for (const fs::path& path : modules) WriteFile(dir / path.filename(), ReadFile(path));
}

// ---- elf_loader_fuzz: [u32 struct offset][u8 export count][names][image] ----

std::string ElfSeed(uint32_t struct_offset, const mv1::ExecutableDef& def,
                    const std::string& image) {
  InputWriter writer;
  writer.Integer(struct_offset).Byte(static_cast<uint8_t>(def.exports_size()));
  for (const std::string& name : def.exports()) writer.String(name);
  return writer.bytes + image;
}

// Where the query function's struct lies in the mapping, found by loading the (trusted) image
// for real; 0 when it does not load.
uint32_t StructOffset(const std::string& image, const mv1::ExecutableDef& def) {
  auto library = EmbeddedElfLibrary::Load(Bytes(image), def, ~uint64_t{0});
  if (!library.ok()) return 0;
  return static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(&(*library)->library()) -
                               (*library)->mapping().data());
}

void ElfSeeds(const fs::path& dir, const fs::path& test_elf, const fs::path& missing_import,
              const std::vector<fs::path>& modules) {
  mv1::ExecutableDef def;
  def.set_name("fuzz");
  def.set_format(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF);
  for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
    def.add_exports(name);
  const std::string image = ReadFile(test_elf);
  WriteFile(dir / "test_elf.bin", ElfSeed(StructOffset(image, def), def, image));
  WriteFile(dir / "null_query.bin", ElfSeed(std::numeric_limits<uint32_t>::max(), def, image));
  WriteFile(dir / "truncated.bin", ElfSeed(0, def, image.substr(0, 200)));
  WriteFile(dir / "missing_import.bin", ElfSeed(0, def, ReadFile(missing_import)));
  for (const fs::path& path : modules) {
    const std::string bytes = ReadFile(path);
    auto file = Check(module::ModuleFile::FromBytes(Bytes(bytes)), "compiled module");
    for (const mv1::ExecutableDef& executable : file->def().executables()) {
      if (executable.format() != mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF) continue;
      const auto segment = file->segment(executable.segment());
      const std::string elf(reinterpret_cast<const char*>(segment.data()), segment.size());
      WriteFile(dir / (path.stem().string() + "_" + executable.name() + ".bin"),
                ElfSeed(StructOffset(elf, executable), executable, elf));
    }
  }
}

// ---- system_library_fuzz: [even: image | odd: library struct] ----

void SystemLibrarySeeds(const fs::path& dir, const fs::path& test_library) {
  const std::string image = ReadFile(test_library);
  WriteFile(dir / "image_test_library.bin", std::string(1, '\0') + image);
  WriteFile(dir / "image_truncated.bin", std::string(1, '\0') + image.substr(0, 300));

  // A valid struct with two exports, checked against a def listing them. The order of reads
  // is FuzzStructCheck's.
  auto valid_struct = [](uint8_t host_choice) {
    InputWriter w;
    w.Byte(1);                       // mode: struct
    w.Byte(1);                       // abi_version: the runtime's
    w.Byte(0);                       // flags
    w.Byte(0).String("lib");         // name
    w.Byte(0).Integer<uint64_t>(4);  // required_cpu_features: one bit
    w.Byte(2);                       // export_count
    for (const char* name : {"add_f32", "scale_f32"}) {
      w.Byte(0).String(name);  // name
      w.Byte(0);               // fn: set
      w.Byte(3).Byte(0);       // binding and constant counts
      w.Byte(0);               // bindings: declared
      w.Byte(KILN_BINDING_FLAG_READ).Byte(KILN_BINDING_FLAG_READ).Byte(KILN_BINDING_FLAG_WRITTEN);
    }
    w.Byte(0);          // exports: the table
    w.Byte(1);          // import_count: 0
    w.Byte(1);          // imports: NULL
    w.String("lib");    // def name
    w.Byte(2);          // def export count
    w.Byte(1).Byte(1);  // both: the struct's names
    w.Byte(host_choice);
    return w.bytes;
  };
  WriteFile(dir / "struct_valid.bin", valid_struct(1));  // every host feature
  // Host features read as 0: the library needs a feature the host lacks.
  WriteFile(dir / "struct_missing_feature.bin", valid_struct(0) + std::string(8, '\0'));
}

// ---- npy_fuzz ----

HostTensor Tensor(DataType dtype, std::vector<int64_t> shape, std::string data) {
  HostTensor tensor;
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.data = std::move(data);
  return tensor;
}

// A .npy file with a hand-written header (padded to 64 bytes as numpy does) and data.
std::string Npy(int major, const std::string& header, const std::string& data) {
  std::string file = "\x93NUMPY";
  file += static_cast<char>(major);
  file += '\0';
  const size_t prefix = file.size() + (major == 1 ? 2 : 4);
  std::string padded = header;
  while ((prefix + padded.size() + 1) % 64 != 0) padded += ' ';
  padded += '\n';
  const uint32_t length = static_cast<uint32_t>(padded.size());
  file.append(reinterpret_cast<const char*>(&length), major == 1 ? 2 : 4);
  return file + padded + data;
}

void NpySeeds(const fs::path& dir) {
  const float f32[6] = {1, -2, 3.5f, 0, 1e-40f, -1e30f};
  WriteFile(dir / "f32_2x3.npy",
            Check(WriteNpy(Tensor(mv1::DATA_TYPE_F32, {2, 3},
                                  std::string(reinterpret_cast<const char*>(f32), sizeof(f32)))),
                  "npy"));
  WriteFile(dir / "bool_4.npy",
            Check(WriteNpy(Tensor(mv1::DATA_TYPE_BOOL, {4}, std::string("\1\0\0\1", 4))), "npy"));
  WriteFile(dir / "i64_scalar.npy",
            Check(WriteNpy(Tensor(mv1::DATA_TYPE_I64, {}, std::string(8, '\xff'))), "npy"));
  WriteFile(dir / "u16_empty.npy", Check(WriteNpy(Tensor(mv1::DATA_TYPE_U16, {0, 3}, "")), "npy"));
  WriteFile(dir / "f16_v2.npy", Npy(2, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                                    std::string("\0\x3c\0\xbc", 4)));
  WriteFile(
      dir / "i8_v3_list_shape.npy",
      Npy(3, "{\"shape\": [1, 2], \"fortran_order\": False, \"descr\": \"|i1\"}", "\x7f\x80"));
  WriteFile(dir / "fortran.npy",
            Npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }", std::string(8, 0)));
  WriteFile(dir / "big_endian.npy",
            Npy(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", std::string(4, 0)));
  WriteFile(dir / "structured.npy",
            Npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                std::string(4, 0)));
  WriteFile(dir / "truncated.npy",
            Npy(1, "{'descr': '<u4', 'fortran_order': False, 'shape': (3, 1), }", "\1\2\3\4"));
}

// ---- tensor_spec_fuzz ----

void TensorSpecSeeds(const fs::path& dir) {
  const std::vector<std::pair<const char*, const char*>> specs = {
      {"f32_matrix", "2x3xf32=1,2.5,-3,inf,nan,1e-45"},
      {"named_nested", "x=2x2xi64=[[1,-9223372036854775808],[3,9223372036854775807]]"},
      {"scalar_bool", "flag=bool=true"},
      {"f16_bf16", "3xf16=65504,-0,6e-8"},
      {"bf16", "2xbf16=3.4e38,-nan"},
      {"u8_range", "4xu8=0,255,256,-1"},
      {"i1_alias", "2xi1=0,1"},
      {"empty", "0x5xu32="},
      {"f64", "f64=0.1"},
      {"no_type", "1,2,3"},
  };
  for (const auto& [name, spec] : specs) WriteFile(dir / (std::string(name) + ".txt"), spec);
}

// ---- kserve_inputs_fuzz: serialized ModelInferRequests for main(a: f32[2x3], b: i8[4],
// c: bool[2], d: f16[1]) ----

void KServeSeeds(const fs::path& dir) {
  using Request = inference::ModelInferRequest;
  auto add = [](Request& request, const char* name, const char* datatype,
                const std::vector<int64_t>& shape) {
    auto* input = request.add_inputs();
    input->set_name(name);
    input->set_datatype(datatype);
    for (int64_t dim : shape) input->add_shape(dim);
    return input;
  };
  {  // typed contents, every input
    Request request;
    request.set_model_name("m");
    auto* a = add(request, "a", "FP32", {2, 3});
    for (float v : {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}) a->mutable_contents()->add_fp32_contents(v);
    auto* b = add(request, "b", "INT8", {4});
    for (int v : {-128, 0, 1, 127}) b->mutable_contents()->add_int_contents(v);
    auto* c = add(request, "c", "BOOL", {2});
    c->mutable_contents()->add_bool_contents(true);
    c->mutable_contents()->add_bool_contents(false);
    auto* d = add(request, "d", "FP16", {1});
    d->mutable_contents()->add_fp32_contents(65519.0f);
    WriteFile(dir / "typed.pb", request.SerializeAsString());
  }
  {  // raw contents, out of signature order and unnamed
    Request request;
    add(request, "d", "FP16", {1});
    add(request, "", "FP32", {2, 3});
    add(request, "c", "BOOL", {2});
    add(request, "", "INT8", {4});
    request.add_raw_input_contents(std::string("\0\x3c", 2));
    request.add_raw_input_contents(std::string(24, '\0'));
    request.add_raw_input_contents(std::string("\1\0", 2));
    request.add_raw_input_contents(std::string(4, '\x7f'));
    request.add_outputs()->set_name("result0");
    WriteFile(dir / "raw.pb", request.SerializeAsString());
  }
  {  // every other datatype and field, none matching the signature
    Request request;
    add(request, "i16", "INT16", {2})->mutable_contents()->add_int_contents(40000);
    add(request, "i64", "INT64", {1})->mutable_contents()->add_int64_contents(-1);
    add(request, "u32", "UINT32", {1})->mutable_contents()->add_uint_contents(4000000000u);
    add(request, "u64", "UINT64", {1})->mutable_contents()->add_uint64_contents(~uint64_t{0});
    add(request, "f64", "FP64", {1})->mutable_contents()->add_fp64_contents(0.5);
    add(request, "bf16", "BF16", {1})->mutable_contents()->add_fp32_contents(-3.4e38f);
    add(request, "bytes", "BYTES", {1})->mutable_contents()->add_bytes_contents("x");
    add(request, "shape", "UINT8", {-1, 2});
    WriteFile(dir / "other_types.pb", request.SerializeAsString());
  }
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  using namespace kiln;
  if (argc < 6) {
    std::cerr << "usage: kiln_make_fuzz_seeds SOURCE_ROOT TEST_ELF TEST_ELF_MISSING_IMPORT "
                 "TEST_LIBRARY TEST_LIBRARY_MODULE [COMPILED_MODULE...]\n";
    return 2;
  }
  const fs::path root = argv[1];
  std::vector<fs::path> modules;
  for (int i = 5; i < argc; ++i) modules.emplace_back(argv[i]);
  std::vector<fs::path> compiled(modules.begin() + 1, modules.end());

  ModuleSeeds(root / "runtime_service/module/testdata/fuzz/module_file", modules);
  ElfSeeds(root / "runtime_service/loader/testdata/fuzz/elf_loader", argv[2], argv[3], compiled);
  SystemLibrarySeeds(root / "runtime_service/loader/testdata/fuzz/system_library", argv[4]);
  NpySeeds(root / "runtime_service/tensor/testdata/fuzz/npy");
  TensorSpecSeeds(root / "runtime_service/tensor/testdata/fuzz/tensor_spec");
  KServeSeeds(root / "server/testdata/fuzz/kserve_inputs");
  return 0;
}
