// Token shards: a 32-byte header, then the tokens, memory-mapped for training.
//
// offset size  field (little endian)
//  0     8     magic "AEROTOK\0"
//  8     4     version (1)
// 12     4     token width in bytes: 2 (uint16, vocab <= 65536) or 4 (uint32)
// 16     4     vocab size
// 20     4     end-of-text id (between documents)
// 24     8     token count N
// 32     N*w   tokens
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "io/atomic_file.h"

namespace aero {

class Tokenizer;

inline constexpr char kShardMagic[8] = {'A', 'E', 'R', 'O', 'T', 'O', 'K', '\0'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 32;

// 2 for vocabularies up to 65536 ids, else 4.
uint32_t shard_token_width(uint32_t vocab_size);

class ShardWriter {
 public:
  ShardWriter(const std::string& path, uint32_t vocab_size, uint32_t eot_id);
  void append(std::span<const int32_t> tokens);
  // Writes the final count into the header and renames the file into place.
  void commit();
  uint64_t count() const { return count_; }

 private:
  AtomicFile file_;
  uint32_t vocab_size_, eot_id_, width_;
  uint64_t count_ = 0;
  std::vector<char> buf_;
};

// A read-only memory-mapped shard; the header is checked before anything is trusted.
class Shard {
 public:
  explicit Shard(const std::string& path);
  ~Shard();
  Shard(Shard&& o) noexcept;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  uint64_t size() const { return count_; }
  uint32_t vocab_size() const { return vocab_size_; }
  uint32_t eot_id() const { return eot_id_; }
  uint32_t token_width() const { return width_; }
  int32_t operator[](uint64_t i) const {
    return width_ == 2 ? static_cast<int32_t>(reinterpret_cast<const uint16_t*>(tokens_)[i])
                       : static_cast<int32_t>(reinterpret_cast<const uint32_t*>(tokens_)[i]);
  }
  // out[0..n) = tokens [start, start + n).
  void read(uint64_t start, size_t n, int32_t* out) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const char* tokens_ = nullptr;
  uint32_t vocab_size_ = 0, eot_id_ = 0, width_ = 0;
  uint64_t count_ = 0;
};

struct PrepareStats {
  uint64_t bytes = 0, lines = 0, documents = 0, tokens = 0;
  double seconds = 0;
};

// Progress: bytes of input done and in total.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Tokenizes a text file (documents separated by blank lines; each line encoded on its own, the
// tokenizer's newline id between lines where it has one, end-of-text after each document) into
// a shard, on n_threads threads. Output is identical for any thread count.
PrepareStats prepare_shard(const Tokenizer& tok, const std::string& input,
                           const std::string& output, int n_threads,
                           const ProgressFn& progress = {});

}  // namespace aero
