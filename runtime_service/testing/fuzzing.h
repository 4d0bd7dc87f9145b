// Shared by kiln's fuzz targets (<thing>_fuzz.cc, each an LLVMFuzzerTestOneInput): structured
// values read out of the fuzzer's bytes, and invariant checks that abort, so that libFuzzer (in
// `make fuzz`) and the corpus replay test (in `make test`) both report a violation as a crash.
#ifndef KILN_RUNTIME_SERVICE_TESTING_FUZZING_H_
#define KILN_RUNTIME_SERVICE_TESTING_FUZZING_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

// Aborts with the condition's text when an invariant of the code under test does not hold.
#define KILN_FUZZ_CHECK(condition)                                                                \
  do {                                                                                            \
    if (!(condition)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

namespace kiln::fuzzing {

// Reads the input front to back. Past its end, integers read as 0 and strings as empty, so a
// target never has to check how much is left.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T Integer() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value{};
    const size_t n = std::min(sizeof(T), size_);
    if (n > 0) std::memcpy(&value, data_, n);  // memcpy from null is undefined, even for 0
    Skip(n);
    return value;
  }
  bool Bool() { return (Integer<uint8_t>() & 1) != 0; }
  // A length byte (taken modulo max_length + 1), then that many bytes.
  std::string String(size_t max_length) {
    const size_t length = std::min<size_t>(Integer<uint8_t>() % (max_length + 1), size_);
    std::string text(reinterpret_cast<const char*>(data_), length);
    Skip(length);
    return text;
  }
  // Everything not read yet; the input is then empty.
  std::span<const uint8_t> Rest() {
    std::span<const uint8_t> rest(data_, size_);
    Skip(size_);
    return rest;
  }
  size_t remaining() const { return size_; }

 private:
  void Skip(size_t n) {
    if (n == 0) return;
    data_ += n;
    size_ -= n;
  }

  const uint8_t* data_;
  size_t size_;
};

}  // namespace kiln::fuzzing

#endif  // KILN_RUNTIME_SERVICE_TESTING_FUZZING_H_
