// ROUGE-1, ROUGE-2 and ROUGE-L as Google's rouge-score computes them (rouge_scorer.py,
// tokenize.py; stemming off, its default), over two tokenizers: rouge-score's own (ASCII) and a
// Unicode-aware one for Vietnamese.
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "data/metrics.h"
#include "tokenizer/utf8.h"

namespace aero {

const EnumNames<RougeTokenize>& rouge_tokenize_names() {
  static const EnumNames<RougeTokenize> n{{RougeTokenize::ascii, "ascii"},
                                          {RougeTokenize::unicode, "unicode"}};
  return n;
}

namespace {

// rouge-score: text.lower(), then every run of characters outside [a-z0-9] becomes a split.
// Python's lower() maps three non-ASCII characters to ASCII letters: U+0130 (İ -> "i" + a
// combining dot, which then splits) and U+212A (Kelvin sign -> "k").
std::vector<std::string> ascii_tokens(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  int32_t i = 0;
  const int32_t n = int32_t(s.size());
  while (i < n) {
    UChar32 c;
    U8_NEXT(s.data(), i, n, c);
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c == 0x130) {
      cur.push_back('i');
      flush();
    } else if (c == 0x212A) {
      cur.push_back('k');
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur.push_back(char(c));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// NFC, Unicode full case folding, NFC again (folding may decompose: "ẞ" -> "ss" is fine, "İ"
// -> "i̇"); tokens are runs of letters (L), marks (M) and numbers (N).
std::vector<std::string> unicode_tokens(std::string_view s) {
  std::string t(s);
  if (utf8_invalid_offset(t) != std::string_view::npos) {
    // Invalid bytes count as separators, as U+FFFD.
    std::string fixed;
    for (size_t i = 0; i < t.size();) {
      const size_t k = utf8_seq_len(t, i);
      if (k == 0) {
        fixed += ' ';
        i++;
      } else {
        fixed.append(t, i, k);
        i += k;
      }
    }
    t.swap(fixed);
  }
  utf8_nfc(t);
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(t);
  u.foldCase(U_FOLD_CASE_DEFAULT);
  t.clear();
  u.toUTF8String(t);
  utf8_nfc(t);
  std::vector<std::string> out;
  std::string cur;
  int32_t i = 0;
  const int32_t n = int32_t(t.size());
  while (i < n) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(t.data(), i, n, c);
    const bool word = c >= 0 && (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK));
    if (word) {
      cur.append(t, size_t(start), size_t(i - start));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

// _score_ngrams over _create_ngrams of order n.
Prf score_ngrams(const std::vector<int32_t>& target, const std::vector<int32_t>& pred, size_t n) {
  auto count = [n](const std::vector<int32_t>& ids) {
    std::unordered_map<std::string, int64_t> m;
    for (size_t i = 0; i + n <= ids.size(); i++)
      m[std::string(reinterpret_cast<const char*>(ids.data() + i), n * sizeof(int32_t))]++;
    return m;
  };
  const auto t = count(target), p = count(pred);
  int64_t inter = 0, nt = 0, np = 0;
  for (const auto& [g, c] : t) {
    nt += c;
    const auto it = p.find(g);
    if (it != p.end()) inter += std::min(c, it->second);
  }
  for (const auto& [g, c] : p) np += c;
  Prf r;
  r.precision = double(inter) / double(std::max<int64_t>(np, 1));
  r.recall = double(inter) / double(std::max<int64_t>(nt, 1));
  r.f = fmeasure(r.precision, r.recall);
  return r;
}

// _score_lcs: one row of the dynamic-programming table at a time.
Prf score_lcs(const std::vector<int32_t>& target, const std::vector<int32_t>& pred) {
  Prf r;
  if (target.empty() || pred.empty()) return r;
  std::vector<int32_t> prev(pred.size() + 1, 0), cur(pred.size() + 1, 0);
  for (size_t i = 1; i <= target.size(); i++) {
    for (size_t j = 1; j <= pred.size(); j++)
      cur[j] = target[i - 1] == pred[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  const double lcs = double(prev[pred.size()]);
  r.precision = lcs / double(pred.size());
  r.recall = lcs / double(target.size());
  r.f = fmeasure(r.precision, r.recall);
  return r;
}

}  // namespace

std::vector<std::string> rouge_tokens(std::string_view text, RougeTokenize mode) {
  return mode == RougeTokenize::ascii ? ascii_tokens(text) : unicode_tokens(text);
}

RougeLine rouge_line(std::string_view target, std::string_view prediction, RougeTokenize mode) {
  std::unordered_map<std::string, int32_t> vocab;
  auto ids = [&](std::string_view s) {
    std::vector<int32_t> v;
    for (auto& t : rouge_tokens(s, mode))
      v.push_back(vocab.try_emplace(std::move(t), int32_t(vocab.size())).first->second);
    return v;
  };
  const std::vector<int32_t> t = ids(target), p = ids(prediction);
  RougeLine r;
  r.rouge1 = score_ngrams(t, p, 1);
  r.rouge2 = score_ngrams(t, p, 2);
  r.rougeL = score_lcs(t, p);
  return r;
}

RougeScores corpus_rouge(const std::vector<std::string>& hyps, const std::vector<std::string>& refs,
                         RougeTokenize mode) {
  AERO_CHECK(!hyps.empty(), "[rouge] no hypotheses: ROUGE of an empty corpus is undefined");
  AERO_CHECK(hyps.size() == refs.size(), "[rouge] ", refs.size(), " references for ", hyps.size(),
             " hypotheses");
  RougeScores s;
  s.mode = mode;
  s.lines = int64_t(hyps.size());
  auto add = [](Prf& sum, const Prf& x) {
    sum.precision += x.precision;
    sum.recall += x.recall;
    sum.f += x.f;
  };
  for (size_t i = 0; i < hyps.size(); i++) {
    const RougeLine l = rouge_line(refs[i], hyps[i], mode);
    add(s.rouge1, l.rouge1);
    add(s.rouge2, l.rouge2);
    add(s.rougeL, l.rougeL);
  }
  for (Prf* p : {&s.rouge1, &s.rouge2, &s.rougeL}) {
    p->precision /= double(s.lines);
    p->recall /= double(s.lines);
    p->f /= double(s.lines);
  }
  return s;
}

}  // namespace aero
