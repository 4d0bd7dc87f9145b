// Fuzzes ReadNpy (.npy files given to kiln-run, kiln infer and tensor specs' @PATH.npy). A file
// it accepts must hold exactly its tensor's bytes, and must round-trip: WriteNpy of the tensor
// reads back as the same tensor, and writing that again gives the same file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime_service/tensor/npy.h"
#include "runtime_service/tensor/tensor.h"
#include "runtime_service/testing/fuzzing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<HostTensor> tensor = ReadNpy(bytes);
  if (!tensor.ok()) return 0;

  absl::StatusOr<int64_t> length = ByteLength(tensor->dtype, tensor->shape);
  KILN_FUZZ_CHECK(length.ok());
  KILN_FUZZ_CHECK(tensor->data.size() == static_cast<uint64_t>(*length));
  // The data is the file's tail.
  KILN_FUZZ_CHECK(bytes.ends_with(tensor->data));

  absl::StatusOr<std::string> written = WriteNpy(*tensor);
  KILN_FUZZ_CHECK(written.ok());
  absl::StatusOr<HostTensor> reread = ReadNpy(*written);
  KILN_FUZZ_CHECK(reread.ok());
  KILN_FUZZ_CHECK(reread->dtype == tensor->dtype);
  KILN_FUZZ_CHECK(reread->shape == tensor->shape);
  KILN_FUZZ_CHECK(reread->data == tensor->data);
  absl::StatusOr<std::string> rewritten = WriteNpy(*reread);
  KILN_FUZZ_CHECK(rewritten.ok() && *rewritten == *written);
  return 0;
}
