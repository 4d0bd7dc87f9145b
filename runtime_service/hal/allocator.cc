#include "runtime_service/hal/allocator.h"

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::hal {

namespace {

// Rounds up to the alignment; 0 when that would overflow.
size_t RoundUp(size_t length) {
  if (length > SIZE_MAX - (kBufferAlignment - 1)) return 0;
  return (length + kBufferAlignment - 1) & ~(kBufferAlignment - 1);
}

}  // namespace

absl::StatusOr<BufferView> BufferView::Subview(uint64_t offset, uint64_t length) const {
  if (!Contains(offset, length)) {
    return absl::OutOfRangeError(absl::StrCat("view [offset ", offset, ", length ", length,
                                              "] is outside a ", this->length, "-byte buffer"));
  }
  return BufferView{data + offset, static_cast<size_t>(length)};
}

Buffer::~Buffer() { std::free(data_); }

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), length_(std::exchange(other.length_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

absl::StatusOr<Buffer> Buffer::Allocate(size_t length) {
  Buffer buffer;
  if (length == 0) return buffer;
  const size_t rounded = RoundUp(length);
  void* data = rounded == 0 ? nullptr : std::aligned_alloc(kBufferAlignment, rounded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", length, "-byte host buffer"));
  }
  buffer.data_ = static_cast<uint8_t*>(data);
  buffer.length_ = length;
  return buffer;
}

Arena::~Arena() { Release(); }

Arena::Arena(Arena&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      buffer_(std::move(other.buffer_)),
      length_(std::exchange(other.length_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    buffer_ = std::move(other.buffer_);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

void Arena::Release() {
  if (pool_ != nullptr && buffer_.data() != nullptr) pool_->Return(std::move(buffer_));
  pool_ = nullptr;
  length_ = 0;
}

absl::StatusOr<Arena> ArenaPool::Acquire(size_t length) {
  if (length == 0) return Arena();
  const size_t rounded = RoundUp(length);
  if (rounded == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", length, "-byte transient arena"));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(rounded);
    if (it != free_.end() && !it->second.empty()) {
      Buffer buffer = std::move(it->second.back());
      it->second.pop_back();
      ++stats_.reuses;
      --stats_.cached;
      return Arena(this, std::move(buffer), length);
    }
    ++stats_.allocations;
  }
  // Allocated outside the lock; the buffer's own length is the rounded size, the free-list key.
  auto buffer = Buffer::Allocate(rounded);
  if (!buffer.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", length, "-byte transient arena"));
  }
  return Arena(this, std::move(*buffer), length);
}

void ArenaPool::Return(Buffer buffer) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t key = buffer.length();
  free_[key].push_back(std::move(buffer));
  ++stats_.cached;
}

ArenaPool::Stats ArenaPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void ArenaPool::Trim() {
  std::map<size_t, std::vector<Buffer>> freed;
  std::lock_guard<std::mutex> lock(mutex_);
  freed.swap(free_);
  stats_.cached = 0;
}

}  // namespace kiln::hal
