// Character-level tokenizer: one id per Unicode code point seen in the corpus, after the
// specials <pad> <unk> <bos> <eos>. Saved as JSON.
#pragma once
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace aero {

class CharTokenizer : public Tokenizer {
 public:
  static constexpr int kPad = 0, kUnk = 1, kBos = 2, kEos = 3;

  // Vocabulary from the code points seen in a corpus (sorted, so builds are reproducible).
  static CharTokenizer from_chars(const std::set<char32_t>& chars);
  static CharTokenizer load(const std::string& path);
  void save(const std::string& path) const;

  std::string kind() const override { return "char"; }
  int eos_id() const override { return kEos; }
  int pad_id() const override { return kPad; }
  int newline_id() const override;

 protected:
  int base_vocab_size() const override { return static_cast<int>(pieces_.size()); }
  void encode_base(std::string_view text, std::vector<int>& out, EncodeCache*) const override;
  std::string decode_base(std::span<const int> ids, bool first) const override;
  std::string base_token_bytes(int id, bool first) const override;
  int base_token_to_id(std::string_view piece) const override;

 private:
  void index();
  std::vector<std::string> pieces_;  // id -> UTF-8 text
  std::unordered_map<char32_t, int> by_cp_;
};

// Adds the code points of valid UTF-8 text to a set: "aế" -> {U+0061, U+1EBF}.
void collect_chars(std::string_view text, std::set<char32_t>& chars);

}  // namespace aero
