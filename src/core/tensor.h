// Tensor: up to 4 dimensions, row-major, PyTorch order. A tensor either owns its memory
// (heap, 64-byte aligned) or is a view into memory owned elsewhere (an arena, another tensor).
// Views (reshape, transpose, slice) share memory and cost nothing; kernels take contiguous data.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "core/error.h"

namespace aero {

enum class DType : uint8_t { f32 = 0, bf16 = 1, i8 = 2, i32 = 3 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);

constexpr int kMaxDims = 4;

struct Shape {
  std::array<int64_t, kMaxDims> d{};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  static Shape of(const int64_t* dims, int n);

  int64_t numel() const;
  // Negative indices count from the end: s[-1] is the last dimension.
  int64_t operator[](int i) const { return d[i < 0 ? i + ndim : i]; }
  int64_t& operator[](int i) { return d[i < 0 ? i + ndim : i]; }
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(2, 3, 4)"
};

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype = DType::f32);  // owning, uninitialised
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, float value);
  // Non-owning view of memory the caller keeps alive (arenas, mmap, parameter buffers).
  static Tensor wrap(void* data, const Shape& shape, DType dtype = DType::f32);

  bool defined() const { return data_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim; }
  int64_t size(int i) const { return shape_[i]; }
  int64_t stride(int i) const { return strides_[i < 0 ? i + shape_.ndim : i]; }
  int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool contiguous() const;

  void* raw() const { return data_; }
  // Typed access; f32()/i32() check the dtype and that the data is contiguous.
  float* f32() const;
  int32_t* i32() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(data_);
  }

  // Views.
  Tensor reshape(const Shape& shape) const;  // contiguous only; one dim may be -1
  Tensor transpose(int a, int b) const;      // swaps strides
  Tensor slice(int dim, int64_t start, int64_t len) const;
  Tensor contiguous_copy() const;  // owning copy in row-major order

  void fill(float v) const;                 // f32 only
  void zero() const;                        // any dtype; contiguous only
  void copy_from(const Tensor& src) const;  // same shape and dtype; handles strided src

  // Element access for tests and slow paths (f32 only, any strides).
  float at(std::initializer_list<int64_t> idx) const;

 private:
  std::shared_ptr<void> storage_;  // null for non-owning views
  void* data_ = nullptr;
  Shape shape_;
  std::array<int64_t, kMaxDims> strides_{};  // in elements
  DType dtype_ = DType::f32;

  void set_contiguous_strides();
};

// 64-byte aligned heap memory.
void* aligned_malloc(size_t bytes);
void aligned_free(void* p);

}  // namespace aero
