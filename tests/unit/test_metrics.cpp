// BLEU and ROUGE against the published test values of the tools they reproduce:
//   sacreBLEU 2.x, test/test_bleu.py and test/test_sentence_bleu.py (github.com/mjpost/sacrebleu);
//   rouge-score, rouge_scorer_test.py, tokenize_test.py and testdata/{target,prediction}.txt
//   (github.com/google-research/google-research, rouge/).
// Plus the edge cases a user meets: empty hypotheses, no match, one-word lines, empty corpus.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "data/metrics.h"

using namespace aero;

namespace {

void expect_error(const std::function<void()>& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// sacreBLEU's README example (test_bleu.py: _hyps, _refs): two reference streams.
const std::vector<std::string> kHyps = {"The dog bit the man.", "It wasn't surprising.",
                                        "The man had just bitten him."};
const std::vector<std::vector<std::string>> kRefs = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};

// sacreBLEU's raw_corpus_bleu: floor smoothing, no tokenization, effective order.
BleuOptions raw(double floor_value) {
  BleuOptions o;
  o.smooth = BleuSmooth::floor;
  o.smooth_value = floor_value;
  o.tokenize = BleuTokenize::none;
  o.effective_order = true;
  return o;
}

}  // namespace

TEST(metrics, bleu_matches_sacrebleu_corpus_cases) {
  // test_corpus_bleu_cases: default settings, tokenize none / 13a, smooth none.
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs).score, 48.530827, 1e-6);
  BleuOptions none_tok;
  none_tok.tokenize = BleuTokenize::none;
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, none_tok).score, 49.1919566, 1e-6);
  BleuOptions no_smooth;
  no_smooth.smooth = BleuSmooth::none;
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, no_smooth).score, 48.530827, 1e-6);
  // Empty hypotheses are kept (and score 0).
  const BleuScore empty = corpus_bleu({"", "", ""}, kRefs);
  EXPECT_EQ(empty.score, 0.0);
  EXPECT_EQ(empty.stats.sys_len, 0);
  EXPECT_GT(empty.stats.ref_len, 0);
  EXPECT_EQ(empty.bp, 0.0);
}

TEST(metrics, bleu_matches_sacrebleu_raw_and_effective_order_cases) {
  // test_raw_bleu_cases (no match scores 0 since sacreBLEU #141).
  EXPECT_EQ(corpus_bleu({"this is a test", "another test"}, {{"ref1", "ref2"}}, raw(.01)).score,
            0.0);
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {{"this is a test"}}, raw(.01)).score / 100, 1.0,
              1e-8);
  EXPECT_NEAR(corpus_bleu({"this is a fest"}, {{"this is a test"}}, raw(.01)).score / 100,
              0.223606797749979, 1e-8);
  // test_case_effective_order.
  EXPECT_NEAR(corpus_bleu({"test"}, {{"a test"}}, raw(.01)).score / 100, 0.3678794411714425, 1e-8);
  EXPECT_NEAR(corpus_bleu({"a test"}, {{"a test"}}, raw(.01)).score / 100, 1.0, 1e-8);
  EXPECT_NEAR(corpus_bleu({"a little test"}, {{"a test"}}, raw(.01)).score / 100,
              0.03218297948685433, 1e-8);
}

TEST(metrics, bleu_statistics_offset_and_scoring_match_sacrebleu) {
  // test_case_statistics and test_case_offset.
  const std::vector<std::string> h = {"am I am a character sequence"};
  const std::vector<std::vector<std::string>> r = {{"I am a symbol string sequence a a"}};
  const BleuScore s = corpus_bleu(h, r, raw(.01));
  const int64_t correct[4] = {4, 2, 1, 0}, total[4] = {6, 5, 4, 3};
  for (int n = 0; n < 4; n++) {
    EXPECT_EQ(s.stats.correct[n], correct[n]) << n;
    EXPECT_EQ(s.stats.total[n], total[n]) << n;
  }
  EXPECT_EQ(corpus_bleu(h, r, raw(0.0)).score, 0.0);
  EXPECT_NEAR(corpus_bleu(h, r, raw(-1)).score / 100, 0.1555722182, 1e-8);  // default 0.1
  // test_case_scoring: compute_bleu's default smoothing is none.
  BleuStats st;
  const int64_t c2[4] = {9, 7, 5, 3}, t2[4] = {10, 8, 6, 4};
  for (int n = 0; n < 4; n++) st.correct[n] = c2[n], st.total[n] = t2[n];
  st.sys_len = st.ref_len = 11;
  BleuOptions none;
  none.smooth = BleuSmooth::none;
  EXPECT_NEAR(bleu_from_stats(st, none).score / 100, 0.8375922397, 1e-8);
}

TEST(metrics, bleu_degenerate_statistics_score_zero_as_sacrebleu) {
  // test_case_degenerate_stats: (correct, total, sys_len, ref_len, floor value) -> exactly 0.
  struct Case {
    int64_t c[4], t[4], sys, ref;
    double floor;
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, {4, 4, 2, 1}, 0, 1, 0.0}, {{0, 0, 0, 0}, {10, 11, 12, 0}, 14, 10, 0.0},
      {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.0}, {{6, 5, 4, 0}, {6, 5, 4, 3}, 6, 6, 0.0},
      {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.1}, {{0, 0, 0, 0}, {0, 0, 0, 0}, 1, 5, 0.01}};
  for (const Case& k : cases) {
    BleuStats st;
    for (int n = 0; n < 4; n++) st.correct[n] = k.c[n], st.total[n] = k.t[n];
    st.sys_len = k.sys, st.ref_len = k.ref;
    BleuOptions o;
    o.smooth = BleuSmooth::floor;
    o.smooth_value = k.floor;
    EXPECT_EQ(bleu_from_stats(st, o).score, 0.0);
  }
}

TEST(metrics, sentence_bleu_smoothing_matches_sacrebleu) {
  // test_sentence_bleu.py (sacreBLEU #98): effective order, 13a, published to 1e-3.
  const std::string ref = "producţia de zahăr brut se exprimă în zahăr alb;";
  const std::string sys =
      "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
  struct Case {
    BleuSmooth smooth;
    double value;
    BleuTokenize tok;
    double expected;
  };
  const Case cases[] = {{BleuSmooth::exp, -1, BleuTokenize::t13a, 8.493},
                        {BleuSmooth::none, -1, BleuTokenize::t13a, 0.0},
                        {BleuSmooth::floor, -1, BleuTokenize::t13a, 4.51688},
                        {BleuSmooth::floor, 0.1, BleuTokenize::t13a, 4.51688},
                        {BleuSmooth::floor, 0.5, BleuTokenize::t13a, 10.10},
                        {BleuSmooth::add_k, -1, BleuTokenize::t13a, 14.882},
                        {BleuSmooth::add_k, 1, BleuTokenize::t13a, 14.882},
                        {BleuSmooth::add_k, 2, BleuTokenize::t13a, 21.389},
                        {BleuSmooth::exp, -1, BleuTokenize::none, 7.347}};
  for (const Case& k : cases) {
    BleuOptions o;
    o.smooth = k.smooth;
    o.smooth_value = k.value;
    o.tokenize = k.tok;
    o.effective_order = true;
    EXPECT_NEAR(corpus_bleu({sys}, {{ref}}, o).score, k.expected, 1e-3)
        << bleu_smooth_names().name(k.smooth) << " " << k.value;
  }
  // test_cases_zero_bleu (#141): nothing matches, 0 whatever the smoothing.
  for (BleuSmooth m : {BleuSmooth::exp, BleuSmooth::none, BleuSmooth::floor, BleuSmooth::add_k}) {
    BleuOptions o;
    o.smooth = m;
    o.effective_order = true;
    EXPECT_EQ(corpus_bleu({"this is a cat"}, {{"okay thanks"}}, o).score, 0.0);
  }
}

TEST(metrics, tokenize_13a_splits_ascii_punctuation_only) {
  EXPECT_EQ(tokenize_13a("Hello, &quot;World!<skipped>"), "Hello , \" World !");
  EXPECT_EQ(tokenize_13a("/usr/sbin/sendmail - 0 errors, 12 warnings"),
            "/ usr / sbin / sendmail - 0 errors , 12 warnings");
  // Numbers keep their point and comma; a dash splits after a digit only; U.S.A. splits.
  EXPECT_EQ(tokenize_13a("pi is 3.14, not 1,000 (e-mail 5-3) U.S.A."),
            "pi is 3.14 , not 1,000 ( e-mail 5 - 3 ) U . S . A .");
  EXPECT_EQ(tokenize_13a("AT&amp;T &lt;b&gt; it's"), "AT & T < b > it's");
  // Code points, not bytes: Vietnamese letters stay whole, the period after one splits.
  EXPECT_EQ(tokenize_13a("Xin chào, thế giới.Ồ"), "Xin chào , thế giới . Ồ");
  // Python's str.split(): NBSP and ideographic space separate; a line break joins.
  EXPECT_EQ(tokenize_13a("a\xC2\xA0"
                         "b\xE3\x80\x80"
                         "c  d\ne"),
            "a b c d e");
  EXPECT_EQ(tokenize_13a("hyph-\nenated"), "hyphenated");
  EXPECT_EQ(tokenize_13a(""), "");
}

TEST(metrics, bleu_format_and_signature_as_sacrebleu_prints_them) {
  const BleuScore s = corpus_bleu(kHyps, kRefs);
  EXPECT_EQ(s.signature(), "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:aero");
  EXPECT_EQ(s.format().rfind("BLEU = 48.53 ", 0), 0u) << s.format();
  EXPECT_NE(s.format().find("(BP = "), std::string::npos);
  EXPECT_NEAR(s.ratio, double(s.stats.sys_len) / double(s.stats.ref_len), 1e-12);
}

TEST(metrics, bleu_edge_cases) {
  // One-word lines: no 2-grams, so corpus BLEU (without effective order) is 0 as in sacreBLEU;
  // with effective order a perfect match is 100.
  EXPECT_EQ(corpus_bleu({"hello", "world"}, {{"hello", "world"}}).score, 0.0);
  BleuOptions eff;
  eff.effective_order = true;
  EXPECT_NEAR(corpus_bleu({"hello", "world"}, {{"hello", "world"}}, eff).score, 100.0, 1e-9);
  // Identical multi-word corpus: 100, BP 1.
  const BleuScore same = corpus_bleu({"a b c d e", "x y z w"}, {{"a b c d e", "x y z w"}});
  EXPECT_NEAR(same.score, 100.0, 1e-9);
  EXPECT_EQ(same.bp, 1.0);
  // No match at all: 0 and zero precisions.
  const BleuScore none = corpus_bleu({"p q r s t"}, {{"a b c d e"}});
  EXPECT_EQ(none.score, 0.0);
  EXPECT_EQ(none.precisions[0], 0.0);
  // Case-sensitive by default; lowercase on request.
  EXPECT_LT(corpus_bleu({"THE DOG BIT THE MAN"}, {{"the dog bit the man"}}).score, 1.0);
  BleuOptions lc;
  lc.lowercase = true;
  EXPECT_NEAR(corpus_bleu({"THE DOG BIT THE MAN"}, {{"the dog bit the man"}}, lc).score, 100.0,
              1e-9);
  expect_error([] { corpus_bleu({}, {{}}); }, "empty corpus");
  expect_error([] { corpus_bleu({"a", "b"}, {{"a"}}); }, "1 lines for 2 hypotheses");
}

TEST(metrics, rouge_matches_rouge_score_cases) {
  // rouge_scorer_test.py: score(target, prediction).
  const RougeTokenize a = RougeTokenize::ascii;
  RougeLine r = rouge_line("testing one two", "testing", a);
  EXPECT_NEAR(r.rouge1.precision, 1.0, 1e-12);
  EXPECT_NEAR(r.rouge1.recall, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.rouge1.f, 0.5, 1e-12);
  r = rouge_line("testing one two", "testing one", a);
  EXPECT_NEAR(r.rouge2.precision, 1.0, 1e-12);
  EXPECT_NEAR(r.rouge2.recall, 0.5, 1e-12);
  EXPECT_NEAR(r.rouge2.f, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.rougeL.precision, 1.0, 1e-12);  // testRougeLConsecutive
  EXPECT_NEAR(r.rougeL.recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.rougeL.f, 0.8, 1e-12);
  r = rouge_line("testing one two", "testing two", a);  // testRougeLNonConsecutive
  EXPECT_NEAR(r.rougeL.precision, 1.0, 1e-12);
  EXPECT_NEAR(r.rougeL.recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.rougeL.f, 0.8, 1e-12);
  r = rouge_line("testing one two", "", a);  // testRougeEmpty
  for (const Prf& p : {r.rouge1, r.rouge2, r.rougeL}) {
    EXPECT_EQ(p.precision, 0.0);
    EXPECT_EQ(p.recall, 0.0);
    EXPECT_EQ(p.f, 0.0);
  }
  // tokenize_test.py.
  const std::vector<std::string> want = {"one", "two", "three"};
  EXPECT_EQ(rouge_tokens("one Two three", a), want);
  EXPECT_EQ(rouge_tokens("one\n Two \nthree", a), want);
}

TEST(metrics, rouge_matches_rouge_155_values_published_by_rouge_score) {
  // rouge/testdata/target.txt and prediction.txt, lines 0 and 1 (with their newline, as
  // readlines() gives them), and the ROUGE-1.5.5 values testRouge{1,2,L}AgainstRouge155 checks
  // to 5 places.
  const std::string t0 =
      "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM "
      "EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n";
  const std::string t1 =
      "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao "
      "Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing "
      "UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion "
      "SN\n";
  const std::string p0 =
      "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n";
  const std::string p1 =
      "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed "
      "HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n";
  const double tol = 6e-6;  // the values are rounded to 5 places
  RougeLine r = rouge_line(t0, p0, RougeTokenize::ascii);
  EXPECT_NEAR(r.rouge1.recall, 0.40741, tol);
  EXPECT_NEAR(r.rouge1.precision, 0.68750, tol);
  EXPECT_NEAR(r.rouge1.f, 0.51163, tol);
  EXPECT_NEAR(r.rouge2.recall, 0.30769, tol);
  EXPECT_NEAR(r.rouge2.precision, 0.53333, tol);
  EXPECT_NEAR(r.rouge2.f, 0.39024, tol);
  EXPECT_NEAR(r.rougeL.recall, 0.40741, tol);
  EXPECT_NEAR(r.rougeL.precision, 0.68750, tol);
  EXPECT_NEAR(r.rougeL.f, 0.51163, tol);
  r = rouge_line(t1, p1, RougeTokenize::ascii);
  EXPECT_NEAR(r.rouge1.recall, 0.40476, tol);
  EXPECT_NEAR(r.rouge1.precision, 0.65385, tol);
  EXPECT_NEAR(r.rouge1.f, 0.50000, tol);
  EXPECT_NEAR(r.rouge2.recall, 0.29268, tol);
  EXPECT_NEAR(r.rouge2.precision, 0.48000, tol);
  EXPECT_NEAR(r.rouge2.f, 0.36364, tol);
  EXPECT_NEAR(r.rougeL.recall, 0.40476, tol);
  EXPECT_NEAR(r.rougeL.precision, 0.65385, tol);
  EXPECT_NEAR(r.rougeL.f, 0.50000, tol);
  // The corpus value is the mean of the per-line values.
  const RougeScores c = corpus_rouge({p0, p1}, {t0, t1}, RougeTokenize::ascii);
  EXPECT_NEAR(c.rouge1.f, (0.51163 + 0.5) / 2, tol);
  EXPECT_NEAR(c.rouge2.f, (0.39024 + 0.36364) / 2, tol);
  EXPECT_EQ(c.lines, 2);
}

TEST(metrics, rouge_unicode_tokenizer_keeps_vietnamese_words) {
  using V = std::vector<std::string>;
  // ASCII (rouge-score): every diacritic splits, so "cảm ơn" reads as "c m n".
  EXPECT_EQ(rouge_tokens("Cảm ơn BẠN!", RougeTokenize::ascii), (V{"c", "m", "n", "b", "n"}));
  EXPECT_EQ(rouge_tokens("Cảm ơn BẠN nhiều!", RougeTokenize::unicode),
            (V{"cảm", "ơn", "bạn", "nhiều"}));
  // Decomposed input (e + combining dot below + circumflex) folds to the same NFC token.
  EXPECT_EQ(rouge_tokens("Vi\x65\xCC\xA3\xCC\x82t-Nam 2024", RougeTokenize::unicode),
            (V{"việt", "nam", "2024"}));
  // Case folding beyond ASCII; Python's lower() quirks in the ASCII mode.
  EXPECT_EQ(rouge_tokens("ĐÀ NẴNG Straße", RougeTokenize::unicode), (V{"đà", "nẵng", "strasse"}));
  EXPECT_EQ(rouge_tokens("\xC4\xB0stanbul \xE2\x84\xAAm", RougeTokenize::ascii),
            (V{"i", "stanbul", "km"}));
  // "cám ơn" vs "cảm ơn": different words, which only the Unicode mode sees.
  EXPECT_NEAR(rouge_line("cám ơn bạn", "cảm ơn bạn", RougeTokenize::ascii).rouge1.f, 1.0, 1e-12);
  EXPECT_NEAR(rouge_line("cám ơn bạn", "cảm ơn bạn", RougeTokenize::unicode).rouge1.f, 2.0 / 3,
              1e-12);
}

TEST(metrics, rouge_edge_cases) {
  for (RougeTokenize m : {RougeTokenize::ascii, RougeTokenize::unicode}) {
    // One-word lines: ROUGE-2 has no bigram to match (0), ROUGE-1 and L are 1.
    const RougeLine one = rouge_line("hello", "hello", m);
    EXPECT_EQ(one.rouge1.f, 1.0);
    EXPECT_EQ(one.rouge2.f, 0.0);
    EXPECT_EQ(one.rougeL.f, 1.0);
    // No match; a prediction of punctuation only.
    EXPECT_EQ(rouge_line("a b c", "x y z", m).rougeL.f, 0.0);
    EXPECT_EQ(rouge_line("w1 w2 w3", "/", m).rouge1.f, 0.0);
    const RougeScores s = corpus_rouge({"", "a b"}, {"a b", "a b"}, m);
    EXPECT_NEAR(s.rouge1.f, 0.5, 1e-12);
    EXPECT_NEAR(s.rouge2.f, 0.5, 1e-12);
  }
  expect_error([] { corpus_rouge({}, {}, RougeTokenize::unicode); }, "empty corpus");
  expect_error(
      [] {
        corpus_rouge({"a"}, {"a", "b"}, RougeTokenize::unicode);
      },
      "2 references for 1 hypotheses");
}
