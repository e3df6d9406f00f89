// Text-generation metrics: corpus BLEU as sacreBLEU computes it and ROUGE-1/2/L as Google's
// rouge-score does, plus a Unicode-aware ROUGE tokenizer for Vietnamese (docs/metrics.md).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace aero {

// ---- BLEU (sacreBLEU 2.x, `sacrebleu.metrics.BLEU` with its defaults) ----

// sacreBLEU's smoothing methods; exp is its default ("smooth:exp").
enum class BleuSmooth : uint8_t { none, floor, add_k, exp };
const EnumNames<BleuSmooth>& bleu_smooth_names();

enum class BleuTokenize : uint8_t { none, t13a };  // "tok:none", "tok:13a" (the default)
const EnumNames<BleuTokenize>& bleu_tokenize_names();

struct BleuOptions {
  BleuTokenize tokenize = BleuTokenize::t13a;
  BleuSmooth smooth = BleuSmooth::exp;
  double smooth_value = -1;      // < 0: sacreBLEU's default (floor 0.1, add-k 1)
  bool lowercase = false;        // "case:mixed" by default (case-sensitive)
  bool effective_order = false;  // "eff:no"; sentence-level BLEU uses yes
};

// Matched and total n-grams of orders 1..4 and the lengths: what a corpus score is made of.
struct BleuStats {
  int64_t correct[4] = {0, 0, 0, 0};
  int64_t total[4] = {0, 0, 0, 0};
  int64_t sys_len = 0, ref_len = 0;
};

struct BleuScore {
  double score = 0;                     // 0..100
  double precisions[4] = {0, 0, 0, 0};  // 0..100, smoothed as the score uses them
  double bp = 0;                        // brevity penalty
  double ratio = 0;                     // sys_len / ref_len
  BleuStats stats;
  int n_refs = 1;
  BleuOptions opt;
  // "BLEU = 48.53 82.4/50.0/... (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)", as
  // sacreBLEU prints it.
  std::string format() const;
  // "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:aero" (sacreBLEU's signature keys).
  std::string signature() const;
};

// mteval-v13a tokenization as sacreBLEU's Tokenizer13a: "Hello, &quot;World!" ->
// "Hello , \" World !" (tokens joined by single spaces). Works on code points; only ASCII
// punctuation is split, so Vietnamese letters stay whole.
std::string tokenize_13a(std::string_view line);

// Corpus BLEU of hyps against refs[k][i], the k-th reference of hypothesis i (every reference
// stream as long as hyps). An empty corpus or a length mismatch is an aero::Error.
BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs,
                      const BleuOptions& opt = {});
// The score of given statistics (sacreBLEU's BLEU.compute_bleu).
BleuScore bleu_from_stats(const BleuStats& s, const BleuOptions& opt = {});

// ---- ROUGE (rouge-score's RougeScorer(["rouge1", "rouge2", "rougeL"])) ----

// ascii: rouge-score's tokenizer (lowercase, every run of characters outside [a-z0-9] splits,
// so "cảm ơn" -> "c m n"). unicode (the default): NFC, Unicode full case folding, and splits at
// characters that are not letters, marks or numbers, so diacritics stay in their words.
enum class RougeTokenize : uint8_t { ascii, unicode };
const EnumNames<RougeTokenize>& rouge_tokenize_names();

std::vector<std::string> rouge_tokens(std::string_view text, RougeTokenize mode);

struct Prf {
  double precision = 0, recall = 0, f = 0;
};
struct RougeLine {
  Prf rouge1, rouge2, rougeL;  // rougeL: sentence-level longest common subsequence
};
// One pair, as RougeScorer.score(target, prediction): the reference comes first.
RougeLine rouge_line(std::string_view target, std::string_view prediction, RougeTokenize mode);

struct RougeScores {
  Prf rouge1, rouge2, rougeL;  // the mean over lines of each per-line value
  int64_t lines = 0;
  RougeTokenize mode = RougeTokenize::unicode;
};
// Mean of per-line scores of hyps against refs (same length, not empty; else an aero::Error).
RougeScores corpus_rouge(const std::vector<std::string>& hyps, const std::vector<std::string>& refs,
                         RougeTokenize mode);

}  // namespace aero
