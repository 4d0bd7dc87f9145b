#include "runtime_service/tensor/npy.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

// A tensor of `dtype` whose bytes are 0, 1, 2, ... (bool: alternating 0/1).
HostTensor Sample(DataType dtype, std::vector<int64_t> shape) {
  HostTensor tensor;
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  auto length = ByteLength(dtype, tensor.shape);
  EXPECT_TRUE(length.ok());
  for (int64_t i = 0; i < *length; ++i)
    tensor.data.push_back(static_cast<char>(dtype == mv1::DATA_TYPE_BOOL ? i % 2 : i * 7));
  return tensor;
}

// Builds a version-1.0 file around a hand-written header.
std::string NpyV1(const std::string& header, std::string_view data) {
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out += data;
  return out;
}

TEST(NpyTest, RoundTripsEveryDtype) {
  for (DataType dtype :
       {mv1::DATA_TYPE_F32, mv1::DATA_TYPE_F64, mv1::DATA_TYPE_F16, mv1::DATA_TYPE_I8,
        mv1::DATA_TYPE_I16, mv1::DATA_TYPE_I32, mv1::DATA_TYPE_I64, mv1::DATA_TYPE_U8,
        mv1::DATA_TYPE_U16, mv1::DATA_TYPE_U32, mv1::DATA_TYPE_U64, mv1::DATA_TYPE_BOOL}) {
    SCOPED_TRACE(std::string(DataTypeName(dtype)));
    HostTensor tensor = Sample(dtype, {2, 3});
    auto bytes = WriteNpy(tensor);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    // Data starts 64-byte aligned, header ends with a newline.
    size_t header_length = static_cast<uint8_t>((*bytes)[8]) | static_cast<uint8_t>((*bytes)[9])
                                                                   << 8;
    EXPECT_EQ((10 + header_length) % 64, 0u);
    EXPECT_EQ((*bytes)[10 + header_length - 1], '\n');
    auto back = ReadNpy(*bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->dtype, dtype);
    EXPECT_EQ(back->shape, tensor.shape);
    EXPECT_EQ(back->data, tensor.data);
  }
}

TEST(NpyTest, WritesNumpyStyleHeader) {
  auto bytes = WriteNpy(Sample(mv1::DATA_TYPE_F32, {2, 3}));
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(*bytes, HasSubstr("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
  bytes = WriteNpy(Sample(mv1::DATA_TYPE_U8, {5}));
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(*bytes, HasSubstr("'descr': '|u1'"));
  EXPECT_THAT(*bytes, HasSubstr("'shape': (5,), }"));
  bytes = WriteNpy(Sample(mv1::DATA_TYPE_BOOL, {}));
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(*bytes, HasSubstr("'descr': '|b1'"));
}

TEST(NpyTest, ScalarAndEmptyShapes) {
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{}, {0}, {3, 0, 2}}) {
    HostTensor tensor = Sample(mv1::DATA_TYPE_I32, shape);
    auto bytes = WriteNpy(tensor);
    ASSERT_TRUE(bytes.ok());
    auto back = ReadNpy(*bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape, shape);
    EXPECT_EQ(back->data, tensor.data);
  }
}

TEST(NpyTest, ReadsHandWrittenHeaders) {
  std::string data("\x01\x00\x02\x00\x03\x00", 6);
  // Double quotes, odd spacing, no trailing comma, keys in another order, Python 2 longs.
  auto tensor =
      ReadNpy(NpyV1("{ \"shape\" : (3L ,) ,\"fortran_order\":False, 'descr':'<i2'}     \n", data));
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_EQ(tensor->dtype, mv1::DATA_TYPE_I16);
  EXPECT_EQ(tensor->shape, std::vector<int64_t>{3});
  EXPECT_EQ(tensor->data, data);

  // Alternative spellings of single-byte and native-order types.
  for (const auto& [descr, dtype] :
       std::vector<std::pair<std::string, DataType>>{{"|i1", mv1::DATA_TYPE_I8},
                                                     {"<i1", mv1::DATA_TYPE_I8},
                                                     {"<u1", mv1::DATA_TYPE_U8},
                                                     {"|u1", mv1::DATA_TYPE_U8},
                                                     {">u1", mv1::DATA_TYPE_U8},
                                                     {"=f4", mv1::DATA_TYPE_F32},
                                                     {"<f2", mv1::DATA_TYPE_F16},
                                                     {"<u8", mv1::DATA_TYPE_U64}}) {
    auto length = ByteLength(dtype, std::vector<int64_t>{2});
    auto parsed = ReadNpy(NpyV1("{'descr': '" + descr + "', 'fortran_order': False, 'shape': [2]}",
                                std::string(static_cast<size_t>(*length), '\0')));
    ASSERT_TRUE(parsed.ok()) << descr << ": " << parsed.status();
    EXPECT_EQ(parsed->dtype, dtype) << descr;
  }
}

TEST(NpyTest, ReadsVersion2And3) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n";
  std::string data(8, '\0');
  for (char major : {2, 3}) {
    std::string file("\x93NUMPY", 6);
    file.push_back(major);
    file.push_back(0);
    uint32_t length = static_cast<uint32_t>(header.size());
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
    file += header;
    file += data;
    auto tensor = ReadNpy(file);
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    EXPECT_EQ(tensor->dtype, mv1::DATA_TYPE_F64);
  }
}

TEST(NpyTest, LargeHeaderUsesVersion2) {
  HostTensor tensor;
  tensor.dtype = mv1::DATA_TYPE_U8;
  tensor.shape.assign(30000, 1);  // "1, " per dim: a > 64 KiB header
  tensor.data = "x";
  auto bytes = WriteNpy(tensor);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ((*bytes)[6], 2);
  auto back = ReadNpy(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shape.size(), 30000u);
}

TEST(NpyTest, RejectsBadFiles) {
  std::string good_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  auto expect_error = [](const std::string& bytes, std::string_view text) {
    auto tensor = ReadNpy(bytes);
    ASSERT_FALSE(tensor.ok());
    EXPECT_THAT(std::string(tensor.status().message()), HasSubstr(text));
  };
  expect_error("PK\x03\x04 not numpy", "bad magic");
  expect_error(std::string("\x93NUMPY\x01", 7), "truncated");
  expect_error(std::string("\x93NUMPY\x04\x00\x10\x00", 10), "version 4.0");
  expect_error(NpyV1(good_header, std::string(7, '\0')), "truncated .npy file");
  expect_error(NpyV1(good_header, std::string(9, '\0')), "needs 8 data bytes, file has 9");
  expect_error(NpyV1(good_header, "").substr(0, 40), "truncated .npy file: header needs");
  expect_error(NpyV1("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", std::string(8, 0)),
               "Fortran order");
  expect_error(NpyV1("{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", std::string(8, 0)),
               "big-endian");
  expect_error(NpyV1("{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}", std::string(16, 0)),
               "unsupported .npy dtype '<c8'");
  expect_error(NpyV1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", ""),
               "structured");
  expect_error(NpyV1("{'descr': '<f4', 'shape': (2,), }", ""), "needs 'descr'");
  expect_error(NpyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", ""),
               "non-negative");
  expect_error(NpyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", ""),
               "malformed .npy header");
  expect_error(NpyV1("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", ""),
               "unexpected word 'Maybe'");
  expect_error(NpyV1("{'descr': '|b1', 'fortran_order': False, 'shape': (1,)}", "\x02"),
               "other than 0 or 1");
  expect_error(NpyV1(std::string(40, '(') + std::string(40, ')'), ""), "nesting too deep");
}

TEST(NpyTest, RejectsUnwritableTensors) {
  auto bf16 = WriteNpy(Sample(mv1::DATA_TYPE_BF16, {2}));
  ASSERT_FALSE(bf16.ok());
  EXPECT_THAT(std::string(bf16.status().message()), HasSubstr("bf16"));
  HostTensor short_data = Sample(mv1::DATA_TYPE_F32, {2});
  short_data.data.pop_back();
  EXPECT_FALSE(WriteNpy(short_data).ok());
}

TEST(NpyTest, FileRoundTripAndErrors) {
  std::string path = testing::TempDir() + "/npy_test_" + std::to_string(getpid()) + ".npy";
  HostTensor tensor = Sample(mv1::DATA_TYPE_F32, {4});
  ASSERT_TRUE(WriteNpyFile(path, tensor).ok());
  auto back = ReadNpyFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->data, tensor.data);
  std::remove(path.c_str());

  auto missing = ReadNpyFile(path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(path));
  EXPECT_FALSE(WriteNpyFile("/nonexistent-dir/x.npy", tensor).ok());
}

// Runs /usr/bin/python3 with `arguments` (a fixed command line, no outside input), returning
// its exit status as std::system does.
int RunPython(const std::string& arguments) {
  const std::string command = "/usr/bin/python3 " + arguments;
  // NOLINTNEXTLINE(bugprone-command-processor): only this test's own fixed command lines
  return std::system(command.c_str());
}

// Cross-checks against files NumPy itself writes and reads, where Debian's python3 has numpy.
TEST(NpyTest, InteroperatesWithNumpy) {
  if (RunPython("-c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  std::string dir = testing::TempDir() + "/npy_numpy_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string script =
      "import numpy as np\n"
      "np.save('" +
      dir +
      "/a.npy', np.arange(6, dtype=np.float16).reshape(2, 3) / 4)\n"
      "np.save('" +
      dir +
      "/b.npy', np.array(7, dtype=np.int64))\n"
      "np.save('" +
      dir + "/c.npy', np.array([True, False, True]))\n";
  ASSERT_EQ(RunPython("-c \"" + script + "\""), 0);

  auto a = ReadNpyFile(dir + "/a.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, mv1::DATA_TYPE_F16);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  // 1/4 as IEEE half is 0x3400.
  EXPECT_EQ(static_cast<uint8_t>(a->data[2]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(a->data[3]), 0x34);
  auto b = ReadNpyFile(dir + "/b.npy");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->shape.empty());
  EXPECT_EQ(b->data, std::string("\x07\0\0\0\0\0\0\0", 8));
  auto c = ReadNpyFile(dir + "/c.npy");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dtype, mv1::DATA_TYPE_BOOL);
  EXPECT_EQ(c->data, std::string("\x01\x00\x01", 3));

  // And NumPy reads what kiln writes.
  HostTensor d = Sample(mv1::DATA_TYPE_U16, {3, 2});
  ASSERT_TRUE(WriteNpyFile(dir + "/d.npy", d).ok());
  std::string check = "import numpy as np; d = np.load('" + dir +
                      "/d.npy'); assert d.dtype == np.uint16 and d.shape == (3, 2), d; "
                      "assert d.tobytes() == bytes(range(0, 84, 7)), d";
  EXPECT_EQ(RunPython("-c \"" + check + "\""), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kiln
