#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace aero {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::bf16:
      return 2;
    case DType::i8:
      return 1;
    case DType::i32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::bf16:
      return "bf16";
    case DType::i8:
      return "i8";
    case DType::i32:
      return "i32";
  }
  return "?";
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  AERO_CHECK(dims.size() <= kMaxDims, "[tensor] at most ", kMaxDims, " dimensions, got ",
             dims.size());
  for (int64_t v : dims) d[ndim++] = v;
}

Shape Shape::of(const int64_t* dims, int n) {
  AERO_CHECK(n >= 0 && n <= kMaxDims, "[tensor] at most ", kMaxDims, " dimensions, got ", n);
  Shape s;
  for (int i = 0; i < n; i++) s.d[s.ndim++] = dims[i];
  return s;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= d[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (d[i] != o.d[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim; i++) os << (i ? ", " : "") << d[i];
  os << ")";
  return os.str();
}

void* aligned_malloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  AERO_CHECK(p != nullptr, "[tensor] out of memory allocating ", bytes, " bytes");
  return p;
}

void aligned_free(void* p) { std::free(p); }

void Tensor::set_contiguous_strides() {
  int64_t s = 1;
  for (int i = shape_.ndim - 1; i >= 0; i--) {
    strides_[i] = s;
    s *= shape_.d[i];
  }
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int i = 0; i < shape.ndim; i++)
    AERO_CHECK(shape.d[i] >= 0, "[tensor] negative dimension in shape ", shape.str());
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.set_contiguous_strides();
  void* p = aligned_malloc(t.nbytes());
  t.storage_ = std::shared_ptr<void>(p, aligned_free);
  t.data_ = p;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.data_, 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape, DType::f32);
  t.fill(value);
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.data_ = data;
  t.set_contiguous_strides();
  return t;
}

bool Tensor::contiguous() const {
  int64_t s = 1;
  for (int i = shape_.ndim - 1; i >= 0; i--) {
    if (shape_.d[i] != 1 && strides_[i] != s) return false;
    s *= shape_.d[i];
  }
  return true;
}

float* Tensor::f32() const {
  AERO_CHECK(dtype_ == DType::f32, "[tensor] expected f32 data, got ", dtype_name(dtype_),
             " for shape ", shape_.str());
  AERO_CHECK(contiguous(), "[tensor] expected contiguous data for shape ", shape_.str());
  return static_cast<float*>(data_);
}

int32_t* Tensor::i32() const {
  AERO_CHECK(dtype_ == DType::i32, "[tensor] expected i32 data, got ", dtype_name(dtype_),
             " for shape ", shape_.str());
  AERO_CHECK(contiguous(), "[tensor] expected contiguous data for shape ", shape_.str());
  return static_cast<int32_t*>(data_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  AERO_CHECK(contiguous(), "[reshape] needs contiguous data, got shape ", shape_.str());
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.ndim; i++) {
    if (s.d[i] == -1) {
      AERO_CHECK(infer < 0, "[reshape] only one dimension may be -1 in ", shape.str());
      infer = i;
    } else {
      known *= s.d[i];
    }
  }
  if (infer >= 0) {
    AERO_CHECK(known > 0 && numel() % known == 0, "[reshape] cannot reshape ", shape_.str(), " to ",
               shape.str());
    s.d[infer] = numel() / known;
  }
  AERO_CHECK(s.numel() == numel(), "[reshape] cannot reshape ", shape_.str(), " (", numel(),
             " elements) to ", shape.str());
  Tensor t = *this;
  t.shape_ = s;
  t.set_contiguous_strides();
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  if (a < 0) a += shape_.ndim;
  if (b < 0) b += shape_.ndim;
  AERO_CHECK(a >= 0 && a < shape_.ndim && b >= 0 && b < shape_.ndim, "[transpose] dims ", a, ", ",
             b, " out of range for shape ", shape_.str());
  Tensor t = *this;
  std::swap(t.shape_.d[a], t.shape_.d[b]);
  std::swap(t.strides_[a], t.strides_[b]);
  return t;
}

Tensor Tensor::slice(int dim, int64_t start, int64_t len) const {
  if (dim < 0) dim += shape_.ndim;
  AERO_CHECK(dim >= 0 && dim < shape_.ndim, "[slice] dim ", dim, " out of range for shape ",
             shape_.str());
  AERO_CHECK(start >= 0 && len >= 0 && start + len <= shape_.d[dim], "[slice] range [", start, ", ",
             start + len, ") out of bounds for dim ", dim, " of shape ", shape_.str());
  Tensor t = *this;
  t.shape_.d[dim] = len;
  t.data_ = static_cast<char*>(data_) + start * strides_[dim] * dtype_size(dtype_);
  return t;
}

namespace {
// Calls fn(dst_index, src_offset) over all elements of a strided 4-d iteration space.
template <typename Fn>
void for_each_strided(const Shape& shape, const std::array<int64_t, kMaxDims>& strides, Fn fn) {
  int64_t d[kMaxDims] = {1, 1, 1, 1}, st[kMaxDims] = {0, 0, 0, 0};
  int off = kMaxDims - shape.ndim;
  for (int i = 0; i < shape.ndim; i++) {
    d[off + i] = shape.d[i];
    st[off + i] = strides[i];
  }
  int64_t n = 0;
  for (int64_t i0 = 0; i0 < d[0]; i0++)
    for (int64_t i1 = 0; i1 < d[1]; i1++)
      for (int64_t i2 = 0; i2 < d[2]; i2++)
        for (int64_t i3 = 0; i3 < d[3]; i3++)
          fn(n++, i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]);
}
}  // namespace

Tensor Tensor::contiguous_copy() const {
  Tensor t = empty(shape_, dtype_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  AERO_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_,
             "[copy] shape/dtype mismatch: ", shape_.str(), " ", dtype_name(dtype_), " vs ",
             src.shape_.str(), " ", dtype_name(src.dtype_));
  AERO_CHECK(contiguous(), "[copy] destination must be contiguous");
  if (src.contiguous()) {
    std::memmove(data_, src.data_, nbytes());
    return;
  }
  size_t es = dtype_size(dtype_);
  char* dst = static_cast<char*>(data_);
  const char* s = static_cast<const char*>(src.data_);
  for_each_strided(shape_, src.strides_,
                   [&](int64_t n, int64_t o) { std::memcpy(dst + n * es, s + o * es, es); });
}

void Tensor::fill(float v) const {
  float* p = f32();
  for (int64_t i = 0, n = numel(); i < n; i++) p[i] = v;
}

void Tensor::zero() const {
  AERO_CHECK(contiguous(), "[tensor] zero() needs contiguous data");
  if (data_) std::memset(data_, 0, nbytes());
}

float Tensor::at(std::initializer_list<int64_t> idx) const {
  AERO_CHECK(dtype_ == DType::f32, "[tensor] at() needs f32");
  AERO_CHECK(static_cast<int>(idx.size()) == shape_.ndim, "[tensor] at() got ", idx.size(),
             " indices for shape ", shape_.str());
  int64_t off = 0;
  int i = 0;
  for (int64_t v : idx) {
    AERO_CHECK(v >= 0 && v < shape_.d[i], "[tensor] index ", v, " out of range in ", shape_.str());
    off += v * strides_[i++];
  }
  return static_cast<const float*>(data_)[off];
}

}  // namespace aero
