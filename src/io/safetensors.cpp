#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace aero {

namespace {

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeader = 100'000'000;

const char* lower_name(StDType t) {
  switch (t) {
    case StDType::F32:
      return "f32";
    case StDType::F16:
      return "f16";
    case StDType::BF16:
      return "bf16";
    case StDType::I64:
      return "i64";
    case StDType::I32:
      return "i32";
    case StDType::I8:
      return "i8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, StDType* out) {
  static const std::pair<const char*, StDType> table[] = {
      {"F32", StDType::F32}, {"F16", StDType::F16}, {"BF16", StDType::BF16},
      {"I64", StDType::I64}, {"I32", StDType::I32}, {"I8", StDType::I8}};
  for (auto& [name, t] : table)
    if (s == name) {
      *out = t;
      return true;
    }
  return false;
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      e++;
      mant <<= 1;
    } while (!(mant & 0x400));
    bits = sign | uint32_t(112 - e) << 23 | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, NaN kept quiet (as kernels/gemm_bf16's rounding).
uint16_t float_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

std::string sys_error() { return std::strerror(errno); }

}  // namespace

const char* st_dtype_name(StDType t) {
  switch (t) {
    case StDType::F32:
      return "F32";
    case StDType::F16:
      return "F16";
    case StDType::BF16:
      return "BF16";
    case StDType::I64:
      return "I64";
    case StDType::I32:
      return "I32";
    case StDType::I8:
      return "I8";
  }
  return "?";
}

size_t st_dtype_size(StDType t) {
  switch (t) {
    case StDType::F32:
      return 4;
    case StDType::F16:
      return 2;
    case StDType::BF16:
      return 2;
    case StDType::I64:
      return 8;
    case StDType::I32:
      return 4;
    case StDType::I8:
      return 1;
  }
  return 0;
}

int64_t StEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string StEntry::shape_str() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

void SafetensorsFile::fail_at(const std::string& name, const std::string& msg) const {
  if (name.empty()) fail("[safetensors] ", path_, ": ", msg);
  fail("[safetensors] ", path_, ": tensor '", name, "': ", msg);
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_at("", "cannot open: " + sys_error());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string err = sys_error();
    ::close(fd);
    fail_at("", "cannot stat: " + err);
  }
  size_ = size_t(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    fail_at("", cat("file is ", size_, " bytes, too short for the 8-byte header length"));
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail_at("", "cannot map: " + sys_error());
  }
  // From here on the destructor does not run if we throw, so release the mapping by hand.
  try {
    const uint8_t* base = static_cast<const uint8_t*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];
    if (n > size_ - 8)
      fail_at("", cat("header length ", n, " goes beyond the end of the file (", size_, " bytes)"));
    if (n > kMaxHeader) fail_at("", cat("header length ", n, " exceeds ", kMaxHeader, " bytes"));
    const char* hdr = reinterpret_cast<const char*>(base + 8);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(hdr, hdr + n);
    } catch (const nlohmann::json::exception& e) {
      fail_at("", cat("header is not valid JSON: ", e.what()));
    }
    if (!j.is_object()) fail_at("", "header is not a JSON object");
    const uint8_t* data = base + 8 + n;
    uint64_t data_size = size_ - 8 - n;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& name = it.key();
      const nlohmann::json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) fail_at("", "__metadata__ is not an object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string())
            fail_at("", "__metadata__ value for '" + m.key() + "' is not a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      if (!v.is_object()) fail_at(name, "entry is not an object");
      StEntry e;
      e.name = name;
      auto dt = v.find("dtype");
      if (dt == v.end() || !dt->is_string()) fail_at(name, "missing string field 'dtype'");
      if (!parse_dtype(dt->get<std::string>(), &e.dtype))
        fail_at(name, "unsupported dtype '" + dt->get<std::string>() +
                          "' (supported: F32, F16, BF16, I64, I32, I8)");
      auto sh = v.find("shape");
      if (sh == v.end() || !sh->is_array()) fail_at(name, "missing array field 'shape'");
      uint64_t numel = 1;
      for (const auto& d : *sh) {
        if (!d.is_number_unsigned()) fail_at(name, "shape has a non-integer or negative entry");
        uint64_t dim = d.get<uint64_t>();
        if (dim != 0 && numel > (uint64_t(1) << 56) / dim) fail_at(name, "shape is too large");
        numel *= dim;
        e.shape.push_back(int64_t(dim));
      }
      auto off = v.find("data_offsets");
      if (off == v.end() || !off->is_array() || off->size() != 2 ||
          !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
        fail_at(name, "'data_offsets' must be two non-negative integers");
      e.begin = (*off)[0].get<uint64_t>();
      e.end = (*off)[1].get<uint64_t>();
      if (e.begin > e.end || e.end > data_size)
        fail_at(name, cat("offsets [", e.begin, ", ", e.end, ") out of range for ", data_size,
                          " data bytes"));
      uint64_t need = numel * st_dtype_size(e.dtype);
      if (e.end - e.begin != need)
        fail_at(name, cat("offsets [", e.begin, ", ", e.end, ") but shape ", e.shape_str(), " ",
                          lower_name(e.dtype), " needs ", need, " bytes"));
      e.data = data + e.begin;
      entries_.push_back(std::move(e));
    }
    std::sort(entries_.begin(), entries_.end(), [](const StEntry& a, const StEntry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t i = 1; i < entries_.size(); i++) {
      const StEntry &a = entries_[i - 1], &b = entries_[i];
      if (b.begin < a.end && b.end > b.begin)
        fail_at(b.name, cat("offsets [", b.begin, ", ", b.end, ") overlap tensor '", a.name, "' [",
                            a.begin, ", ", a.end, ")"));
    }
    for (size_t i = 0; i < entries_.size(); i++) index_[entries_[i].name] = i;
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const StEntry& SafetensorsFile::at(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail_at(name, "not in the file");
  return entries_[it->second];
}

Tensor SafetensorsFile::view(const std::string& name) const {
  const StEntry& e = at(name);
  DType t;
  switch (e.dtype) {
    case StDType::F32:
      t = DType::f32;
      break;
    case StDType::BF16:
      t = DType::bf16;
      break;
    case StDType::I32:
      t = DType::i32;
      break;
    case StDType::I8:
      t = DType::i8;
      break;
    default:
      fail_at(name, cat("no view of dtype ", lower_name(e.dtype), "; use read_f32()"));
  }
  if (e.shape.size() > size_t(kMaxDims))
    fail_at(name, cat("shape ", e.shape_str(), " has more than ", kMaxDims, " dimensions"));
  if (reinterpret_cast<uintptr_t>(e.data) % st_dtype_size(e.dtype) != 0)
    fail_at(name, "data is not aligned for a view; use read_into()");
  Shape s = Shape::of(e.shape.data(), int(e.shape.size()));
  return Tensor::wrap(const_cast<uint8_t*>(e.data), s, t);
}

Tensor SafetensorsFile::read_f32(const std::string& name) const {
  const StEntry& e = at(name);
  if (e.shape.size() > size_t(kMaxDims))
    fail_at(name, cat("shape ", e.shape_str(), " has more than ", kMaxDims, " dimensions"));
  Tensor t = Tensor::empty(Shape::of(e.shape.data(), int(e.shape.size())));
  read_into(name, t);
  return t;
}

void SafetensorsFile::copy_out(const std::string& name, const Tensor& dst) const {
  const StEntry& e = at(name);
  Shape want = dst.shape();
  bool same = int(e.shape.size()) == want.ndim;
  for (int i = 0; same && i < want.ndim; i++) same = e.shape[size_t(i)] == want.d[i];
  if (!same) fail_at(name, cat("shape ", e.shape_str(), " but expected ", want.str()));
  if (!dst.contiguous()) fail_at(name, "destination is not contiguous");
  int64_t n = e.numel();
  const uint8_t* src = e.data;
  auto load16 = [src](int64_t i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    return h;
  };
  if (dst.dtype() == DType::f32) {
    float* out = dst.data<float>();
    if (e.dtype == StDType::F32)
      std::memcpy(out, src, size_t(n) * 4);
    else if (e.dtype == StDType::BF16)
      for (int64_t i = 0; i < n; i++) out[i] = bf16_to_float(load16(i));
    else if (e.dtype == StDType::F16)
      for (int64_t i = 0; i < n; i++) out[i] = half_to_float(load16(i));
    else
      fail_at(name, cat("dtype ", lower_name(e.dtype), " cannot be read as f32"));
    return;
  }
  if (dst.dtype() == DType::i32 && e.dtype == StDType::I64) {
    int32_t* out = dst.data<int32_t>();
    for (int64_t i = 0; i < n; i++) {
      int64_t v;
      std::memcpy(&v, src + 8 * i, 8);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        fail_at(name, cat("value ", v, " at index ", i, " does not fit in i32"));
      out[i] = int32_t(v);
    }
    return;
  }
  if (dst.dtype() == DType::bf16 && (e.dtype == StDType::F32 || e.dtype == StDType::F16)) {
    // Rounded to nearest even, one value at a time: no f32 copy of the tensor is made.
    uint16_t* out = dst.data<uint16_t>();
    for (int64_t i = 0; i < n; i++) {
      float v;
      if (e.dtype == StDType::F32)
        std::memcpy(&v, src + 4 * i, 4);
      else
        v = half_to_float(load16(i));
      out[i] = float_to_bf16(v);
    }
    return;
  }
  bool match = (dst.dtype() == DType::i32 && e.dtype == StDType::I32) ||
               (dst.dtype() == DType::bf16 && e.dtype == StDType::BF16) ||
               (dst.dtype() == DType::i8 && e.dtype == StDType::I8);
  if (!match)
    fail_at(name,
            cat("dtype ", lower_name(e.dtype), " cannot be read into ", dtype_name(dst.dtype())));
  std::memcpy(dst.raw(), src, size_t(n) * st_dtype_size(e.dtype));
}

void SafetensorsFile::read_into(const std::string& name, const Tensor& dst) const {
  copy_out(name, dst);
  // The copy is made: drop the tensor's pages from this process (they stay in the page cache),
  // so reading a large file tensor by tensor does not keep it all resident.
  const StEntry& e = at(name);
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(e.data) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(e.data) + size_t(e.end - e.begin);
  if (end > b) ::madvise(reinterpret_cast<void*>(b), end - b, MADV_DONTNEED);
}

StTensorRef::StTensorRef(std::string name, StDType dtype, std::vector<int64_t> shape,
                         const void* data)
    : name(std::move(name)), dtype(dtype), shape(std::move(shape)), data(data) {}

StTensorRef::StTensorRef(std::string n, const Tensor& t) : name(std::move(n)), data(t.raw()) {
  AERO_CHECK(t.contiguous(), "[safetensors] tensor '", name, "' is not contiguous");
  switch (t.dtype()) {
    case DType::f32:
      dtype = StDType::F32;
      break;
    case DType::bf16:
      dtype = StDType::BF16;
      break;
    case DType::i32:
      dtype = StDType::I32;
      break;
    case DType::i8:
      dtype = StDType::I8;
      break;
  }
  for (int i = 0; i < t.ndim(); i++) shape.push_back(t.size(i));
}

void write_safetensors(const std::string& path, const std::vector<StTensorRef>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const StTensorRef*> order;
  for (const StTensorRef& t : tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const StTensorRef* a, const StTensorRef* b) {
    return st_dtype_size(a->dtype) > st_dtype_size(b->dtype);
  });
  nlohmann::json j = nlohmann::json::object();
  if (!metadata.empty()) j["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const StTensorRef* tp : order) {
    const StTensorRef& t = *tp;
    AERO_CHECK(!t.name.empty() && t.name != "__metadata__", "[safetensors] ", path,
               ": invalid tensor name '", t.name, "'");
    AERO_CHECK(!j.contains(t.name), "[safetensors] ", path, ": tensor '", t.name, "' given twice");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      AERO_CHECK(d >= 0, "[safetensors] ", path, ": tensor '", t.name, "' has a negative dim");
      numel *= uint64_t(d);
    }
    uint64_t bytes = numel * st_dtype_size(t.dtype);
    AERO_CHECK(t.data != nullptr || bytes == 0, "[safetensors] ", path, ": tensor '", t.name,
               "' has no data");
    j[t.name] = {{"dtype", st_dtype_name(t.dtype)},
                 {"shape", t.shape},
                 {"data_offsets", {off, off + bytes}}};
    off += bytes;
  }
  std::string header = j.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));

  AtomicFile f(path);
  f.write(len, 8);
  f.write(header);
  for (const StTensorRef* t : order) {
    uint64_t bytes = uint64_t(st_dtype_size(t->dtype));
    for (int64_t d : t->shape) bytes *= uint64_t(d);
    f.write(t->data, size_t(bytes));
  }
  f.commit();
}

}  // namespace aero
