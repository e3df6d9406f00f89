// The seq2seq Generator (infer/seq2seq_generator.h) on a small random T5: rows of different
// requests decoded together give what each request gets alone, greedy output equals
// greedy_seq2seq's, and sampling, stop strings, cancel and streaming behave as the Engine's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "infer/beam_search.h"
#include "infer/seq2seq.h"
#include "infer/seq2seq_generator.h"
#include "models/load.h"
#include "models/t5.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;

namespace {

struct TinyT5 {
  std::shared_ptr<const Tokenizer> tok = std::make_shared<CharTokenizer>(
      CharTokenizer::from_chars({U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'ệ', U' '}));
  std::shared_ptr<LoadedModel> lm = std::make_shared<LoadedModel>();

  explicit TinyT5(bool v10 = false, uint64_t seed = 3, int width = 16) {
    lm->cfg = ModelConfig("t5");
    T5Config& c = lm->cfg.as<T5Config>();
    c.vocab_size = tok->vocab_size();
    c.d_model = width;
    c.d_kv = width / 2;
    c.d_ff = 2 * width;
    c.num_layers = 2;
    c.num_decoder_layers = 2;
    c.num_heads = 2;
    c.relative_attention_num_buckets = 8;
    c.relative_attention_max_distance = 6;  // long answers reach the logarithmic buckets
    c.dropout_rate = 0.0f;
    c.eos_token_id = tok->eos_id();
    c.feed_forward_proj = v10 ? T5Ffn::relu : T5Ffn::gated_gelu;
    c.tie_word_embeddings = v10;
    c.initializer_factor = 2.0f;  // a peaked, varied distribution
    lm->store = std::make_unique<ParamStore>();
    lm->model = build_model(lm->cfg, *lm->store);
    lm->store->finalize(seed);
  }
  std::unique_ptr<Generator> gen(int max_batch = 8) {
    return make_seq2seq_generator(lm, tok, {.max_batch = max_batch});
  }
};

std::vector<int32_t> ids_of(const Tokenizer& tok, const std::string& s) {
  std::vector<int32_t> out;
  for (int id : tok.encode(s)) out.push_back(id);
  return out;
}

const std::vector<std::string> kPrompts = {"abcdefgh ab", "hệ", "cab da", "g"};

}  // namespace

// Requests of different lengths, added at different steps and decoded together, each give the
// tokens greedy_seq2seq gives the padded batch of all of them (encoder input: prompt + EOS).
TEST(seq2seq_generator, greedy_equals_greedy_seq2seq_across_joins) {
  for (bool v10 : {false, true}) {
    TinyT5 m(v10);
    const int max_new = 14;
    std::vector<std::vector<int32_t>> src;
    for (const std::string& p : kPrompts) {
      src.push_back(ids_of(*m.tok, p));
      src.back().push_back(int32_t(m.tok->eos_id()));
    }
    const int64_t B = int64_t(src.size());
    int64_t S = 0;
    for (const auto& s : src) S = std::max(S, int64_t(s.size()));
    Tensor ids = Tensor::empty({B, S}, DType::i32), mask = Tensor::empty({B, S}, DType::i32);
    for (int64_t b = 0; b < B; b++)
      for (int64_t j = 0; j < S; j++) {
        const bool tok = j < int64_t(src[size_t(b)].size());
        ids.i32()[b * S + j] = tok ? src[size_t(b)][size_t(j)] : 0;
        mask.i32()[b * S + j] = tok ? 1 : 0;
      }
    const Seq2SeqGreedy ref = greedy_seq2seq(*m.lm->model, ids, mask, max_new);

    auto gen = m.gen();
    std::vector<GenerateResult> got(static_cast<size_t>(B));
    auto add = [&](size_t i) {
      SeqRequest r;
      r.prompt = ids_of(*m.tok, kPrompts[i]);
      r.opts.max_new = max_new;
      r.opts.sampler.temperature = 0.0f;
      r.on_done = [&got, i](const GenerateResult& res, int) { got[i] = res; };
      gen->add(std::move(r));
    };
    add(0);
    gen->step();
    gen->step();
    add(1);
    add(2);
    EXPECT_EQ(gen->waiting(), 2);
    gen->step();
    EXPECT_EQ(gen->waiting(), 0);
    for (int k = 0; k < 3; k++) gen->step();
    add(3);
    while (gen->step() > 0) {
    }
    size_t longest = 0;
    for (size_t i = 0; i < size_t(B); i++) {
      std::vector<int32_t> want = ref.tokens[i];
      const bool eos = !want.empty() && want.back() == m.tok->eos_id();
      if (eos) want.pop_back();
      EXPECT_EQ(got[i].tokens, want) << "request " << i << " (v10 " << v10 << ")";
      EXPECT_EQ(got[i].finish, eos ? "eos" : "length") << "request " << i;
      EXPECT_EQ(got[i].text, m.tok->decode(std::vector<int>(want.begin(), want.end())));
      longest = std::max(longest, want.size());
    }
    EXPECT_GE(longest, 8u) << "the answers are too short to test the cache";
  }
}

namespace {

// The rows' batched step (T5Rows: no tape, stacked matrices, one-row attention) gives each row
// the logits its own single-row decoding (T5Decoding, the autograd ops) gives, whatever rows it
// shares a step with; a forked row goes on as its parent would. v10: relu FFN and the tied,
// rescaled head; else gated-GELU and an untied head (mT5).
void check_rows_match_single_row_decoding(bool v10) {
  SCOPED_TRACE(v10 ? "v1.0" : "mT5");
  TinyT5 m(v10);
  Model& model = *m.lm->model;
  auto rows = model.start_rows();
  ASSERT_NE(rows, nullptr);
  const std::vector<int32_t> a = {5, 6, 7, 8, 9, 3}, b = {10, 3};
  auto single = [&](const std::vector<int32_t>& src) {
    Tensor t = Tensor::empty({1, int64_t(src.size())}, DType::i32);
    std::copy(src.begin(), src.end(), t.i32());
    return model.start_decoding(t, {});
  };
  auto da = single(a), db = single(b);
  auto step1 = [](Seq2SeqDecoding& d, int32_t id) {
    Tensor t = Tensor::empty({1, 1}, DType::i32);
    t.i32()[0] = id;
    return d.step(t);
  };
  auto close = [](const float* x, const float* y, int64_t n) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
      worst = std::max(worst, double(std::fabs(x[i] - y[i])));
      scale = std::max(scale, double(std::fabs(y[i])));
    }
    return worst / scale;
  };
  const int64_t V = m.lm->cfg.vocab_size();
  const int ra = rows->add(a);
  Tensor la = rows->step(std::vector<int>{ra}, std::vector<int32_t>{0});
  EXPECT_LT(close(la.f32(), step1(*da, 0).f32(), V), 1e-5);
  const int rb = rows->add(b);
  const int32_t in_a[] = {4, 11, 12, 5}, in_b[] = {0, 7, 7, 9};
  int rc = -1;
  std::unique_ptr<Seq2SeqDecoding> dc;
  for (int k = 0; k < 4; k++) {
    std::vector<int> rs = {rb, ra};
    std::vector<int32_t> in = {in_b[k], in_a[k]};
    if (rc >= 0) {
      rs.push_back(rc);
      in.push_back(in_a[k]);
    }
    Tensor l = rows->step(rs, in);
    EXPECT_LT(close(l.f32(), step1(*db, in_b[k]).f32(), V), 1e-5) << "step " << k;
    Tensor wa = step1(*da, in_a[k]);
    EXPECT_LT(close(l.f32() + V, wa.f32(), V), 1e-5) << "step " << k;
    if (rc >= 0) {
      EXPECT_LT(close(l.f32() + 2 * V, wa.f32(), V), 1e-5) << "fork, step " << k;
    }
    if (k == 1) rc = rows->fork(ra);  // a beam: from here on fed what ra is fed
  }
  EXPECT_EQ(rows->length(ra), 5);
  EXPECT_EQ(rows->length(rc), 5);
  rows->remove(rb);
  EXPECT_EQ(rows->step(std::vector<int>{rc}, std::vector<int32_t>{3}).size(0), 1);
}

}  // namespace

TEST(seq2seq_generator, batched_rows_match_single_row_decoding) {
  check_rows_match_single_row_decoding(false);
  check_rows_match_single_row_decoding(true);
}

// Sampling is per request: a request samples the same text alone as batched with others;
// the stream is exactly the result; the seed matters.
TEST(seq2seq_generator, sampling_is_per_request_and_streams_the_result) {
  TinyT5 m;
  auto run = [&](std::vector<size_t> which, int max_batch) {
    auto gen = m.gen(max_batch);
    std::vector<GenerateResult> out(kPrompts.size());
    std::vector<std::string> streamed(kPrompts.size());
    for (size_t i : which) {
      SeqRequest r;
      r.prompt = ids_of(*m.tok, kPrompts[i]);
      r.opts.max_new = 20;
      r.opts.stop_at_eos = false;
      r.opts.sampler.temperature = 1.0f;
      r.opts.sampler.top_p = 0.9f;
      r.opts.sampler.seed = 100 + i;
      r.on_text = [&streamed, i](const std::string& t) {
        streamed[i] += t;
        return true;
      };
      r.on_done = [&out, i](const GenerateResult& res, int) { out[i] = res; };
      gen->add(std::move(r));
    }
    while (gen->step() > 0) {
    }
    for (size_t i : which) EXPECT_EQ(streamed[i], out[i].text);
    return out;
  };
  const auto together = run({0, 1, 2, 3}, 8);
  const auto two_at_a_time = run({0, 1, 2, 3}, 2);
  for (size_t i = 0; i < kPrompts.size(); i++) {
    const auto alone = run({i}, 1);
    EXPECT_EQ(alone[i].tokens, together[i].tokens) << i;
    EXPECT_EQ(two_at_a_time[i].tokens, together[i].tokens) << i;
    EXPECT_EQ(together[i].tokens.size(), 20u);
    EXPECT_EQ(together[i].finish, "length");
  }
  EXPECT_NE(together[0].tokens, together[1].tokens);
}

TEST(seq2seq_generator, stop_strings_cancel_and_bad_requests) {
  TinyT5 m;
  SeqRequest base;
  base.prompt = ids_of(*m.tok, "abc");
  base.opts.max_new = 24;
  base.opts.stop_at_eos = false;
  base.opts.sampler.temperature = 0.0f;
  const GenerateResult full = m.gen()->run(base);
  ASSERT_GE(full.text.size(), 6u);
  SeqRequest s = base;
  s.opts.stop = {full.text.substr(3, 2)};
  const GenerateResult stopped = m.gen()->run(s);
  EXPECT_EQ(stopped.finish, "stop");
  EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(s.opts.stop[0])));

  // on_text returning false cancels; cancel() ends a request, waiting or active.
  SeqRequest c = base;
  int calls = 0;
  c.on_text = [&calls](const std::string&) { return ++calls < 3; };
  EXPECT_EQ(m.gen()->run(c).finish, "cancelled");
  EXPECT_EQ(calls, 3);
  auto gen = m.gen(1);
  std::vector<std::string> finish(2);
  for (int i = 0; i < 2; i++) {
    SeqRequest r = base;
    r.on_done = [&finish, i](const GenerateResult& res, int) { finish[size_t(i)] = res.finish; };
    gen->add(std::move(r));
  }
  gen->step();
  gen->cancel(1);
  gen->cancel(2);  // still waiting (max_batch 1)
  while (gen->step() > 0) {
  }
  EXPECT_EQ(finish[0], "cancelled");
  EXPECT_EQ(finish[1], "cancelled");

  SeqRequest bad = base;
  bad.prompt = {int32_t(m.lm->cfg.vocab_size())};
  EXPECT_THROW(m.gen()->add(bad), Error);
  bad.prompt.clear();
  EXPECT_THROW(m.gen()->add(bad), Error);
  SeqRequest zero = base;
  zero.opts.max_new = 0;
  const GenerateResult z = m.gen()->run(zero);
  EXPECT_EQ(z.finish, "length");
  EXPECT_TRUE(z.tokens.empty());
}

// Beam searches of different requests share the generator's batched steps (their beams are
// rows of them) and each gives what beam_seq2seq gives it alone; a greedy request batched with
// them is unaffected.
TEST(seq2seq_generator, beam_search_equals_beam_seq2seq_across_joins) {
  TinyT5 m;
  const BeamOpts beams[] = {{.num_beams = 3},
                            {.num_beams = 4, .length_penalty = 2.0f, .early_stopping = true},
                            {.num_beams = 2, .length_penalty = 0.5f, .no_repeat_ngram_size = 2},
                            {.num_beams = 5, .no_repeat_ngram_size = 3}};
  const int max_new = 12;
  auto gen = m.gen();
  std::vector<GenerateResult> got(kPrompts.size() + 1);
  std::vector<std::string> streamed(kPrompts.size() + 1);
  auto add = [&](size_t i, BeamOpts b) {
    SeqRequest r;
    r.prompt = ids_of(*m.tok, kPrompts[i % kPrompts.size()]);
    r.opts.max_new = max_new;
    r.opts.sampler.temperature = 0.0f;
    r.opts.beam = b;
    r.on_text = [&streamed, i](const std::string& t) {
      streamed[i] += t;
      return true;
    };
    r.on_done = [&got, i](const GenerateResult& res, int) { got[i] = res; };
    gen->add(std::move(r));
  };
  add(0, beams[0]);
  add(4, {});  // greedy, beside the beams
  gen->step();
  add(1, beams[1]);
  gen->step();
  gen->step();
  add(2, beams[2]);
  add(3, beams[3]);
  while (gen->step() > 0) {
  }
  int by_eos = 0;
  for (size_t i = 0; i < 4; i++) {
    std::vector<int32_t> src = ids_of(*m.tok, kPrompts[i]);
    src.push_back(int32_t(m.tok->eos_id()));
    const BeamSearch::Answer want = beam_seq2seq(*m.lm->model, src, beams[i], max_new);
    EXPECT_EQ(got[i].tokens, want.tokens) << "request " << i;
    EXPECT_EQ(got[i].finish, want.eos ? "eos" : "length") << "request " << i;
    EXPECT_EQ(streamed[i], got[i].text);
    by_eos += want.eos;
  }
  EXPECT_GE(by_eos, 1);
  SeqRequest alone;
  alone.prompt = ids_of(*m.tok, kPrompts[0]);
  alone.opts.max_new = max_new;
  alone.opts.sampler.temperature = 0.0f;
  EXPECT_EQ(got[4].tokens, m.gen()->run(alone).tokens);
  // The n-gram block: no bigram of the decoder inputs twice.
  const std::vector<int32_t>& t = got[2].tokens;
  std::vector<int32_t> in = {0};
  in.insert(in.end(), t.begin(), t.end());
  for (size_t a = 0; a + 1 < in.size(); a++)
    for (size_t b = a + 1; b + 1 < in.size(); b++)
      EXPECT_FALSE(in[a] == in[b] && in[a + 1] == in[b + 1]) << "repeated bigram at " << b;
}

TEST(seq2seq_generator, ban_repeated_ngrams_as_hugging_face) {
  std::vector<float> l(6, 0.0f);
  // inputs 0 1 2 1: the bigram starting with 1 was (1, 2): 2 is banned
  ban_repeated_ngrams(l, std::vector<int32_t>{0, 1, 2, 1}, 2);
  EXPECT_TRUE(std::isinf(l[2]));
  EXPECT_EQ(std::count_if(l.begin(), l.end(), [](float x) { return std::isinf(x); }), 1);
  std::vector<float> k(6, 0.0f);
  ban_repeated_ngrams(k, std::vector<int32_t>{0, 1, 2, 3, 1, 2}, 3);  // (1, 2) -> 3
  EXPECT_TRUE(std::isinf(k[3]));
  std::vector<float> n(6, 0.0f);
  ban_repeated_ngrams(n, std::vector<int32_t>{0, 1}, 3);  // too short for a trigram
  EXPECT_EQ(std::count_if(n.begin(), n.end(), [](float x) { return std::isinf(x); }), 0);
}

// The decoder's matrices in bf16 or q8 (the encoder in f32): logits within the formats'
// rounding of the f32 ones over a whole greedy answer, and the generator runs them.
TEST(seq2seq_generator, bf16_and_q8_decoder_weights_stay_close_to_f32) {
  for (bool v10 : {false, true}) {
    TinyT5 m(v10, 5, 32);  // q8 blocks are 32 inputs wide
    Model& model = *m.lm->model;
    const std::vector<int32_t> src = {5, 6, 7, 8, 9, 10, 3};
    auto f32 = model.start_rows();
    const int r0 = f32->add(src);
    std::vector<int32_t> fed = {0};
    std::vector<Tensor> want;
    for (int k = 0; k < 10; k++) {
      want.push_back(f32->step(std::vector<int>{r0}, std::vector<int32_t>{fed.back()}));
      const float* l = want.back().f32();
      fed.push_back(int32_t(std::max_element(l, l + want.back().size(1)) - l));
    }
    for (QFormat f : {QFormat::bf16, QFormat::q8}) {
      auto rows = model.start_rows(f);
      const int r = rows->add(src);
      double worst = 0;
      for (int k = 0; k < 10; k++) {
        const Tensor got = rows->step(std::vector<int>{r}, std::vector<int32_t>{fed[size_t(k)]});
        double diff = 0, scale = 0;
        for (int64_t i = 0; i < got.numel(); i++) {
          diff = std::max(diff, double(std::fabs(got.f32()[i] - want[size_t(k)].f32()[i])));
          scale = std::max(scale, double(std::fabs(want[size_t(k)].f32()[i])));
        }
        worst = std::max(worst, diff / scale);
      }
      // A random model of init factor 2 through 2 layers: a few percent of the largest logit;
      // a wrong matrix or layout is off by its whole size.
      const double tol = f == QFormat::bf16 ? 0.06 : 0.1;
      EXPECT_LT(worst, tol) << "format " << int(f) << " v10 " << v10;
      EXPECT_GT(worst, 1e-7) << "the copy is not used";
    }
    SeqRequest req;
    req.prompt = ids_of(*m.tok, "abc");
    req.opts.max_new = 8;
    req.opts.stop_at_eos = false;
    req.opts.sampler.temperature = 0.0f;
    const GenerateResult g =
        make_seq2seq_generator(m.lm, m.tok, {}, QFormat::q8)->run(std::move(req));
    EXPECT_EQ(g.tokens.size(), 8u);
  }
}
