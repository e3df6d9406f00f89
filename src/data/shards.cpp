#include "data/shards.h"

#include <fcntl.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace aero {

static_assert(std::endian::native == std::endian::little, "shards are little endian");

uint32_t shard_token_width(uint32_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

namespace {

void put_u32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t get_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::array<char, kShardHeaderBytes> header(uint32_t width, uint32_t vocab, uint32_t eot,
                                           uint64_t count) {
  std::array<char, kShardHeaderBytes> h{};
  std::memcpy(h.data(), kShardMagic, 8);
  put_u32(h.data() + 8, kShardVersion);
  put_u32(h.data() + 12, width);
  put_u32(h.data() + 16, vocab);
  put_u32(h.data() + 20, eot);
  put_u64(h.data() + 24, count);
  return h;
}

}  // namespace

ShardWriter::ShardWriter(const std::string& path, uint32_t vocab_size, uint32_t eot_id)
    : file_(path), vocab_size_(vocab_size), eot_id_(eot_id), width_(shard_token_width(vocab_size)) {
  AERO_CHECK(eot_id < vocab_size, "[data] end-of-text id ", eot_id, " outside the vocabulary of ",
             vocab_size);
  const auto h = header(width_, vocab_size_, eot_id_, 0);
  file_.write(h.data(), h.size());
}

void ShardWriter::append(std::span<const int32_t> tokens) {
  buf_.resize(tokens.size() * width_);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto t = static_cast<uint32_t>(tokens[i]);
    AERO_CHECK(t < vocab_size_, "[data] token ", tokens[i], " outside the vocabulary of ",
               vocab_size_);
    if (width_ == 2) {
      const auto v = static_cast<uint16_t>(t);
      std::memcpy(buf_.data() + 2 * i, &v, 2);
    } else {
      std::memcpy(buf_.data() + 4 * i, &t, 4);
    }
  }
  file_.write(buf_.data(), buf_.size());
  count_ += tokens.size();
}

void ShardWriter::commit() {
  const auto h = header(width_, vocab_size_, eot_id_, count_);
  file_.pwrite(h.data(), h.size(), 0);
  file_.commit();
}

Shard::Shard(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  AERO_CHECK(fd >= 0, "[data] cannot open shard ", path, ": ", std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  const auto bytes = static_cast<uint64_t>(st.st_size);
  if (bytes < kShardHeaderBytes) {
    ::close(fd);
    fail("[data] ", path, ": ", bytes, " bytes is shorter than the 32-byte shard header");
  }
  map_ = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  AERO_CHECK(map_ != MAP_FAILED, "[data] cannot map ", path, ": ", std::strerror(errno));
  map_bytes_ = bytes;
  const char* p = static_cast<const char*>(map_);
  const auto bad = [&](const std::string& why) {
    ::munmap(map_, map_bytes_);
    map_ = nullptr;
    fail("[data] ", path, ": ", why);
  };
  if (std::memcmp(p, kShardMagic, 8) != 0)
    bad("wrong magic at offset 0 (not an aero token shard; run aero data prepare)");
  if (get_u32(p + 8) != kShardVersion)
    bad(cat("unsupported shard version ", get_u32(p + 8), " at offset 8"));
  width_ = get_u32(p + 12);
  if (width_ != 2 && width_ != 4) bad(cat("token width ", width_, " at offset 12 is not 2 or 4"));
  vocab_size_ = get_u32(p + 16);
  eot_id_ = get_u32(p + 20);
  count_ = get_u64(p + 24);
  const uint64_t want = kShardHeaderBytes + count_ * width_;
  if (count_ > (bytes - kShardHeaderBytes) / width_ || want != bytes)
    bad(cat("header promises ", count_, " tokens (", want, " bytes) but the file has ", bytes,
            " bytes; it is truncated or corrupt"));
  tokens_ = p + kShardHeaderBytes;
  // Every id must index the embedding: one pass over the tokens (memory speed) at open, so a
  // corrupt shard is an error here rather than a read past the embedding table in training.
  // Ids are int32 everywhere after the shard.
  if (vocab_size_ > uint32_t(INT32_MAX))
    bad(cat("vocab size ", vocab_size_, " at offset 16 is beyond the largest id (2^31 - 1)"));
  if (eot_id_ >= vocab_size_)
    bad(cat("end-of-text id ", eot_id_, " at offset 20 is not below the vocab size ", vocab_size_));
  const auto token = [&](uint64_t i) {
    return width_ == 2 ? uint32_t(get_u16(tokens_ + 2 * i)) : get_u32(tokens_ + 4 * i);
  };
  uint32_t max_id = 0;
  for (uint64_t i = 0; i < count_; ++i) max_id = std::max(max_id, token(i));
  if (count_ > 0 && max_id >= vocab_size_)
    for (uint64_t i = 0;; ++i)
      if (token(i) >= vocab_size_)
        bad(cat("token ", i, " (offset ", kShardHeaderBytes + i * width_, ") is id ", token(i),
                ", not below the vocab size ", vocab_size_));
  ::madvise(map_, map_bytes_, MADV_RANDOM);
}

Shard::Shard(Shard&& o) noexcept
    : path_(std::move(o.path_)),
      map_(o.map_),
      map_bytes_(o.map_bytes_),
      tokens_(o.tokens_),
      vocab_size_(o.vocab_size_),
      eot_id_(o.eot_id_),
      width_(o.width_),
      count_(o.count_) {
  o.map_ = nullptr;
}

Shard::~Shard() {
  if (map_) ::munmap(map_, map_bytes_);
}

void Shard::read(uint64_t start, size_t n, int32_t* out) const {
  AERO_ASSERT(start + n <= count_);
  if (width_ == 2) {
    const auto* t = reinterpret_cast<const uint16_t*>(tokens_) + start;
    for (size_t i = 0; i < n; ++i) out[i] = t[i];
  } else {
    const auto* t = reinterpret_cast<const uint32_t*>(tokens_) + start;
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(t[i]);
  }
}

namespace {

// A piece of the input cut at a line end, and whether a document was open before it.
struct Block {
  std::string text;
  bool continues_doc = false;
  std::vector<int32_t> tokens;
  uint64_t lines = 0, documents = 0;
  std::string error;  // with the line it happened on, counted within the block
  uint64_t error_line = 0;
};

void encode_block(const Tokenizer& tok, Block& b, EncodeCache& cache) {
  const int nl = tok.newline_id(), eot = tok.eos_id();
  bool in_doc = b.continues_doc;
  size_t start = 0;
  try {
    while (start < b.text.size()) {
      size_t end = b.text.find('\n', start);
      if (end == std::string::npos) end = b.text.size();
      std::string_view line(b.text.data() + start, end - start);
      start = end + 1;
      ++b.lines;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) {
        if (in_doc) {
          b.tokens.push_back(eot);
          ++b.documents;
        }
        in_doc = false;
        continue;
      }
      const size_t bad = utf8_invalid_offset(line);
      if (bad != std::string_view::npos) {
        b.error = cat("invalid UTF-8 at byte ", bad + 1, " of the line");
        b.error_line = b.lines;
        return;
      }
      if (in_doc && nl >= 0) b.tokens.push_back(nl);
      const auto ids = tok.encode(line, &cache);
      b.tokens.insert(b.tokens.end(), ids.begin(), ids.end());
      in_doc = true;
    }
  } catch (const std::exception& e) {
    b.error = e.what();
    b.error_line = b.lines;
  }
}

// Appends about kBlockBytes of whole lines to out (the rest of a cut line stays in carry).
// Returns true at the end of the file.
bool read_lines(std::ifstream& in, const std::string& path, std::string& carry, std::string& out) {
  constexpr size_t kBlockBytes = 1 << 20;
  out = std::move(carry);
  carry.clear();
  while (true) {
    const size_t have = out.size();
    out.resize(have + kBlockBytes);
    in.read(out.data() + have, static_cast<std::streamsize>(kBlockBytes));
    out.resize(have + static_cast<size_t>(in.gcount()));
    AERO_CHECK(!in.bad(), "[data] read error on ", path);
    if (in.eof()) return true;
    const size_t cut = out.rfind('\n');
    if (cut != std::string::npos) {
      carry.assign(out, cut + 1);
      out.resize(cut + 1);
      return false;
    }
  }
}

// Whether the last line of text is not blank, so a document runs on into the next block.
bool ends_inside_document(std::string_view text) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  const size_t nl = text.rfind('\n');
  const std::string_view last = nl == std::string_view::npos ? text : text.substr(nl + 1);
  return last.find_first_not_of(" \t\r") != std::string_view::npos;
}

}  // namespace

PrepareStats prepare_shard(const Tokenizer& tok, const std::string& input,
                           const std::string& output, int n_threads, const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  AERO_CHECK(tok.eos_id() >= 0, "[data] the tokenizer has no end-of-text id to separate documents");
  std::ifstream in(input, std::ios::binary);
  AERO_CHECK(in, "[data] cannot open ", input, ": ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto total = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  ShardWriter writer(output, static_cast<uint32_t>(tok.vocab_size()),
                     static_cast<uint32_t>(tok.eos_id()));
  PrepareStats st;
  n_threads = std::max(1, n_threads);
  std::vector<EncodeCache> caches(static_cast<size_t>(n_threads));  // one per thread
  std::vector<Block> blocks(static_cast<size_t>(n_threads) * 4);
  std::string carry;  // a partial line left from the previous read
  bool open_doc = false;
  bool eof = false;
  while (!eof) {
    size_t n = 0;
    for (; n < blocks.size() && !eof; ++n) {
      Block& b = blocks[n];
      b = Block{};
      eof = read_lines(in, input, carry, b.text);
      b.continues_doc = open_doc;
      if (!b.text.empty()) open_doc = ends_inside_document(b.text);
      st.bytes += b.text.size();
    }
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (size_t i = 0; i < n; ++i) encode_block(tok, blocks[i], caches[omp_get_thread_num()]);
    for (size_t i = 0; i < n; ++i) {
      AERO_CHECK(blocks[i].error.empty(), "[data] ", input, ":", st.lines + blocks[i].error_line,
                 ": ", blocks[i].error);
      writer.append(blocks[i].tokens);
      st.lines += blocks[i].lines;
      st.documents += blocks[i].documents;
    }
    if (progress) progress(st.bytes, total);
  }
  if (open_doc) {
    const int32_t eot = tok.eos_id();
    writer.append(std::span<const int32_t>(&eot, 1));
    ++st.documents;
  }
  st.tokens = writer.count();
  writer.commit();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace aero
