// Host memory for the HAL: 64-byte-aligned buffers, bounds-checked views, and a pool of
// transient arenas so that steady-state invocations reuse memory instead of calling malloc.
#ifndef KILN_RUNTIME_SERVICE_HAL_ALLOCATOR_H_
#define KILN_RUNTIME_SERVICE_HAL_ALLOCATOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::hal {

// Every allocation is aligned to this (a cache line; what codegen assumes for vector loads).
inline constexpr size_t kBufferAlignment = 64;

// A non-owning byte range: what a binding-table entry points at.
struct BufferView {
  uint8_t* data = nullptr;
  size_t length = 0;

  // [offset, offset + length) of this view; OUT_OF_RANGE unless it lies inside.
  absl::StatusOr<BufferView> Subview(uint64_t offset, uint64_t length) const;
  // True when [offset, offset + length) lies inside this view (no overflow).
  bool Contains(uint64_t offset, uint64_t length) const {
    return offset <= this->length && length <= this->length - offset;
  }
};

// An owning, 64-byte-aligned host allocation.
class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // RESOURCE_EXHAUSTED when the size overflows or malloc fails. Contents are uninitialized.
  static absl::StatusOr<Buffer> Allocate(size_t length);

  uint8_t* data() const { return data_; }
  size_t length() const { return length_; }
  BufferView view() const { return {data_, length_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t length_ = 0;
};

class ArenaPool;

// A transient arena borrowed from an ArenaPool; goes back to the pool when destroyed.
class Arena {
 public:
  Arena() = default;
  ~Arena();
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  uint8_t* data() const { return buffer_.data(); }
  // The requested size; the underlying buffer may be larger (rounded up).
  size_t length() const { return length_; }
  BufferView view() const { return {buffer_.data(), length_}; }

 private:
  friend class ArenaPool;
  Arena(ArenaPool* pool, Buffer buffer, size_t length)
      : pool_(pool), buffer_(std::move(buffer)), length_(length) {}
  void Release();

  ArenaPool* pool_ = nullptr;
  Buffer buffer_;
  size_t length_ = 0;
};

// Free lists of arenas keyed by size (rounded up to kBufferAlignment). Thread-safe. Arenas
// are never returned to the system while the pool lives: a function's arena size is fixed at
// compile time, so the set of sizes stays small and the cache reaches a steady state.
class ArenaPool {
 public:
  struct Stats {
    uint64_t allocations = 0;  // arenas created with malloc
    uint64_t reuses = 0;       // acquisitions served from a free list
    uint64_t cached = 0;       // arenas currently sitting in free lists
  };

  ArenaPool() = default;
  ArenaPool(const ArenaPool&) = delete;
  ArenaPool& operator=(const ArenaPool&) = delete;

  // A zero-length request returns an empty arena without touching the pool.
  absl::StatusOr<Arena> Acquire(size_t length);
  Stats stats() const;
  // Frees every cached arena (arenas in use are unaffected).
  void Trim();

 private:
  friend class Arena;
  void Return(Buffer buffer);

  mutable std::mutex mutex_;
  std::map<size_t, std::vector<Buffer>> free_;  // rounded size -> idle arenas
  Stats stats_;
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_ALLOCATOR_H_
