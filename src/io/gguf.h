// GGUF v3 (ggml's model file, https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):
//   magic "GGUF", u32 version, u64 tensor_count, u64 kv_count,
//   kv_count × (string key, u32 value_type, value), tensor_count × (string name, u32 n_dims,
//   u64 ne[n_dims], u32 ggml_type, u64 offset), zero padding to `general.alignment` (default
//   32), then the tensor data, each tensor at its offset (a multiple of the alignment) from the
//   start of the data section. Strings are u64 length + UTF-8 bytes, everything little-endian.
// GGUF lists dimensions innermost first (ne0 = row length); aero keeps PyTorch order in
// `shape` and reverses at the file boundary, so a (out, in) matrix is stored as ne = [in, out]
// with the same bytes.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace aero {

enum class GgufType : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};
const char* gguf_type_name(GgufType t);  // "u32"

// One metadata value: a scalar, or an array of scalars (type == array, elements of elem_type).
// Integers and bools are held in `ints` (u64 by bit pattern), floats in `floats`, strings in
// `strings`; a scalar is a one-element vector.
struct GgufValue {
  GgufType type = GgufType::u32;
  GgufType elem_type = GgufType::u32;  // the scalar type (== type for scalars)
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  static GgufValue scalar_int(GgufType t, int64_t v);  // u8..i64 and boolean
  static GgufValue u32(uint32_t v) { return scalar_int(GgufType::u32, v); }
  static GgufValue i32(int32_t v) { return scalar_int(GgufType::i32, v); }
  static GgufValue u64(uint64_t v) { return scalar_int(GgufType::u64, int64_t(v)); }
  static GgufValue boolean(bool v) { return scalar_int(GgufType::boolean, v); }
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue str(std::string v);
  static GgufValue int_array(GgufType elem, std::vector<int64_t> v);
  static GgufValue f32_array(std::vector<float> v);
  static GgufValue str_array(std::vector<std::string> v);

  bool is_array() const { return type == GgufType::array; }
  size_t size() const;  // elements (1 for a scalar)
  bool operator==(const GgufValue& o) const = default;
  std::string str_repr(size_t max_elems = 8) const;  // "u32 128", "[str × 3] [a, b, c]"
};

enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(GgmlType t);  // "q8_0"
constexpr int64_t kQ8_0Block = 32;       // q8_0 block: f16 scale d, then 32 int8: x = d * q
constexpr size_t kQ8_0BlockBytes = 34;
// Bytes of n elements (n a multiple of the block size for block types).
size_t ggml_nbytes(GgmlType t, int64_t n);

uint16_t f32_to_f16(float v);  // round to nearest even; overflow -> inf, NaN stays NaN
float f16_to_f32(uint16_t h);
// q8_0 as ggml's reference quantizer: d = max|x| / 127, q = round(x / d); n % 32 == 0.
std::vector<uint8_t> quantize_q8_0(const float* x, int64_t n);
void dequantize_q8_0(const uint8_t* blocks, float* out, int64_t n);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order (outermost first): the reverse of GGUF's ne
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the mapping (reader only)

  int64_t numel() const;
  std::string shape_str() const;  // "(2, 3)"
};

// A read-only, memory-mapped GGUF file; every count, length, type, shape and offset is checked
// against the file size before anything is trusted. Errors name the file.
class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // of the data section in the file
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  bool has_key(const std::string& key) const { return kv_index_.count(key) != 0; }
  const GgufValue& at(const std::string& key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // in file order
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }
  const GgufTensorInfo& tensor(const std::string& name) const;
  // An owning f32 copy of an F32 / F16 / BF16 / Q8_0 tensor (at most 4 dims).
  Tensor read_f32(const std::string& name) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32, data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;

  void parse();
};

// Collects metadata and tensors, then writes a GGUF v3 file atomically. Tensor bytes are not
// copied: they must stay alive until write() returns.
class GgufWriter {
 public:
  // Keys are written in the order they were first set; setting a key again replaces its value.
  void set(const std::string& key, GgufValue v);
  // shape in PyTorch order; data holds ggml_nbytes(type, numel) bytes.
  void add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                  const void* data);
  void write(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> kv_;
  struct Pending {
    GgufTensorInfo info;
    const void* data;
  };
  std::vector<Pending> tensors_;
};

}  // namespace aero
