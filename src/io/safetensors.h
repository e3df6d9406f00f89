// Safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, a JSON header of N bytes {"name": {"dtype", "shape", "data_offsets": [begin, end)},
// "__metadata__": {string: string}}, then the data; offsets are relative to the data start.
// Everything in the header is checked against the file size before any tensor is trusted.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace aero {

enum class StDType : uint8_t { F32, F16, BF16, I64, I32, I8 };
const char* st_dtype_name(StDType t);  // "F32"
size_t st_dtype_size(StDType t);

struct StEntry {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
  const uint8_t* data = nullptr;

  int64_t numel() const;
  std::string shape_str() const;  // "(2, 3)"
};

// A read-only, memory-mapped safetensors file. Views returned by view() live as long as it.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<StEntry>& entries() const { return entries_; }  // in file order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const StEntry& at(const std::string& name) const;

  // Zero-copy view of an F32 / BF16 / I32 / I8 tensor (at most 4 dims, aligned data).
  Tensor view(const std::string& name) const;
  // An owning f32 copy of an F32 / BF16 / F16 tensor.
  Tensor read_f32(const std::string& name) const;
  // Copies into dst, which must have the tensor's shape: f32 dst from F32 / BF16 / F16, i32 dst
  // from I32 / I64 (range checked), bf16 dst from BF16 / F32 / F16 (rounded to nearest even),
  // i8 dst from I8. The tensor's mapped pages are released afterwards.
  void read_into(const std::string& name, const Tensor& dst) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<StEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;

  void copy_out(const std::string& name, const Tensor& dst) const;  // read_into's copy
  [[noreturn]] void fail_at(const std::string& name, const std::string& msg) const;
};

// A tensor to write: raw contiguous bytes with their dtype and shape.
struct StTensorRef {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;

  StTensorRef() = default;
  StTensorRef(std::string name, StDType dtype, std::vector<int64_t> shape, const void* data);
  // From an aero tensor (contiguous; f32, bf16, i32 or i8).
  StTensorRef(std::string name, const Tensor& t);
};

// Writes atomically: a temporary file in the same directory, fsync, then rename over `path`,
// so a crash leaves either the old file or the new one. Data are ordered by element size,
// largest first (given order otherwise), so every tensor is aligned for a zero-copy view; there
// are no gaps between tensors, as the reference implementation requires.
void write_safetensors(const std::string& path, const std::vector<StTensorRef>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace aero
