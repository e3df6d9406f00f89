#include "data/clean.h"

#include <unicode/regex.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>

#include <omp.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace aero {

const std::vector<std::string>& default_source_rules() {
  static const std::vector<std::string> rules = {
      // A news source tag opening a line: "TTO - ", "(PLO)- ", "VOV.VN - ", "(Dân trí) – ".
      "^\\s*\\(?\\s*(?:TTO|PLO|NLĐO|VOV\\.VN|VOV|Dân trí|Dân Trí|VnExpress|Chinhphu\\.vn|TTXVN|"
      "VTC News|VTV\\.vn|VTV|Zing|Zingnews|VietNamNet|Tiền Phong|Thanh Niên|Tuổi Trẻ|SGGP|"
      "Vietnam\\+|ANTĐ|CAND|Infonet|Kenh14|Soha|Người Lao Động|Lao Động|GDVN|VnMedia|VTC)"
      "(?:\\.vn|\\.com\\.vn|\\.net)?\\s*\\)?\\s*[-–—:]+\\s*",
      // Any short parenthesised tag followed by a dash at the start: "(Baonghean) - ".
      "^\\s*\\([^()\\d]{2,30}\\)\\s*[-–—]+\\s*",
      // A credit closing a line: "... (Theo VnExpress)", "(Nguồn: Reuters)".
      "\\s*\\(\\s*(?:Theo|Nguồn)\\s*:?\\s*[^()]{1,60}\\)\\s*$",
      // A credit line of at most four words starting with a capital: "Theo Dân trí".
      "^\\s*(?:Theo|Nguồn)\\s*:?\\s+\\p{Lu}\\S*(?:\\s+\\S+){0,3}\\s*$",
      // Photo and byline lines: "Ảnh: Hoàng Hà", "Bài và ảnh: Minh Anh".
      "^\\s*(?:Ảnh|Video|Clip|Bài và ảnh|Bài, ảnh|Nguồn ảnh|Nguồn|Tác giả)\\s*:\\s*.{1,80}$",
  };
  return rules;
}

namespace {

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

bool has_within(std::string_view s, size_t n, std::string_view chars) {
  return s.substr(0, n).find_first_of(chars) != std::string_view::npos;
}

// Cheap tests that a line could match default rule i; the regexes are the slow part of cleaning.
bool default_rule_may_match(size_t i, std::string_view line) {
  const std::string_view t = trim_left(line);
  switch (i) {
    case 0:  // a dash (ASCII or the lead byte of – and —) or a colon near the start
      return has_within(t, 48, "-:\xE2");
    case 1:
      return t.starts_with('(') && has_within(t, 64, ")");
    case 2: {
      std::string_view r = line;
      while (!r.empty() && (r.back() == ' ' || r.back() == '\t')) r.remove_suffix(1);
      return r.ends_with(')') && (line.find("Theo") != std::string_view::npos ||
                                  line.find("Nguồn") != std::string_view::npos);
    }
    case 3:
      return t.starts_with("Theo") || t.starts_with("Nguồn");
    case 4:
      return has_within(t, 40, ":");
    default:
      return true;
  }
}

}  // namespace

struct Cleaner::Impl {
  std::vector<std::unique_ptr<icu::RegexMatcher>> rules;
  std::vector<std::unique_ptr<icu::RegexPattern>> patterns;
  size_t n_default = 0;       // the first rules are the defaults, with cheap pre-checks
  std::vector<UChar32> keep;  // sorted
};

Cleaner::Cleaner(CleanOptions opt) : opt_(std::move(opt)), impl_(std::make_unique<Impl>()) {
  std::vector<std::string> rules = opt_.extra_source_rules;
  if (opt_.default_source_rules) {
    rules.insert(rules.begin(), default_source_rules().begin(), default_source_rules().end());
    impl_->n_default = default_source_rules().size();
  }
  for (const auto& r : rules) {
    UParseError pe{};
    UErrorCode err = U_ZERO_ERROR;
    std::unique_ptr<icu::RegexPattern> p(
        icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(r), 0, pe, err));
    AERO_CHECK(U_SUCCESS(err), "[data] bad source rule regex '", r, "' at offset ", pe.offset, ": ",
               u_errorName(err));
    std::unique_ptr<icu::RegexMatcher> m(p->matcher(err));
    AERO_CHECK(U_SUCCESS(err), "[data] cannot use regex '", r, "': ", u_errorName(err));
    impl_->patterns.push_back(std::move(p));
    impl_->rules.push_back(std::move(m));
  }
  const std::string& k = opt_.keep_chars;
  for (int32_t i = 0; i < static_cast<int32_t>(k.size());) {
    UChar32 c;
    U8_NEXT(k.data(), i, static_cast<int32_t>(k.size()), c);
    if (c >= 0) impl_->keep.push_back(c);
  }
  std::sort(impl_->keep.begin(), impl_->keep.end());
}

Cleaner::~Cleaner() = default;

namespace {

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Whether a code point stays under the symbol rule. `after_latin`: the previous kept character
// was a Latin letter, so a combining mark belongs to it (a decomposed Vietnamese tone mark).
bool keep_char(UChar32 c, bool after_latin, const std::vector<UChar32>& keep) {
  if (c < 0x80) return c >= 0x20 ? c != 0x7F : (c == '\t' || c == '\n');
  // Fast path for the Latin letter blocks Vietnamese uses (Latin-1, Extended-A/B, Extended
  // Additional with the precomposed tone marks); × and ÷ are symbols.
  if ((c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF))
    return true;
  const int8_t type = u_charType(c);
  switch (type) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER: {
      UErrorCode err = U_ZERO_ERROR;
      return uscript_getScript(c, &err) == USCRIPT_LATIN;
    }
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_ENCLOSING_MARK:
      return after_latin;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_SPACE_SEPARATOR:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      return true;
    default:
      return std::binary_search(keep.begin(), keep.end(), c);
  }
}

// Unicode whitespace, including no-break and ideographic spaces.
bool is_space_cp(UChar32 c) { return c == ' ' || c == '\t' || u_isUWhiteSpace(c); }

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h ^ (s.size() * 0x9E3779B97F4A7C15ull);
}

}  // namespace

bool Cleaner::clean_line(std::string& line) {
  if (opt_.nfc && !is_ascii(line)) {
    const size_t before = line.size();
    if (utf8_nfc(line)) {  // the normalisation user_text gives chat and generate prompts
      ++report_.nfc.lines;
      report_.nfc.bytes += before > line.size() ? before - line.size() : 0;
    }
  }
  if (opt_.strip_sources && !line.empty()) {
    const size_t before = line.size();
    for (size_t r = 0; r < impl_->rules.size(); ++r) {
      if (r < impl_->n_default && !default_rule_may_match(r, line)) continue;
      auto& m = impl_->rules[r];
      UErrorCode err = U_ZERO_ERROR;
      UText* ut = utext_openUTF8(nullptr, line.data(), static_cast<int64_t>(line.size()), &err);
      m->reset(ut);
      std::string out;
      int64_t last = 0;
      while (m->find()) {
        const int64_t s = m->start64(err), e = m->end64(err);
        if (e == s) break;
        out.append(line, static_cast<size_t>(last), static_cast<size_t>(s - last));
        last = e;
      }
      m->reset(icu::UnicodeString());
      utext_close(ut);
      if (last > 0) {
        out.append(line, static_cast<size_t>(last), std::string::npos);
        line = std::move(out);
      }
    }
    if (line.size() != before) {
      ++report_.sources.lines;
      report_.sources.bytes += before - line.size();
    }
  }
  if (opt_.strip_symbols) {
    std::string out;
    out.reserve(line.size());
    bool after_latin = false, changed = false;
    const int32_t n = static_cast<int32_t>(line.size());
    for (int32_t i = 0; i < n;) {
      const int32_t start = i;
      const auto byte = static_cast<unsigned char>(line[static_cast<size_t>(i)]);
      if (byte >= 0x20 && byte < 0x7F) {  // printable ASCII: always kept
        out += static_cast<char>(byte);
        after_latin = std::isalpha(byte) != 0;
        ++i;
        continue;
      }
      UChar32 c;
      U8_NEXT(line.data(), i, n, c);
      if (c < 0) {
        changed = true;
        continue;
      }
      if (keep_char(c, after_latin, impl_->keep)) {
        out.append(line, static_cast<size_t>(start), static_cast<size_t>(i - start));
        if (!(u_getCombiningClass(c) > 0 && after_latin))
          after_latin = c < 0x80 ? std::isalpha(static_cast<int>(c)) != 0 : u_isalpha(c) != 0;
      } else {
        changed = true;
      }
    }
    if (changed) {
      ++report_.symbols.lines;
      report_.symbols.bytes += line.size() - out.size();
      line = std::move(out);
    }
  }
  if (opt_.collapse_whitespace) {
    std::string out;
    out.reserve(line.size());
    bool pending = false;
    const int32_t n = static_cast<int32_t>(line.size());
    for (int32_t i = 0; i < n;) {
      const int32_t start = i;
      UChar32 c;
      U8_NEXT(line.data(), i, n, c);
      if (c >= 0 && is_space_cp(c)) {
        pending = !out.empty();
        continue;
      }
      if (pending) out += ' ';
      pending = false;
      out.append(line, static_cast<size_t>(start), static_cast<size_t>(i - start));
    }
    if (out != line) {
      ++report_.whitespace.lines;
      report_.whitespace.bytes += line.size() - out.size();
      line = std::move(out);
    }
  }
  if (line.find_first_not_of(" \t") == std::string::npos) {
    ++report_.empty_lines.lines;
    report_.empty_lines.bytes += line.size();
    return false;
  }
  if (opt_.min_line_chars > 0 && count_chars(line) < static_cast<size_t>(opt_.min_line_chars)) {
    ++report_.short_lines.lines;
    report_.short_lines.bytes += line.size();
    return false;
  }
  return true;
}

void Cleaner::clean_text(std::string& text) {
  std::string out, line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    line.assign(text, start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!clean_line(line)) continue;
    if (!out.empty()) out += '\n';
    out += line;
  }
  text = std::move(out);
}

bool Cleaner::keep(std::string_view key, size_t bytes) {
  if (opt_.dedup && !seen_.insert(fnv1a(key)).second) {
    ++report_.duplicate_docs;
    return false;
  }
  ++report_.docs_out;
  report_.bytes_out += bytes;
  return true;
}

bool Cleaner::clean_rules(Document& doc) {
  ++report_.docs_in;
  report_.bytes_in += doc.text.size();
  clean_text(doc.text);
  if (!doc.text.empty()) return true;
  ++report_.empty_docs;
  return false;
}

bool Cleaner::clean(Document& doc) { return clean_rules(doc) && keep_unique(doc); }

bool Cleaner::clean(std::vector<std::string>& fields) {
  ++report_.docs_in;
  std::string key;
  size_t bytes = 0;
  for (auto& f : fields) {
    report_.bytes_in += f.size();
    clean_text(f);
    if (f.empty()) {
      ++report_.empty_docs;
      return false;
    }
    key += f;
    key += '\0';  // ("a", "bc") and ("ab", "c") are different rows
    bytes += f.size();
  }
  return keep(key, bytes);
}

CleanReport& CleanReport::operator+=(const CleanReport& o) {
  for (auto [a, b] : {std::pair{&nfc, &o.nfc},
                      {&sources, &o.sources},
                      {&symbols, &o.symbols},
                      {&whitespace, &o.whitespace},
                      {&empty_lines, &o.empty_lines},
                      {&short_lines, &o.short_lines}}) {
    a->lines += b->lines;
    a->bytes += b->bytes;
  }
  docs_in += o.docs_in;
  docs_out += o.docs_out;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  empty_docs += o.empty_docs;
  duplicate_docs += o.duplicate_docs;
  missing_field += o.missing_field;
  return *this;
}

CleanReport clean_documents(const CleanOptions& opt, int n_threads,
                            const std::function<void(const DocumentFn&)>& produce,
                            const DocumentFn& out) {
  n_threads = std::max(1, n_threads);
  // ICU matchers are stateful, so each thread has its own cleaner; one more de-duplicates.
  std::vector<std::unique_ptr<Cleaner>> workers;
  for (int t = 0; t < n_threads; ++t) workers.push_back(std::make_unique<Cleaner>(opt));
  Cleaner dedup(opt);
  std::vector<Document> batch;
  std::vector<char> kept;
  size_t batch_bytes = 0;
  const auto run = [&] {
    kept.assign(batch.size(), 0);
    const auto n = static_cast<int64_t>(batch.size());
    std::string error;  // exceptions must not leave an OpenMP region
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 16)
    for (int64_t i = 0; i < n; ++i) {
      try {
        kept[static_cast<size_t>(i)] =
            workers[static_cast<size_t>(omp_get_thread_num())]->clean_rules(
                batch[static_cast<size_t>(i)]);
      } catch (const std::exception& e) {
#pragma omp critical(aero_clean_error)
        if (error.empty()) error = cat(batch[static_cast<size_t>(i)].source, ": ", e.what());
      }
    }
    AERO_CHECK(error.empty(), error);
    for (size_t i = 0; i < batch.size(); ++i)
      if (kept[i] && dedup.keep_unique(batch[i])) out(std::move(batch[i]));
    batch.clear();
    batch_bytes = 0;
  };
  produce([&](Document&& doc) {
    batch_bytes += doc.text.size();
    batch.push_back(std::move(doc));
    if (batch_bytes >= (4u << 20) || batch.size() >= 8192) run();
  });
  run();
  CleanReport report;
  for (auto& w : workers) report += w->report();
  // Documents out (and duplicates) are known only after de-duplication.
  report.docs_out = dedup.report().docs_out;
  report.bytes_out = dedup.report().bytes_out;
  report.duplicate_docs = dedup.report().duplicate_docs;
  return report;
}

std::string CleanReport::to_text() const {
  const auto row = [](const char* name, const RuleCount& r) {
    return cat("  ", name, r.lines, " lines, ", r.bytes, " bytes\n");
  };
  return cat("documents: ", docs_in, " in, ", docs_out, " out (", empty_docs, " empty, ",
             duplicate_docs, " duplicates, ", missing_field, " rows with a missing field)\n",
             "bytes:     ", bytes_in, " in, ", bytes_out, " out\n", row("nfc:          ", nfc),
             row("sources:      ", sources), row("symbols:      ", symbols),
             row("whitespace:   ", whitespace), row("empty lines:  ", empty_lines),
             row("short lines:  ", short_lines));
}

std::string CleanReport::to_json() const {
  const auto rc = [](const RuleCount& r) {
    return nlohmann::json{{"lines", r.lines}, {"bytes", r.bytes}};
  };
  nlohmann::json j{{"docs_in", docs_in},
                   {"docs_out", docs_out},
                   {"bytes_in", bytes_in},
                   {"bytes_out", bytes_out},
                   {"empty_docs", empty_docs},
                   {"duplicate_docs", duplicate_docs},
                   {"missing_field", missing_field},
                   {"nfc", rc(nfc)},
                   {"sources", rc(sources)},
                   {"symbols", rc(symbols)},
                   {"whitespace", rc(whitespace)},
                   {"empty_lines", rc(empty_lines)},
                   {"short_lines", rc(short_lines)}};
  return j.dump(2);
}

namespace {

// Code point at s[i], advancing i; invalid bytes read as U+FFFD.
char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i++]);
  if (b < 0x80) return b;
  const int n = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
  char32_t cp = b & (0x3F >> n);
  for (int k = 0; k < n && i < s.size(); k++)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  return n == 0 ? U'\uFFFD' : cp;
}

// A letter only Vietnamese uses among Latin scripts: ă â đ ê ô ơ ư or a vowel with a tone mark.
bool vietnamese_letter(char32_t c) {
  if (c >= 0x1EA0 && c <= 0x1EF9) return true;  // Latin Extended Additional: ạ ả ấ ... ỹ
  // À Á Â Ã È É Ê Ì Í Ò Ó Ô Õ Ù Ú Ý, the same in lower case, Ă ă Đ đ Ĩ ĩ Ũ ũ Ơ ơ Ư ư.
  static constexpr char32_t kLetters[] = {
      0xC0,  0xC1,  0xC2,  0xC3,  0xC8,  0xC9,  0xCA,  0xCC,  0xCD,  0xD2,  0xD3,
      0xD4,  0xD5,  0xD9,  0xDA,  0xDD,  0xE0,  0xE1,  0xE2,  0xE3,  0xE8,  0xE9,
      0xEA,  0xEC,  0xED,  0xF2,  0xF3,  0xF4,  0xF5,  0xF9,  0xFA,  0xFD,  0x102,
      0x103, 0x110, 0x111, 0x128, 0x129, 0x168, 0x169, 0x1A0, 0x1A1, 0x1AF, 0x1B0};
  return std::binary_search(std::begin(kLetters), std::end(kLetters), c);
}

}  // namespace

bool is_vietnamese_line(std::string_view line) {
  int words = 0, marked = 0;
  bool in_word = false, word_marked = false, word_letter = false;
  const auto end_word = [&] {
    if (in_word && word_letter) {
      words++;
      marked += word_marked;
    }
    in_word = word_marked = word_letter = false;
  };
  for (size_t i = 0; i < line.size();) {
    const char32_t c = next_code_point(line, i);
    if (c == ' ' || c == '\t') {
      end_word();
      continue;
    }
    in_word = true;
    word_letter |= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0xC0;
    word_marked |= vietnamese_letter(c);
  }
  end_word();
  return marked > 0 && marked * 5 >= words;
}

}  // namespace aero
