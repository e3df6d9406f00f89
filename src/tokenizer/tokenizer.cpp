#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/gpt2_bpe.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/utf8.h"

namespace aero {

std::vector<int> Tokenizer::encode(std::string_view text, EncodeCache* cache) const {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, best_len = 0;
    int best_id = -1;
    for (const auto& [piece, id] : specials_) {
      const size_t at = text.find(piece, pos);
      if (at == std::string_view::npos) continue;
      if (at < best || (at == best && piece.size() > best_len)) {
        best = at;
        best_len = piece.size();
        best_id = id;
      }
    }
    const size_t end = best == std::string_view::npos ? text.size() : best;
    if (end > pos) encode_base(text.substr(pos, end - pos), out, cache);
    if (best == std::string_view::npos) break;
    out.push_back(best_id);
    pos = best + best_len;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int> ids) const {
  std::string out;
  const int n_base = base_vocab_size();
  size_t i = 0;
  while (i < ids.size()) {
    size_t j = i;
    while (j < ids.size() && ids[j] >= 0 && ids[j] < n_base) ++j;
    if (j > i) out += decode_base(ids.subspan(i, j - i), i == 0);
    if (j < ids.size()) {
      const int id = ids[j];
      AERO_CHECK(id >= 0 && id < vocab_size(), "[tokenizer] id ", id, " out of range [0, ",
                 vocab_size(), ")");
      out += added_[id - n_base];
      ++j;
    }
    i = j;
  }
  return out;
}

std::string Tokenizer::token_bytes(int id, bool first) const {
  AERO_CHECK(id >= 0 && id < vocab_size(), "[tokenizer] id ", id, " out of range [0, ",
             vocab_size(), ")");
  if (id >= base_vocab_size()) return added_[id - base_vocab_size()];
  return base_token_bytes(id, first);
}

int Tokenizer::token_to_id(std::string_view piece) const {
  for (size_t i = 0; i < added_.size(); ++i)
    if (added_[i] == piece) return base_vocab_size() + static_cast<int>(i);
  return base_token_to_id(piece);
}

std::vector<int> Tokenizer::add_special_tokens(const std::vector<std::string>& tokens) {
  std::vector<int> ids;
  for (const auto& t : tokens) {
    AERO_CHECK(!t.empty(), "[tokenizer] a special token cannot be empty");
    AERO_CHECK(utf8_invalid_offset(t) == std::string::npos,
               "[tokenizer] special token is not valid UTF-8");
    int id = token_to_id(t);
    if (id < 0) {
      added_.push_back(t);
      id = vocab_size() - 1;
    }
    bool known = false;
    for (const auto& s : specials_) known = known || s.first == t;
    if (!known) specials_.emplace_back(t, id);
    if (std::find(requested_.begin(), requested_.end(), t) == requested_.end())
      requested_.push_back(t);
    ids.push_back(id);
  }
  return ids;
}

void Tokenizer::add_unsplittable(std::string piece, int id) {
  AERO_CHECK(!piece.empty(), "[tokenizer] an unsplittable token cannot be empty");
  specials_.emplace_back(std::move(piece), id);
}

std::string added_tokens_path(const std::string& model_path) { return model_path + ".added.json"; }

void Tokenizer::save_added(const std::string& model_path) const {
  nlohmann::json j;
  j["format"] = "aero-added-tokens";
  j["version"] = 1;
  j["base_vocab_size"] = base_vocab_size();
  j["tokens"] = requested_;
  write_file_atomic(added_tokens_path(model_path), j.dump(2) + "\n");
}

void Tokenizer::load_added(const std::string& model_path) {
  const std::string path = added_tokens_path(model_path);
  if (!std::filesystem::exists(path)) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("[tokenizer] ", path, ": ", e.what());
  }
  AERO_CHECK(j.value("format", "") == "aero-added-tokens" && j.value("version", 0) == 1,
             "[tokenizer] ", path, ": not an aero added-tokens file (version 1)");
  AERO_CHECK(j.value("base_vocab_size", -1) == base_vocab_size(), "[tokenizer] ", path,
             ": written for a vocabulary of ", j.value("base_vocab_size", -1),
             " but the model has ", base_vocab_size(), "; re-run add-tokens");
  std::vector<std::string> tokens;
  try {
    tokens = j.at("tokens").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail("[tokenizer] ", path, ": ", e.what());
  }
  add_special_tokens(tokens);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  AERO_CHECK(std::filesystem::exists(path), "[tokenizer] no such file: ", path);
  std::unique_ptr<Tokenizer> tok;
  std::string vocab, merges;
  if (find_gpt2_bpe_files(path, &vocab, &merges))
    tok = std::make_unique<Gpt2BpeTokenizer>(vocab, merges);
  else if (path.ends_with(".json"))
    tok = std::make_unique<CharTokenizer>(CharTokenizer::load(path));
  else
    tok = std::make_unique<SentencePieceTokenizer>(path);
  tok->load_added(path);
  return tok;
}

}  // namespace aero
