// One interface for every tokenizer: text <-> ids, special tokens that are never split, and the
// bytes of each id for streaming decode.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aero {

// Memo of word -> ids for one thread (not shared): natural text repeats words (Zipf), so most
// words are looked up instead of encoded. Cleared when full, so memory is bounded.
class EncodeCache {
 public:
  explicit EncodeCache(size_t max_entries = 1 << 18) : max_(max_entries) {}
  const std::vector<int>* find(std::string_view word) const {
    const auto it = map_.find(word);
    return it == map_.end() ? nullptr : &it->second;
  }
  void put(std::string_view word, std::vector<int> ids) {
    if (map_.size() >= max_) map_.clear();
    map_.emplace(std::string(word), std::move(ids));
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<int>, Hash, std::equal_to<>> map_;
  size_t max_;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "hi <COMMENT>x" -> ids of "hi ", id of <COMMENT>, ids of "x": special tokens are matched
  // first (longest wins) and the text between them goes to the underlying model.
  // A cache (one per thread) speeds up tokenizers whose words encode independently; the ids are
  // the same with or without it.
  std::vector<int> encode(std::string_view text, EncodeCache* cache = nullptr) const;
  std::string decode(std::span<const int> ids) const;
  // Raw bytes id contributes to decoded text; `first` is true for the first id of a text (it
  // drops SentencePiece's leading space). May be part of a UTF-8 character (byte fallback).
  std::string token_bytes(int id, bool first) const;

  int vocab_size() const { return base_vocab_size() + static_cast<int>(added_.size()); }
  // Ids below this belong to the model; the rest were added with add_special_tokens.
  int base_size() const { return base_vocab_size(); }
  // Id of a piece (special or not), or -1.
  int token_to_id(std::string_view piece) const;

  // Adds special tokens after the model's vocabulary; a token the model already has as a single
  // piece keeps its id. Returns the id of each token, in order.
  std::vector<int> add_special_tokens(const std::vector<std::string>& tokens);
  // Tokens given to add_special_tokens, in order (also those the model already had).
  const std::vector<std::string>& special_tokens() const { return requested_; }
  // Writes the added tokens beside the model file (model_path + ".added.json").
  void save_added(const std::string& model_path) const;

  virtual std::string kind() const = 0;
  // End-of-text id put between documents; -1 when the model has none.
  virtual int eos_id() const = 0;
  virtual int pad_id() const = 0;
  // Id inserted between lines of one document when the model can represent "\n", else -1.
  virtual int newline_id() const { return -1; }

 protected:
  virtual int base_vocab_size() const = 0;
  virtual void encode_base(std::string_view text, std::vector<int>& out,
                           EncodeCache* cache) const = 0;
  // `first`: the ids start the text (SentencePiece drops the leading space only there).
  virtual std::string decode_base(std::span<const int> ids, bool first) const = 0;
  virtual std::string base_token_bytes(int id, bool first) const = 0;
  virtual int base_token_to_id(std::string_view piece) const = 0;
  // Pieces of the model itself that must never be split (the char tokenizer's specials).
  void add_unsplittable(std::string piece, int id);

 private:
  friend std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
  void load_added(const std::string& model_path);

  std::vector<std::string> added_;                     // ids base_vocab_size() + i
  std::vector<std::string> requested_;                 // persisted beside the model
  std::vector<std::pair<std::string, int>> specials_;  // everything matched before the model
};

std::string added_tokens_path(const std::string& model_path);

// A SentencePiece ".model", a char tokenizer ".json", or GPT-2 byte-level BPE (a directory
// with vocab.json and merges.txt, or that vocab.json), plus its added tokens if present.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace aero
