#include "io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "io/atomic_file.h"

namespace aero {
namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxName = 64;  // ggml's GGML_MAX_NAME, terminating zero included

bool is_int_type(GgufType t) {
  switch (t) {
    case GgufType::u8:
    case GgufType::i8:
    case GgufType::u16:
    case GgufType::i16:
    case GgufType::u32:
    case GgufType::i32:
    case GgufType::u64:
    case GgufType::i64:
    case GgufType::boolean:
      return true;
    default:
      return false;
  }
}

bool is_float_type(GgufType t) { return t == GgufType::f32 || t == GgufType::f64; }

// Bytes of one scalar on disk (strings: the length prefix only).
size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::u8:
    case GgufType::i8:
    case GgufType::boolean:
      return 1;
    case GgufType::u16:
    case GgufType::i16:
      return 2;
    case GgufType::u32:
    case GgufType::i32:
    case GgufType::f32:
      return 4;
    case GgufType::u64:
    case GgufType::i64:
    case GgufType::f64:
    case GgufType::string:
      return 8;
    case GgufType::array:
      return 12;
  }
  return 0;
}

bool known_ggml_type(uint32_t t) {
  switch (GgmlType(t)) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::Q8_0:
    case GgmlType::BF16:
      return true;
  }
  return false;
}

int64_t block_size(GgmlType t) { return t == GgmlType::Q8_0 ? kQ8_0Block : 1; }

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

std::string sys_error() { return std::strerror(errno); }

// Bounds-checked little-endian reads from the mapping; every error names the file and offset.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size, const std::string& path)
      : base_(base), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  [[noreturn]] void fail_here(const std::string& msg) const {
    fail("[gguf] ", path_, ": ", msg, " (at byte ", pos_, ")");
  }
  void need(uint64_t n, const char* what) const {
    if (n > left())
      fail_here(cat("truncated: ", what, " needs ", n, " bytes but only ", left(), " remain"));
  }
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const uint64_t n = get<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }

 private:
  const uint8_t* base_;
  size_t size_, pos_ = 0;
  const std::string& path_;
};

int64_t read_int(Cursor& c, GgufType t, const char* what) {
  switch (t) {
    case GgufType::u8:
      return c.get<uint8_t>(what);
    case GgufType::i8:
      return c.get<int8_t>(what);
    case GgufType::u16:
      return c.get<uint16_t>(what);
    case GgufType::i16:
      return c.get<int16_t>(what);
    case GgufType::u32:
      return c.get<uint32_t>(what);
    case GgufType::i32:
      return c.get<int32_t>(what);
    case GgufType::u64:
      return int64_t(c.get<uint64_t>(what));
    case GgufType::i64:
      return c.get<int64_t>(what);
    case GgufType::boolean: {
      const uint8_t b = c.get<uint8_t>(what);
      if (b > 1) c.fail_here(cat(what, ": bool value ", int(b), " is neither 0 nor 1"));
      return b;
    }
    default:
      c.fail_here("internal: not an integer type");
  }
}

// Appends the value's elements (no type tags) to a byte buffer.
void put_bytes(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}
template <typename T>
void put(std::string& out, T v) {
  put_bytes(out, &v, sizeof(T));
}
void put_str(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_elems(std::string& out, const GgufValue& v) {
  const GgufType t = v.elem_type;
  if (t == GgufType::string) {
    for (const std::string& s : v.strings) put_str(out, s);
  } else if (t == GgufType::f32) {
    for (double f : v.floats) put<float>(out, float(f));
  } else if (t == GgufType::f64) {
    for (double f : v.floats) put<double>(out, f);
  } else {
    const size_t n = scalar_size(t);
    for (int64_t i : v.ints) put_bytes(out, &i, n);  // little-endian: the low bytes
  }
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::u8:
      return "u8";
    case GgufType::i8:
      return "i8";
    case GgufType::u16:
      return "u16";
    case GgufType::i16:
      return "i16";
    case GgufType::u32:
      return "u32";
    case GgufType::i32:
      return "i32";
    case GgufType::f32:
      return "f32";
    case GgufType::boolean:
      return "bool";
    case GgufType::string:
      return "str";
    case GgufType::array:
      return "array";
    case GgufType::u64:
      return "u64";
    case GgufType::i64:
      return "i64";
    case GgufType::f64:
      return "f64";
  }
  return "?";
}

GgufValue GgufValue::scalar_int(GgufType t, int64_t v) {
  AERO_CHECK(is_int_type(t), "[gguf] ", gguf_type_name(t), " is not an integer type");
  GgufValue r;
  r.type = r.elem_type = t;
  r.ints = {v};
  return r;
}

GgufValue GgufValue::f32(float v) {
  GgufValue r;
  r.type = r.elem_type = GgufType::f32;
  r.floats = {v};
  return r;
}

GgufValue GgufValue::f64(double v) {
  GgufValue r;
  r.type = r.elem_type = GgufType::f64;
  r.floats = {v};
  return r;
}

GgufValue GgufValue::str(std::string v) {
  GgufValue r;
  r.type = r.elem_type = GgufType::string;
  r.strings = {std::move(v)};
  return r;
}

GgufValue GgufValue::int_array(GgufType elem, std::vector<int64_t> v) {
  AERO_CHECK(is_int_type(elem), "[gguf] ", gguf_type_name(elem), " is not an integer type");
  GgufValue r;
  r.type = GgufType::array;
  r.elem_type = elem;
  r.ints = std::move(v);
  return r;
}

GgufValue GgufValue::f32_array(std::vector<float> v) {
  GgufValue r;
  r.type = GgufType::array;
  r.elem_type = GgufType::f32;
  r.floats.assign(v.begin(), v.end());
  return r;
}

GgufValue GgufValue::str_array(std::vector<std::string> v) {
  GgufValue r;
  r.type = GgufType::array;
  r.elem_type = GgufType::string;
  r.strings = std::move(v);
  return r;
}

size_t GgufValue::size() const {
  if (elem_type == GgufType::string) return strings.size();
  if (is_float_type(elem_type)) return floats.size();
  return ints.size();
}

std::string GgufValue::str_repr(size_t max_elems) const {
  std::string s = is_array() ? cat("[", gguf_type_name(elem_type), " x ", size(), "] [")
                             : cat(gguf_type_name(type), " ");
  const size_t n = std::min(size(), max_elems);
  for (size_t i = 0; i < n; i++) {
    if (i) s += ", ";
    if (elem_type == GgufType::string)
      s += strings[i];
    else if (is_float_type(elem_type))
      s += cat(floats[i]);
    else if (elem_type == GgufType::u64)
      s += std::to_string(uint64_t(ints[i]));
    else
      s += std::to_string(ints[i]);
  }
  if (is_array()) s += size() > n ? ", ...]" : "]";
  return s;
}

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return "f32";
    case GgmlType::F16:
      return "f16";
    case GgmlType::Q8_0:
      return "q8_0";
    case GgmlType::BF16:
      return "bf16";
  }
  return "?";
}

size_t ggml_nbytes(GgmlType t, int64_t n) {
  switch (t) {
    case GgmlType::F32:
      return size_t(n) * 4;
    case GgmlType::F16:
    case GgmlType::BF16:
      return size_t(n) * 2;
    case GgmlType::Q8_0:
      return size_t(n / kQ8_0Block) * kQ8_0BlockBytes;
  }
  return 0;
}

uint16_t f32_to_f16(float v) {
  uint32_t x;
  std::memcpy(&x, &v, 4);
  const uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return uint16_t(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
  const int e = int(exp) - 127 + 15;  // the f16 exponent
  if (e >= 31) return uint16_t(sign | 0x7c00u);
  if (e <= 0) {  // an f16 subnormal (or zero): h * 2^-24
    if (e < -10) return uint16_t(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return uint16_t(sign | h);
  }
  uint32_t h = (uint32_t(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;  // a carry may round up to inf
  return uint16_t(sign | h);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: shift until the implicit bit appears
    uint32_t e = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      e--;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<uint8_t> quantize_q8_0(const float* x, int64_t n) {
  AERO_CHECK(n % kQ8_0Block == 0, "[gguf] q8_0 needs a multiple of ", kQ8_0Block, " elements, got ",
             n);
  std::vector<uint8_t> out(ggml_nbytes(GgmlType::Q8_0, n));
  for (int64_t b = 0; b < n / kQ8_0Block; b++) {
    const float* xb = x + b * kQ8_0Block;
    uint8_t* yb = out.data() + size_t(b) * kQ8_0BlockBytes;
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ8_0Block; j++) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(yb, &dh, 2);
    for (int64_t j = 0; j < kQ8_0Block; j++) yb[2 + j] = uint8_t(int8_t(std::lround(xb[j] * id)));
  }
  return out;
}

void dequantize_q8_0(const uint8_t* blocks, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0Block; b++) {
    const uint8_t* yb = blocks + size_t(b) * kQ8_0BlockBytes;
    uint16_t dh;
    std::memcpy(&dh, yb, 2);
    const float d = f16_to_f32(dh);
    for (int64_t j = 0; j < kQ8_0Block; j++) out[b * kQ8_0Block + j] = d * float(int8_t(yb[2 + j]));
  }
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string GgufTensorInfo::shape_str() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

GgufFile::GgufFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("[gguf] ", path, ": cannot open: ", sys_error());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string err = sys_error();
    ::close(fd);
    fail("[gguf] ", path, ": cannot stat: ", err);
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      const std::string err = sys_error();
      ::close(fd);
      fail("[gguf] ", path, ": cannot map: ", err);
    }
  }
  ::close(fd);
  // The destructor does not run if the constructor throws: unmap by hand.
  try {
    parse();
  } catch (...) {
    if (map_) ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(map_, size_);
}

void GgufFile::parse() {
  const uint8_t* base = static_cast<const uint8_t*>(map_);
  Cursor c(base, size_, path_);
  c.need(4, "the magic");
  if (std::memcmp(base, kMagic, 4) != 0) c.fail_here("not a GGUF file (bad magic)");
  c.get<uint32_t>("the magic");
  version_ = c.get<uint32_t>("the version");
  if (version_ != 2 && version_ != 3)
    c.fail_here(cat("GGUF version ", version_, " is not supported (2 and 3 are)"));
  const uint64_t n_tensors = c.get<uint64_t>("the tensor count");
  const uint64_t n_kv = c.get<uint64_t>("the metadata count");
  // Each entry takes at least this many bytes: a count beyond them is corrupt, not huge.
  if (n_kv > c.left() / 12)
    c.fail_here(cat("metadata count ", n_kv, " cannot fit in the ", c.left(), " bytes left"));
  if (n_tensors > c.left() / 24)
    c.fail_here(cat("tensor count ", n_tensors, " cannot fit in the ", c.left(), " bytes left"));

  for (uint64_t k = 0; k < n_kv; k++) {
    std::string key = c.str("a metadata key");
    if (kv_index_.count(key)) c.fail_here("duplicate metadata key '" + key + "'");
    const uint32_t type = c.get<uint32_t>("a value type");
    GgufValue v;
    if (type > uint32_t(GgufType::f64))
      c.fail_here(cat("metadata '", key, "': unknown value type ", type));
    v.type = v.elem_type = GgufType(type);
    uint64_t n = 1;
    if (v.type == GgufType::array) {
      const uint32_t et = c.get<uint32_t>("an array element type");
      if (et > uint32_t(GgufType::f64))
        c.fail_here(cat("metadata '", key, "': unknown array element type ", et));
      if (GgufType(et) == GgufType::array)
        c.fail_here("metadata '" + key + "': arrays of arrays are not supported");
      v.elem_type = GgufType(et);
      n = c.get<uint64_t>("an array length");
      if (n > c.left() / scalar_size(v.elem_type))
        c.fail_here(cat("metadata '", key, "': array of ", n, " elements cannot fit in the ",
                        c.left(), " bytes left"));
    }
    const std::string what = "the value of '" + key + "'";
    for (uint64_t i = 0; i < n; i++) {
      if (v.elem_type == GgufType::string)
        v.strings.push_back(c.str(what.c_str()));
      else if (v.elem_type == GgufType::f32)
        v.floats.push_back(c.get<float>(what.c_str()));
      else if (v.elem_type == GgufType::f64)
        v.floats.push_back(c.get<double>(what.c_str()));
      else
        v.ints.push_back(read_int(c, v.elem_type, what.c_str()));
    }
    kv_index_[key] = kv_.size();
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (has_key("general.alignment")) {
    const GgufValue& a = at("general.alignment");
    AERO_CHECK(a.type == GgufType::u32 && a.ints[0] > 0 && (a.ints[0] & (a.ints[0] - 1)) == 0,
               "[gguf] ", path_, ": general.alignment must be a u32 power of two, got ",
               a.str_repr());
    alignment_ = uint64_t(a.ints[0]);
  }

  for (uint64_t t = 0; t < n_tensors; t++) {
    GgufTensorInfo ti;
    ti.name = c.str("a tensor name");
    if (ti.name.size() >= kMaxName)
      c.fail_here(cat("tensor name '", ti.name, "' is longer than ", kMaxName - 1, " bytes"));
    if (tensor_index_.count(ti.name)) c.fail_here("duplicate tensor '" + ti.name + "'");
    const uint32_t n_dims = c.get<uint32_t>("a tensor's dimension count");
    if (n_dims < 1 || n_dims > uint32_t(kMaxDims))
      c.fail_here(cat("tensor '", ti.name, "' has ", n_dims, " dimensions (1 to 4 allowed)"));
    ti.shape.resize(n_dims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
      const uint64_t ne = c.get<uint64_t>("a tensor dimension");
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max()) / numel)
        c.fail_here(cat("tensor '", ti.name, "' has an invalid dimension ", ne));
      numel *= ne;
      ti.shape[n_dims - 1 - d] = int64_t(ne);  // ne0 is the innermost: PyTorch's last
    }
    const uint32_t type = c.get<uint32_t>("a tensor type");
    if (!known_ggml_type(type))
      c.fail_here(cat("tensor '", ti.name, "' has ggml type ", type,
                      ", which aero does not read (f32, f16, bf16, q8_0)"));
    ti.type = GgmlType(type);
    if (ti.shape.back() % block_size(ti.type) != 0)
      c.fail_here(cat("tensor '", ti.name, "': row length ", ti.shape.back(),
                      " is not a multiple of the ", ggml_type_name(ti.type), " block size ",
                      block_size(ti.type)));
    if (numel > (uint64_t(1) << 60)) c.fail_here(cat("tensor '", ti.name, "' is too large"));
    ti.nbytes = ggml_nbytes(ti.type, int64_t(numel));
    ti.offset = c.get<uint64_t>("a tensor offset");
    if (ti.offset % alignment_ != 0)
      c.fail_here(cat("tensor '", ti.name, "': offset ", ti.offset,
                      " is not a multiple of the alignment ", alignment_));
    tensor_index_[ti.name] = tensors_.size();
    tensors_.push_back(std::move(ti));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  if (tensors_.empty()) return;
  AERO_CHECK(data_offset_ <= size_, "[gguf] ", path_, ": truncated: the data section starts at ",
             data_offset_, " but the file has ", size_, " bytes");
  const uint64_t data_size = size_ - data_offset_;
  std::vector<const GgufTensorInfo*> by_offset;
  for (GgufTensorInfo& ti : tensors_) {
    AERO_CHECK(ti.offset <= data_size && ti.nbytes <= data_size - ti.offset, "[gguf] ", path_,
               ": tensor '", ti.name, "' (", ti.nbytes, " bytes at data offset ", ti.offset,
               ") goes beyond the end of the file (", data_size,
               " bytes of data): truncated or corrupt");
    ti.data = base + data_offset_ + ti.offset;
    by_offset.push_back(&ti);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); i++)
    AERO_CHECK(by_offset[i - 1]->offset + by_offset[i - 1]->nbytes <= by_offset[i]->offset,
               "[gguf] ", path_, ": tensors '", by_offset[i - 1]->name, "' and '",
               by_offset[i]->name, "' overlap");
}

const GgufValue& GgufFile::at(const std::string& key) const {
  const auto it = kv_index_.find(key);
  AERO_CHECK(it != kv_index_.end(), "[gguf] ", path_, ": no metadata key '", key, "'");
  return kv_[it->second].second;
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  AERO_CHECK(it != tensor_index_.end(), "[gguf] ", path_, ": no tensor '", name, "'");
  return tensors_[it->second];
}

Tensor GgufFile::read_f32(const std::string& name) const {
  const GgufTensorInfo& ti = tensor(name);
  Tensor out = Tensor::empty(Shape::of(ti.shape.data(), int(ti.shape.size())));
  float* y = out.f32();
  const int64_t n = ti.numel();
  switch (ti.type) {
    case GgmlType::F32:
      std::memcpy(y, ti.data, size_t(n) * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        std::memcpy(&h, ti.data + 2 * i, 2);
        if (ti.type == GgmlType::F16) {
          y[i] = f16_to_f32(h);
        } else {
          const uint32_t bits = uint32_t(h) << 16;
          std::memcpy(&y[i], &bits, 4);
        }
      }
      break;
    case GgmlType::Q8_0:
      dequantize_q8_0(ti.data, y, n);
      break;
  }
  return out;
}

void GgufWriter::set(const std::string& key, GgufValue v) {
  for (auto& [k, old] : kv_)
    if (k == key) {
      old = std::move(v);
      return;
    }
  kv_.emplace_back(key, std::move(v));
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                            const void* data) {
  AERO_CHECK(!name.empty() && name.size() < kMaxName, "[gguf] tensor name '", name,
             "' must have 1 to ", kMaxName - 1, " bytes");
  AERO_CHECK(!shape.empty() && shape.size() <= size_t(kMaxDims), "[gguf] tensor '", name,
             "': 1 to 4 dimensions, got ", shape.size());
  for (const Pending& p : tensors_)
    AERO_CHECK(p.info.name != name, "[gguf] tensor '", name, "' added twice");
  GgufTensorInfo ti;
  ti.name = name;
  ti.shape = std::move(shape);
  ti.type = type;
  for (int64_t d : ti.shape) AERO_CHECK(d > 0, "[gguf] tensor '", name, "': empty dimension");
  AERO_CHECK(ti.shape.back() % block_size(type) == 0, "[gguf] tensor '", name, "': row length ",
             ti.shape.back(), " is not a multiple of the ", ggml_type_name(type), " block size ",
             block_size(type));
  ti.nbytes = ggml_nbytes(type, ti.numel());
  tensors_.push_back({std::move(ti), data});
}

void GgufWriter::write(const std::string& path) const {
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [k, v] : kv_)
    if (k == "general.alignment") {
      AERO_CHECK(v.type == GgufType::u32 && v.ints[0] > 0 && (v.ints[0] & (v.ints[0] - 1)) == 0,
                 "[gguf] general.alignment must be a u32 power of two, got ", v.str_repr());
      alignment = uint64_t(v.ints[0]);
    }
  std::string head;
  put_bytes(head, kMagic, 4);
  put<uint32_t>(head, kVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_str(head, k);
    put<uint32_t>(head, uint32_t(v.type));
    if (v.is_array()) {
      put<uint32_t>(head, uint32_t(v.elem_type));
      put<uint64_t>(head, v.size());
    } else {
      AERO_CHECK(v.size() == 1, "[gguf] metadata '", k, "': a scalar needs exactly one value");
    }
    put_elems(head, v);
  }
  std::vector<uint64_t> offsets;
  uint64_t off = 0;
  for (const Pending& p : tensors_) {
    off = align_up(off, alignment);
    offsets.push_back(off);
    put_str(head, p.info.name);
    put<uint32_t>(head, uint32_t(p.info.shape.size()));
    for (auto it = p.info.shape.rbegin(); it != p.info.shape.rend(); ++it)
      put<uint64_t>(head, uint64_t(*it));
    put<uint32_t>(head, uint32_t(p.info.type));
    put<uint64_t>(head, off);
    off += p.info.nbytes;
  }
  head.resize(align_up(head.size(), alignment), '\0');

  AtomicFile f(path);
  f.write(head);
  const std::string zeros(alignment, '\0');
  uint64_t pos = 0;  // within the data section
  for (size_t i = 0; i < tensors_.size(); i++) {
    f.write(zeros.data(), offsets[i] - pos);
    f.write(tensors_[i].data, tensors_[i].info.nbytes);
    pos = offsets[i] + tensors_[i].info.nbytes;
  }
  f.write(zeros.data(), align_up(pos, alignment) - pos);  // ggml pads the last tensor too
  f.commit();
}

}  // namespace aero
