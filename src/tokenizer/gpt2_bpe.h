// GPT-2's byte-level BPE (Hugging Face vocab.json + merges.txt): text is split by GPT-2's
// pre-tokenization pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// each piece's bytes become printable characters (bytes_to_unicode: ' ' -> 'Ġ', '\n' -> 'Ċ'),
// and adjacent symbols are merged by rank until no ranked pair is left.
// "Hello world" -> ["Hello", " world"] -> ["Hello", "Ġworld"] -> ids.
// <|endoftext|> is never split and is the end-of-text id.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace aero {

// GPT-2's pre-tokenization: "I'm here  now" -> ["I", "'m", " here", " ", " now"].
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

// The printable character standing for each byte, as UTF-8: 'A' -> "A", ' ' -> "Ġ" (U+0120).
const std::string& gpt2_byte_symbol(uint8_t b);

class Gpt2BpeTokenizer : public Tokenizer {
 public:
  Gpt2BpeTokenizer(const std::string& vocab_path, const std::string& merges_path);

  std::string kind() const override { return "gpt2-bpe"; }
  int eos_id() const override { return eos_; }
  int pad_id() const override { return -1; }
  int newline_id() const override { return newline_; }

  // id -> token in byte-symbol form ("Ġworld"), and the merges in rank order ("Ġ w").
  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

 protected:
  int base_vocab_size() const override { return static_cast<int>(tokens_.size()); }
  void encode_base(std::string_view text, std::vector<int>& out, EncodeCache* cache) const override;
  std::string decode_base(std::span<const int> ids, bool first) const override;
  std::string base_token_bytes(int id, bool first) const override;
  int base_token_to_id(std::string_view piece) const override;

 private:
  void encode_word(std::string_view word, std::vector<int>& out) const;

  std::vector<std::string> tokens_;
  std::vector<std::string> bytes_;  // id -> the raw bytes it stands for
  std::unordered_map<std::string, int> ids_;
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<std::string, int> ranks_;  // "first second" -> rank
  int eos_ = -1, newline_ = -1;
};

// vocab.json and merges.txt from a path: a directory holding both, or vocab.json itself (with
// merges.txt beside it). Returns false when `path` is neither.
bool find_gpt2_bpe_files(const std::string& path, std::string* vocab, std::string* merges);

}  // namespace aero
