// Corpus BLEU exactly as sacreBLEU 2.x computes it (metrics/bleu.py, tokenizers/tokenizer_13a.py
// and tokenizer_re.py): the same tokenization on code points, n-gram clipping against the
// largest count in any reference, the closest reference length, and compute_bleu's smoothing.
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "core/error.h"
#include "data/metrics.h"
#include "tokenizer/utf8.h"

namespace aero {

const EnumNames<BleuSmooth>& bleu_smooth_names() {
  static const EnumNames<BleuSmooth> n{{BleuSmooth::none, "none"},
                                       {BleuSmooth::floor, "floor"},
                                       {BleuSmooth::add_k, "add-k"},
                                       {BleuSmooth::exp, "exp"}};
  return n;
}

const EnumNames<BleuTokenize>& bleu_tokenize_names() {
  static const EnumNames<BleuTokenize> n{{BleuTokenize::none, "none"}, {BleuTokenize::t13a, "13a"}};
  return n;
}

namespace {

constexpr int kOrder = 4;  // sacreBLEU's max_ngram_order

// Code points of UTF-8 text; an invalid byte becomes U+FFFD.
std::u32string to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  int32_t i = 0;
  const int32_t n = int32_t(s.size());
  while (i < n) {
    UChar32 c;
    U8_NEXT(s.data(), i, n, c);
    out.push_back(c < 0 ? U'\uFFFD' : char32_t(c));
  }
  return out;
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

// Python's str.isspace(): what str.split() and str.rstrip() without arguments treat as space.
bool py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// str.split(): runs of whitespace separate, none at either end.
std::vector<std::u32string> py_split(std::u32string_view s) {
  std::vector<std::u32string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && py_space(s[i])) i++;
    size_t j = i;
    while (j < s.size() && !py_space(s[j])) j++;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

void replace_all(std::u32string& s, std::u32string_view from, std::u32string_view to) {
  std::u32string out;
  size_t i = 0;
  for (size_t k; (k = s.find(from, i)) != std::u32string::npos; i = k + from.size())
    out.append(s, i, k - i).append(to);
  out.append(s, i);
  s.swap(out);
}

bool digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool dot_comma(char32_t c) { return c == U'.' || c == U','; }

// re.sub of a two-character pattern (a)(b): leftmost matches, not overlapping, each replaced
// by `before` a `middle` b `after` (spaces).
template <typename A, typename B>
std::u32string sub2(const std::u32string& s, A a, B b, const char32_t* before,
                    const char32_t* middle, const char32_t* after) {
  std::u32string out;
  out.reserve(s.size() + s.size() / 4);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && a(s[i]) && b(s[i + 1])) {
      out.append(before).push_back(s[i]);
      out.append(middle).push_back(s[i + 1]);
      out.append(after);
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// The class [\{-\~\[-\` -\&\(-\+\:-\@\/] of TokenizerRegexp: ASCII punctuation but ' - . ,
bool punct_13a(char32_t c) {
  return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
         (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == 0x2F;
}

std::vector<std::u32string> tokens_13a(std::u32string line) {
  replace_all(line, U"<skipped>", U"");
  replace_all(line, U"-\n", U"");
  replace_all(line, U"\n", U" ");
  replace_all(line, U"&quot;", U"\"");
  replace_all(line, U"&amp;", U"&");
  replace_all(line, U"&lt;", U"<");
  replace_all(line, U"&gt;", U">");
  std::u32string s = U" " + line + U" ";
  std::u32string t;
  t.reserve(s.size() * 2);
  for (char32_t c : s) {
    if (punct_13a(c)) {
      t.push_back(U' ');
      t.push_back(c);
      t.push_back(U' ');
    } else {
      t.push_back(c);
    }
  }
  // Period and comma split unless preceded by a digit, then unless followed by one; a dash
  // after a digit.
  t = sub2(
      t, [](char32_t c) { return !digit(c); }, dot_comma, U"", U" ", U" ");
  t = sub2(
      t, dot_comma, [](char32_t c) { return !digit(c); }, U" ", U" ", U"");
  t = sub2(
      t, digit, [](char32_t c) { return c == U'-'; }, U"", U" ", U" ");
  return py_split(t);
}

// ICU's full lowercase mapping (Python's str.lower(), final sigma included).
std::u32string lower(const std::u32string& s) {
  const std::string u8 = to_utf8(s);
  std::u16string u16(u8.size() + 1, u'\0');
  UErrorCode err = U_ZERO_ERROR;
  int32_t n16 = 0;
  u_strFromUTF8(reinterpret_cast<UChar*>(u16.data()), int32_t(u16.size()), &n16, u8.data(),
                int32_t(u8.size()), &err);
  AERO_CHECK(U_SUCCESS(err), "[bleu] UTF-16 conversion failed: ", u_errorName(err));
  u16.resize(size_t(n16));
  std::u16string low(u16.size() * 3 + 1, u'\0');
  err = U_ZERO_ERROR;
  const int32_t nl =
      u_strToLower(reinterpret_cast<UChar*>(low.data()), int32_t(low.size()),
                   reinterpret_cast<const UChar*>(u16.data()), int32_t(u16.size()), "", &err);
  AERO_CHECK(U_SUCCESS(err), "[bleu] lowercasing failed: ", u_errorName(err));
  std::u32string out;
  int32_t i = 0;
  while (i < nl) {
    UChar32 c;
    U16_NEXT(low.data(), i, nl, c);
    out.push_back(char32_t(c));
  }
  return out;
}

// A segment as sacreBLEU's BLEU._preprocess_segment sees it, as ids of interned tokens.
class Tokens {
 public:
  explicit Tokens(const BleuOptions& o) : o_(o) {}
  std::vector<int32_t> operator()(std::string_view text) {
    std::u32string s = to_u32(text);
    while (!s.empty() && py_space(s.back())) s.pop_back();  // rstrip()
    if (o_.lowercase) s = lower(s);
    const std::vector<std::u32string> toks =
        o_.tokenize == BleuTokenize::t13a ? tokens_13a(std::move(s)) : py_split(s);
    std::vector<int32_t> ids;
    ids.reserve(toks.size());
    for (const auto& t : toks)
      ids.push_back(vocab_.try_emplace(t, int32_t(vocab_.size())).first->second);
    return ids;
  }

 private:
  BleuOptions o_;
  std::unordered_map<std::u32string, int32_t> vocab_;
};

// n-grams of orders 1..4 -> count; the key is the ids' bytes (its length gives the order).
using Ngrams = std::unordered_map<std::string, int64_t>;
Ngrams ngrams(const std::vector<int32_t>& ids) {
  Ngrams m;
  for (int n = 1; n <= kOrder; n++)
    for (size_t i = 0; i + size_t(n) <= ids.size(); i++)
      m[std::string(reinterpret_cast<const char*>(ids.data() + i), size_t(n) * sizeof(int32_t))]++;
  return m;
}

// BLEU._get_closest_ref_len: the nearest length, the shorter one on a tie.
int64_t closest_ref_len(int64_t hyp_len, const std::vector<int64_t>& lens) {
  int64_t best_diff = -1, best = -1;
  for (int64_t r : lens) {
    const int64_t d = std::llabs(hyp_len - r);
    if (best_diff == -1 || d < best_diff) {
      best_diff = d;
      best = r;
    } else if (d == best_diff && r < best) {
      best = r;
    }
  }
  return best;
}

double my_log(double x) { return x == 0 ? -9999999999.0 : std::log(x); }

}  // namespace

std::string tokenize_13a(std::string_view line) {
  std::string out;
  for (const auto& t : tokens_13a(to_u32(line))) {
    if (!out.empty()) out.push_back(' ');
    out += to_utf8(t);
  }
  return out;
}

BleuScore bleu_from_stats(const BleuStats& s, const BleuOptions& opt) {
  BleuScore r;
  r.stats = s;
  r.opt = opt;
  double smooth_value = opt.smooth_value;
  if (smooth_value < 0) smooth_value = opt.smooth == BleuSmooth::floor ? 0.1 : 1.0;
  r.bp = s.sys_len < s.ref_len
             ? (s.sys_len > 0 ? std::exp(1.0 - double(s.ref_len) / double(s.sys_len)) : 0.0)
             : 1.0;
  r.ratio = s.ref_len > 0 ? double(s.sys_len) / double(s.ref_len) : 0.0;
  bool any = false;
  for (int n = 0; n < kOrder; n++) any = any || s.correct[n] != 0;
  if (!any) return r;  // sacreBLEU #141: no match at all scores 0 with zero precisions
  double correct[kOrder], total[kOrder];
  for (int n = 0; n < kOrder; n++) correct[n] = double(s.correct[n]), total[n] = double(s.total[n]);
  double smooth_mteval = 1.0;
  int eff_order = kOrder;
  for (int n = 1; n <= kOrder; n++) {
    if (opt.smooth == BleuSmooth::add_k && n > 1) {
      correct[n - 1] += smooth_value;
      total[n - 1] += smooth_value;
    }
    if (total[n - 1] == 0) break;
    if (opt.effective_order) eff_order = n;
    if (correct[n - 1] == 0) {
      if (opt.smooth == BleuSmooth::exp) {
        smooth_mteval *= 2;
        r.precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
      } else if (opt.smooth == BleuSmooth::floor) {
        r.precisions[n - 1] = 100.0 * smooth_value / total[n - 1];
      }
    } else {
      r.precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
    }
  }
  double sum = 0;
  for (int n = 0; n < eff_order; n++) sum += my_log(r.precisions[n]);
  r.score = r.bp * std::exp(sum / eff_order);
  return r;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, const BleuOptions& opt) {
  AERO_CHECK(!hyps.empty(), "[bleu] no hypotheses: BLEU of an empty corpus is undefined");
  AERO_CHECK(!refs.empty(), "[bleu] no references");
  for (size_t k = 0; k < refs.size(); k++)
    AERO_CHECK(refs[k].size() == hyps.size(), "[bleu] reference stream ", k + 1, " has ",
               refs[k].size(), " lines for ", hyps.size(), " hypotheses");
  Tokens tok(opt);
  BleuStats st;
  for (size_t i = 0; i < hyps.size(); i++) {
    Ngrams ref_max;
    std::vector<int64_t> ref_lens;
    for (const auto& stream : refs) {
      const std::vector<int32_t> ids = tok(stream[i]);
      ref_lens.push_back(int64_t(ids.size()));
      for (auto& [g, c] : ngrams(ids)) {
        int64_t& m = ref_max[g];
        m = std::max(m, c);
      }
    }
    const std::vector<int32_t> h = tok(hyps[i]);
    st.sys_len += int64_t(h.size());
    st.ref_len += closest_ref_len(int64_t(h.size()), ref_lens);
    for (auto& [g, c] : ngrams(h)) {
      const size_t n = g.size() / sizeof(int32_t) - 1;
      st.total[n] += c;
      const auto it = ref_max.find(g);
      if (it != ref_max.end()) st.correct[n] += std::min(c, it->second);
    }
  }
  BleuScore r = bleu_from_stats(st, opt);
  r.n_refs = int(refs.size());
  return r;
}

std::string BleuScore::format() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = "
                "%lld)",
                score, precisions[0], precisions[1], precisions[2], precisions[3], bp, ratio,
                static_cast<long long>(stats.sys_len), static_cast<long long>(stats.ref_len));
  return buf;
}

std::string BleuScore::signature() const {
  std::string s = "nrefs:" + std::to_string(n_refs) + "|case:" + (opt.lowercase ? "lc" : "mixed") +
                  "|eff:" + (opt.effective_order ? "yes" : "no") +
                  "|tok:" + bleu_tokenize_names().name(opt.tokenize) +
                  "|smooth:" + bleu_smooth_names().name(opt.smooth);
  if (opt.smooth_value >= 0 &&
      (opt.smooth == BleuSmooth::floor || opt.smooth == BleuSmooth::add_k)) {
    char v[32];
    std::snprintf(v, sizeof v, "[%.2f]", opt.smooth_value);
    s += v;
  }
  return s + "|version:aero";
}

}  // namespace aero
