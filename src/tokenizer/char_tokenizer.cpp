#include "tokenizer/char_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "tokenizer/utf8.h"

namespace aero {

namespace {

const char* const kSpecials[] = {"<pad>", "<unk>", "<bos>", "<eos>"};

char32_t decode_cp(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) {
    return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]));
  };
  if (n == 1) return b(0);
  if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

}  // namespace

void collect_chars(std::string_view text, std::set<char32_t>& chars) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = utf8_seq_len(text, i);
    if (n == 0) {
      ++i;
      continue;
    }
    chars.insert(decode_cp(text, i, n));
    i += n;
  }
}

CharTokenizer CharTokenizer::from_chars(const std::set<char32_t>& chars) {
  CharTokenizer t;
  for (const char* s : kSpecials) t.pieces_.emplace_back(s);
  for (char32_t c : chars) {
    std::string p;
    utf8_append(p, c);
    t.pieces_.push_back(p);
  }
  t.index();
  return t;
}

void CharTokenizer::index() {
  for (int id = 0; id < 4; ++id) add_unsplittable(pieces_[id], id);
  for (size_t id = 4; id < pieces_.size(); ++id) {
    const std::string& p = pieces_[id];
    const size_t n = utf8_seq_len(p, 0);
    AERO_CHECK(n == p.size() && n > 0, "[tokenizer] char vocabulary entry ", id,
               " is not one UTF-8 character");
    by_cp_[decode_cp(p, 0, n)] = static_cast<int>(id);
  }
}

CharTokenizer CharTokenizer::load(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("[tokenizer] ", path, ": ", e.what());
  }
  CharTokenizer t;
  // json::value() throws a json type_error for a key of another type: inside the try too.
  try {
    AERO_CHECK(j.is_object() && j.value("format", "") == "aero-char-tokenizer", "[tokenizer] ",
               path, ": not an aero char tokenizer");
    // An integer 1: get<int>() of a float such as 1e300 would be an overflowing cast.
    AERO_CHECK(j.contains("version") && j["version"].is_number_integer() && j["version"] == 1,
               "[tokenizer] ", path, ": unsupported version ",
               j.contains("version") ? j["version"].dump() : "(none)");
    t.pieces_ = j.at("specials").get<std::vector<std::string>>();
    AERO_CHECK(t.pieces_.size() == 4, "[tokenizer] ", path, ": expected 4 specials");
    for (size_t i = 0; i < 4; ++i)
      AERO_CHECK(!t.pieces_[i].empty(), "[tokenizer] ", path, ": special token ", i,
                 " is empty (an empty token would match everywhere)");
    for (const auto& c : j.at("chars").get<std::vector<std::string>>()) t.pieces_.push_back(c);
  } catch (const nlohmann::json::exception& e) {
    fail("[tokenizer] ", path, ": ", e.what());
  }
  t.index();
  return t;
}

void CharTokenizer::save(const std::string& path) const {
  nlohmann::json j;
  j["format"] = "aero-char-tokenizer";
  j["version"] = 1;
  j["specials"] = std::vector<std::string>(pieces_.begin(), pieces_.begin() + 4);
  j["chars"] = std::vector<std::string>(pieces_.begin() + 4, pieces_.end());
  write_file_atomic(path, j.dump(1) + "\n");
}

int CharTokenizer::newline_id() const {
  const auto it = by_cp_.find(U'\n');
  return it == by_cp_.end() ? -1 : it->second;
}

void CharTokenizer::encode_base(std::string_view text, std::vector<int>& out, EncodeCache*) const {
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = utf8_seq_len(text, i);
    if (n == 0) {
      out.push_back(kUnk);
      ++i;
      continue;
    }
    const auto it = by_cp_.find(decode_cp(text, i, n));
    out.push_back(it == by_cp_.end() ? kUnk : it->second);
    i += n;
  }
}

std::string CharTokenizer::decode_base(std::span<const int> ids, bool) const {
  std::string out;
  for (int id : ids) out += base_token_bytes(id, false);
  return out;
}

std::string CharTokenizer::base_token_bytes(int id, bool) const {
  AERO_CHECK(id >= 0 && id < base_vocab_size(), "[tokenizer] id ", id, " out of range");
  if (id == kPad || id == kBos || id == kEos) return "";
  if (id == kUnk) return "\xEF\xBF\xBD";
  return pieces_[id];
}

int CharTokenizer::base_token_to_id(std::string_view piece) const {
  for (int id = 0; id < 4; ++id)
    if (pieces_[id] == piece) return id;
  const size_t n = piece.empty() ? 0 : utf8_seq_len(piece, 0);
  if (n == 0 || n != piece.size()) return -1;
  const auto it = by_cp_.find(decode_cp(piece, 0, n));
  return it == by_cp_.end() ? -1 : it->second;
}

}  // namespace aero
