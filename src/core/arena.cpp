#include "core/arena.h"

#include <algorithm>
#include <cstring>

namespace aero {

Arena::~Arena() {
  for (auto& c : chunks_) aligned_free(c.data);
}

size_t Arena::capacity() const {
  size_t n = 0;
  for (auto& c : chunks_) n += c.size;
  return n;
}

void* Arena::alloc(size_t bytes) {
  size_t need = (bytes + 63) / 64 * 64;
  if (need == 0) need = 64;
  // The same sequence of sizes after a reset takes the same places in the same chunks.
  while (cur_ < chunks_.size() && chunks_[cur_].top + need > chunks_[cur_].size) cur_++;
  if (cur_ == chunks_.size()) {
    size_t size = std::max({need, initial_, chunks_.empty() ? size_t(0) : chunks_.back().size * 2});
    chunks_.push_back({static_cast<char*>(aligned_malloc(size)), size, 0});
  }
  Chunk& c = chunks_[cur_];
  void* p = c.data + c.top;
  c.top += need;
  used_ += need;
  peak_ = std::max(peak_, used_);
  return p;
}

Tensor Arena::tensor(const Shape& shape, DType dtype) {
  return Tensor::wrap(alloc(static_cast<size_t>(shape.numel()) * dtype_size(dtype)), shape, dtype);
}

Tensor Arena::zeros(const Shape& shape, DType dtype) {
  Tensor t = tensor(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

void Arena::reset() {
  for (auto& c : chunks_) c.top = 0;
  cur_ = 0;
  used_ = 0;
}

}  // namespace aero
