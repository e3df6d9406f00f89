#include "tokenizer/gpt2_bpe.h"

#include <unicode/uchar.h>

#include <array>
#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "tokenizer/utf8.h"

namespace aero {
namespace {

namespace fs = std::filesystem;
const char* const kEndOfText = "<|endoftext|>";

// bytes_to_unicode: printable Latin-1 bytes stand for themselves; the other 68 bytes, in
// increasing order, take U+0100, U+0101, ...
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      utf8_append(t[size_t(b)], printable ? char32_t(b) : next++);
    }
    return t;
  }();
  return table;
}

// The inverse: the code point of a symbol -> its byte.
int symbol_byte(char32_t cp) {
  static const std::unordered_map<char32_t, int> inverse = [] {
    std::unordered_map<char32_t, int> m;
    char32_t next = 256;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      m[printable ? char32_t(b) : next++] = b;
    }
    return m;
  }();
  const auto it = inverse.find(cp);
  return it == inverse.end() ? -1 : it->second;
}

enum class Cls { letter, number, space, other };

Cls classify(char32_t cp) {
  if (u_hasBinaryProperty(UChar32(cp), UCHAR_WHITE_SPACE)) return Cls::space;
  switch (u_charType(UChar32(cp))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return Cls::letter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return Cls::number;
    default:
      return Cls::other;
  }
}

char32_t decode_at(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return char32_t(uint8_t(s[i + k])); };
  if (n == 1) return b(0);
  if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

}  // namespace

const std::string& gpt2_byte_symbol(uint8_t b) { return byte_symbols()[b]; }

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  // Code points with their byte offsets; an invalid byte is one "other" character.
  std::vector<size_t> off;
  std::vector<Cls> cls;
  std::vector<char32_t> cps;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_seq_len(text, i);
    off.push_back(i);
    if (n == 0) {
      cps.push_back(0xFFFD);
      cls.push_back(Cls::other);
      i++;
    } else {
      cps.push_back(decode_at(text, i, n));
      cls.push_back(classify(cps.back()));
      i += n;
    }
  }
  const size_t N = cps.size();
  off.push_back(text.size());
  std::vector<std::string_view> out;
  auto emit = [&](size_t a, size_t b) { out.push_back(text.substr(off[a], off[b] - off[a])); };
  auto run = [&](size_t j, Cls c) {  // end of the run of class c starting at j
    while (j < N && cls[j] == c) j++;
    return j;
  };
  size_t i = 0;
  while (i < N) {
    // 's 't 're 've 'm 'll 'd
    if (cps[i] == '\'') {
      size_t len = 0;
      for (const char* c : {"s", "t", "re", "ve", "m", "ll", "d"}) {
        const size_t k = std::char_traits<char>::length(c);
        if (i + k < N && text.substr(off[i + 1], k) == c && off[i + 1 + k] - off[i + 1] == k) {
          len = k;
          break;
        }
      }
      if (len) {
        emit(i, i + 1 + len);
        i += 1 + len;
        continue;
      }
    }
    // ' ?' then a run of letters, of numbers, or of other (not space) characters.
    const size_t j = cps[i] == ' ' && i + 1 < N && cls[i + 1] != Cls::space ? i + 1 : i;
    if (cls[j] != Cls::space) {
      const size_t end = run(j, cls[j]);
      emit(i, end);
      i = end;
      continue;
    }
    // \s+(?!\S) then \s+: a whitespace run leaves its last character to the next piece when a
    // non-space follows, unless the run is that one character.
    size_t end = run(i, Cls::space);
    if (end < N && end - i >= 2) end--;
    emit(i, end);
    i = end;
  }
  return out;
}

Gpt2BpeTokenizer::Gpt2BpeTokenizer(const std::string& vocab_path, const std::string& merges_path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(vocab_path));
  } catch (const nlohmann::json::exception& e) {
    fail("[tokenizer] ", vocab_path, ": invalid JSON: ", e.what());
  }
  AERO_CHECK(j.is_object() && !j.empty(), "[tokenizer] ", vocab_path,
             ": expected an object {token: id}");
  tokens_.resize(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    AERO_CHECK(it.value().is_number_integer(), "[tokenizer] ", vocab_path, ": the id of '",
               it.key(), "' is not an integer");
    const int64_t id = it.value().get<int64_t>();
    AERO_CHECK(id >= 0 && id < int64_t(j.size()) && tokens_[size_t(id)].empty(), "[tokenizer] ",
               vocab_path, ": ids must be 0..", j.size() - 1, " each once; '", it.key(), "' has ",
               id);
    tokens_[size_t(id)] = it.key();
    ids_[it.key()] = int(id);
  }
  // The raw bytes of each token; a token that is not in byte-symbol form (an added special such
  // as <|endoftext|>) stands for its own text.
  bytes_.resize(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); id++) {
    const std::string& t = tokens_[id];
    std::string raw;
    bool symbols = !t.empty();
    for (size_t i = 0; i < t.size() && symbols;) {
      const size_t n = utf8_seq_len(t, i);
      const int b = n ? symbol_byte(decode_at(t, i, n)) : -1;
      if (b < 0) symbols = false;
      raw += char(b);
      i += n ? n : 1;
    }
    bytes_[id] = symbols ? raw : t;
  }
  for (int b = 0; b < 256; b++)
    AERO_CHECK(ids_.count(gpt2_byte_symbol(uint8_t(b))), "[tokenizer] ", vocab_path, ": byte ", b,
               " ('", gpt2_byte_symbol(uint8_t(b)),
               "') has no token; a byte-level BPE vocabulary needs all 256");

  std::istringstream in(read_file(merges_path));
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t sp = line.find(' ');
    AERO_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() &&
                   line.find(' ', sp + 1) == std::string::npos,
               "[tokenizer] ", merges_path, ":", line_no, ": expected 'first second', got '", line,
               "'");
    std::string a = line.substr(0, sp), b = line.substr(sp + 1);
    AERO_CHECK(ids_.count(a + b), "[tokenizer] ", merges_path, ":", line_no, ": the merge of '", a,
               "' and '", b, "' is not in ", vocab_path);
    ranks_.emplace(line, int(merges_.size()));  // the first of duplicate merges wins
    merges_.emplace_back(std::move(a), std::move(b));
  }
  const auto eos = ids_.find(kEndOfText);
  if (eos != ids_.end()) {
    eos_ = eos->second;
    add_unsplittable(kEndOfText, eos_);
  }
  const auto nl = ids_.find(gpt2_byte_symbol('\n'));
  newline_ = nl->second;
}

void Gpt2BpeTokenizer::encode_word(std::string_view word, std::vector<int>& out) const {
  std::vector<std::string> sym;
  for (char c : word) sym.push_back(gpt2_byte_symbol(uint8_t(c)));
  while (sym.size() > 1) {
    // The adjacent pair of lowest rank, then every occurrence of it merged left to right.
    int best = INT_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); i++) {
      const auto it = ranks_.find(sym[i] + " " + sym[i + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT_MAX) break;
    const std::string a = sym[at], b = sym[at + 1];
    std::vector<std::string> next;
    for (size_t i = 0; i < sym.size(); i++) {
      if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
        next.push_back(a + b);
        i++;
      } else {
        next.push_back(sym[i]);
      }
    }
    sym = std::move(next);
  }
  for (const std::string& s : sym) out.push_back(ids_.at(s));  // every merge result is in vocab
}

void Gpt2BpeTokenizer::encode_base(std::string_view text, std::vector<int>& out,
                                   EncodeCache* cache) const {
  for (std::string_view word : gpt2_pretokenize(text)) {
    if (cache) {
      if (const std::vector<int>* hit = cache->find(word)) {
        out.insert(out.end(), hit->begin(), hit->end());
        continue;
      }
      std::vector<int> ids;
      encode_word(word, ids);
      out.insert(out.end(), ids.begin(), ids.end());
      cache->put(word, std::move(ids));
    } else {
      encode_word(word, out);
    }
  }
}

std::string Gpt2BpeTokenizer::decode_base(std::span<const int> ids, bool) const {
  std::string out;
  for (int id : ids) out += base_token_bytes(id, false);
  return out;
}

std::string Gpt2BpeTokenizer::base_token_bytes(int id, bool) const {
  AERO_CHECK(id >= 0 && id < base_vocab_size(), "[tokenizer] id ", id, " out of range");
  return bytes_[size_t(id)];
}

int Gpt2BpeTokenizer::base_token_to_id(std::string_view piece) const {
  const auto it = ids_.find(std::string(piece));
  return it == ids_.end() ? -1 : it->second;
}

bool find_gpt2_bpe_files(const std::string& path, std::string* vocab, std::string* merges) {
  const fs::path p(path);
  const fs::path v = fs::is_directory(p) ? p / "vocab.json" : p;
  if (v.filename() != "vocab.json") return false;
  const fs::path m = v.parent_path() / "merges.txt";
  if (!fs::exists(v) || !fs::exists(m)) return false;
  *vocab = v.string();
  *merges = m.string();
  return true;
}

}  // namespace aero
