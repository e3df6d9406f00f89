// Bump allocator for activations and their gradients: alloc is a pointer increment,
// reset() frees everything at once and keeps the memory for the next step.
#pragma once
#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace aero {

class Arena {
 public:
  explicit Arena(size_t initial_bytes = 1 << 20) : initial_(initial_bytes) {}
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(size_t bytes);  // 64-byte aligned
  Tensor tensor(const Shape& shape, DType dtype = DType::f32);
  Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  // Frees all allocations and keeps every chunk: the next step's allocations land in memory
  // the last step already touched (a merged fresh chunk would page-fault all of it again).
  void reset();

  size_t used() const { return used_; }
  size_t peak() const { return peak_; }
  size_t capacity() const;

 private:
  struct Chunk {
    char* data;
    size_t size;
    size_t top;
  };
  std::vector<Chunk> chunks_;
  size_t cur_ = 0;  // the chunk allocations come from; earlier ones are full for this step
  size_t initial_;
  size_t used_ = 0;
  size_t peak_ = 0;
};

}  // namespace aero
