// The llada row, the diffusion objective's forward process and loss, and the sampler's schedule,
// EOS handling, threshold and errors. Parity with PyTorch is tests/parity/test_llada_parity.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "core/rng.h"
#include "core/threads.h"
#include "infer/diffusion.h"
#include "infer/diffusion_generator.h"
#include "infer/engine.h"
#include "models/llada.h"
#include "tokenizer/char_tokenizer.h"
#include "train/objective.h"

using namespace aero;

namespace {

LladaConfig tiny() {
  LladaConfig c;
  c.vocab_size = 20;
  c.block_size = 32;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_embd = 16;
  c.ffn_hidden = 32;
  c.mask_id = 19;
  c.init_std = 0.3f;
  return c;
}

// A batch of `rows` x `cols` tokens in [0, 19).
struct Batch {
  std::vector<int32_t> x;
  TrainBatch b;
  Batch(int64_t rows, int64_t cols, uint64_t seed) : x(size_t(rows * cols)) {
    Rng rng(seed);
    for (auto& v : x) v = int32_t(rng.below(19));
    b.rows = rows, b.cols = cols, b.x = x.data(), b.y = x.data();
    b.targets = b.tokens = rows * cols;
    b.seed = seed;
  }
};

// Logits (B, T, V) of every position through the reference forward.
std::vector<float> all_logits(Model& m, const std::vector<int32_t>& ids, int B, int T) {
  std::vector<int> rows(static_cast<size_t>(T));
  for (int i = 0; i < T; i++) rows[size_t(i)] = i;
  // Each row of the batch as a sequence of its own.
  std::vector<std::vector<int32_t>> seqs;
  DiffusionQuery q;
  for (int b = 0; b < B; b++) seqs.emplace_back(ids.begin() + b * T, ids.begin() + (b + 1) * T);
  for (int b = 0; b < B; b++) q.seqs.push_back({&seqs[size_t(b)], 0, T, &rows, true, b});
  std::vector<float> out;
  model_logits(m)(q, out);
  return out;
}

// -log softmax(logits of position j)[target] in double, for logits (positions, 20).
double cross_entropy_at(const std::vector<float>& logits, size_t j, int32_t target) {
  const float* l = logits.data() + j * 20;
  double mx = l[0], z = 0;
  for (int v = 0; v < 20; v++) mx = std::max(mx, double(l[v]));
  for (int v = 0; v < 20; v++) z += std::exp(l[v] - mx);
  return mx + std::log(z) - l[target];
}

double binom_pmf(int n, int k, double p) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                  k * std::log(p) + (n - k) * std::log1p(-p));
}

}  // namespace

TEST(Llada, ConfigRowAndErrors) {
  ModelConfig m("llada");
  EXPECT_EQ(m.arch().family, ModelFamily::masked_lm);
  EXPECT_FALSE(m.arch().stack(llada_model_config(tiny())).causal);
  try {
    m.validate();
    FAIL() << "no mask token accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.mask_id is not set"), std::string::npos);
  }
  m.set("mask_id", "10000");
  EXPECT_THROW(m.validate(), Error);
  const ModelConfig back = ModelConfig::from_json(llada_model_config(tiny()).to_json());
  EXPECT_EQ(back.as<LladaConfig>().mask_id, 19);
  EXPECT_EQ(back.to_json().at("arch"), "llada");
}

// Every position sees later ones: changing the last token changes the first position's logits.
TEST(Llada, AttentionIsBidirectional) {
  ParamStore store;
  Llada model(tiny(), store);
  store.finalize(3);
  const std::vector<float> a = all_logits(model, {1, 2, 3, 4}, 1, 4);
  const std::vector<float> b = all_logits(model, {1, 2, 3, 5}, 1, 4);
  double d = 0;
  for (int v = 0; v < 20; v++) d += std::fabs(a[size_t(v)] - b[size_t(v)]);
  EXPECT_GT(d, 1e-4);
}

// Conditional on each row's p, the masked count is Binomial(L, p): a chi-squared test over
// 4000 rows at a fixed seed (expected counts summed over rows; bins merged to >= 5 expected).
TEST(DiffusionObjective, MaskedCountIsBinomial) {
  const int L = 16, R = 4000;
  Batch bt(R, L, 42);
  const DiffusionDraw d = draw_diffusion(bt.b, 19, {}, 0);
  std::vector<double> observed(L + 1, 0), expected(L + 1, 0);
  for (int r = 0; r < R; r++) {
    int k = 0;
    for (int i = 0; i < L; i++) {
      const size_t j = size_t(r * L + i);
      const bool masked = d.xt[j] == 19;
      k += masked;
      // Masked: input is the mask, target x0, weight 1/p; else input x0, ignored, weight 0.
      EXPECT_EQ(d.target[j], masked ? bt.x[j] : kIgnoreIndex);
      EXPECT_FLOAT_EQ(d.weight[j], masked ? 1.0f / d.p[size_t(r)] : 0.0f);
      if (!masked) {
        EXPECT_EQ(d.xt[j], bt.x[j]);
      }
    }
    observed[size_t(k)]++;
    for (int c = 0; c <= L; c++) expected[size_t(c)] += binom_pmf(L, c, d.p[size_t(r)]);
    EXPECT_GE(d.p[size_t(r)], 1e-3f);
    EXPECT_LE(d.p[size_t(r)], 1.0f);
  }
  double chi2 = 0, eo = 0, ee = 0;
  int dof = -1;
  for (int c = 0; c <= L; c++) {
    eo += observed[size_t(c)], ee += expected[size_t(c)];
    if (ee >= 5 || c == L) {
      chi2 += (eo - ee) * (eo - ee) / ee;
      dof++;
      eo = ee = 0;
    }
  }
  // 99.9% quantile of chi-squared with <= 16 degrees of freedom is 39.25.
  std::printf("  chi2 %.2f with %d degrees of freedom\n", chi2, dof);
  EXPECT_LT(chi2, 39.25);
  EXPECT_GE(dof, 10);
}

// Rows are drawn by their index in the whole batch: a data-parallel slice draws the same masks.
TEST(DiffusionObjective, DrawsIndependentOfSplitAndAntithetic) {
  Batch bt(8, 12, 7);
  for (bool anti : {false, true}) {
    ObjectiveOptions o;
    o.antithetic = anti;
    const DiffusionDraw whole = draw_diffusion(bt.b, 19, o, 0);
    const DiffusionDraw part = draw_diffusion(bt.b.rows_slice(3, 6), 19, o, 0);
    for (int64_t k = 0; k < 3 * 12; k++)
      EXPECT_EQ(part.xt[size_t(k)], whole.xt[size_t(3 * 12 + k)]);
    EXPECT_EQ(part.p[0], whole.p[3]);
    if (anti) {  // t spread evenly: sorted, consecutive t differ by 1 / B
      std::vector<float> p = whole.p;
      std::sort(p.begin(), p.end());
      for (size_t r = 1; r < p.size(); r++) EXPECT_NEAR(p[r] - p[r - 1], 0.999 / 8, 1e-5);
    }
  }
  // Another draw index or batch seed: other masks.
  EXPECT_NE(draw_diffusion(bt.b, 19, {}, 0).xt, draw_diffusion(bt.b, 19, {}, 1).xt);
}

TEST(DiffusionObjective, RandomLengthCrops) {
  Batch bt(4, 16, 9);
  ObjectiveOptions o;
  o.random_length = 1.0f;
  std::set<int64_t> lens;
  for (uint64_t s = 0; s < 40; s++) {
    bt.b.seed = s;
    const DiffusionDraw d = draw_diffusion(bt.b, 19, o, 0);
    EXPECT_GE(d.cols, 1);
    EXPECT_LE(d.cols, 16);
    EXPECT_EQ(d.xt.size(), size_t(4 * d.cols));
    lens.insert(d.cols);
  }
  EXPECT_GT(lens.size(), 5u);
  o.random_length = 0;
  EXPECT_EQ(draw_diffusion(bt.b, 19, o, 0).cols, 16);
}

// The objective's loss is sum over masked of CE / p divided by B x L (not by the masked count),
// and the trainer's grad_accum factor divides it further.
TEST(DiffusionObjective, WeightingAndNormalisation) {
  ParamStore store;
  const ModelConfig cfg = llada_model_config(tiny());
  auto model = build_model(cfg, store);
  store.finalize(5);
  Batch bt(3, 10, 11);
  const DiffusionDraw d = draw_diffusion(bt.b, 19, {}, 0);
  const std::vector<float> logits = all_logits(*model, d.xt, 3, 10);
  double want = 0;
  for (size_t j = 0; j < d.xt.size(); j++)
    if (d.target[j] != kIgnoreIndex) want += cross_entropy_at(logits, j, d.target[j]) / d.p[j / 10];
  want /= 30;
  const auto obj = make_objective(ObjectiveKind::diffusion, cfg, {.random_length = 0});
  Tape tape;
  EXPECT_NEAR(obj->loss(*model, tape, bt.b, 30.0f).value().f32()[0], want, 1e-4 * want);
  tape.reset();
  EXPECT_NEAR(obj->loss(*model, tape, bt.b, 60.0f).value().f32()[0], want / 2, 1e-4 * want);
  // --mc 2: the mean of draws 0 and 1.
  tape.reset();
  double mean2 = 0;
  for (int k = 0; k < 2; k++) {
    NoGrad ng(tape);
    mean2 += diffusion_loss(*model, tape, draw_diffusion(bt.b, 19, {}, k), 60.0f).value().f32()[0];
  }
  const auto obj2 = make_objective(ObjectiveKind::diffusion, cfg, {.mc = 2});
  EXPECT_NEAR(obj2->loss(*model, tape, bt.b, 30.0f).value().f32()[0], mean2, 1e-4 * mean2);
  // A next-token objective on a masked_lm model, and diffusion on a GPT: errors.
  EXPECT_THROW(make_objective(ObjectiveKind::all, cfg), Error);
  EXPECT_THROW(make_objective(ObjectiveKind::diffusion, ModelConfig("gpt")), Error);
}

// SFT (LLaDA's supervised fine-tuning): the prompt is never masked, the answer (EOS padding
// included) is, and each masked token counts CE / (p · the row's answer length), summed and
// divided by the batch's rows, so a long answer weighs no more than a short one.
TEST(DiffusionObjective, SftMasksOnlyTheAnswerAndNormalisesPerRow) {
  ParamStore store;
  const ModelConfig cfg = llada_model_config(tiny());
  auto model = build_model(cfg, store);
  store.finalize(5);
  Batch bt(3, 12, 13);
  const std::vector<int32_t> prompt = {4, 0, 11};
  bt.b.prompt_len = prompt.data();
  bt.b.targets = 3 * 12 - 15;
  int64_t masked_answer = 0, answer = 0;
  for (int draw = 0; draw < 200; draw++) {
    ObjectiveOptions o;
    o.random_length = 1.0f;  // SFT batches are never cropped
    const DiffusionDraw d = draw_diffusion(bt.b, 19, o, draw);
    ASSERT_EQ(d.cols, 12);
    for (int64_t r = 0; r < 3; r++)
      for (int64_t i = 0; i < 12; i++) {
        const size_t k = size_t(r * 12 + i);
        if (i < prompt[size_t(r)]) {
          ASSERT_EQ(d.xt[k], bt.x[k]) << "a prompt token was masked";
          continue;
        }
        answer++;
        if (d.xt[k] != 19) continue;
        masked_answer++;
        ASSERT_FLOAT_EQ(d.weight[k], 1.0f / (d.p[size_t(r)] * float(12 - prompt[size_t(r)])));
      }
  }
  // E[p] = 1/2: about half of the answer tokens are masked.
  EXPECT_NEAR(double(masked_answer) / double(answer), 0.5, 0.05);
  const DiffusionDraw d = draw_diffusion(bt.b, 19, {}, 0);
  const std::vector<float> logits = all_logits(*model, d.xt, 3, 12);
  double want = 0;
  for (size_t j = 0; j < d.xt.size(); j++) {
    if (d.target[j] == kIgnoreIndex) continue;
    const size_t r = j / 12;
    want += cross_entropy_at(logits, j, d.target[j]) / d.p[r] / double(12 - prompt[r]);
  }
  want /= 3;
  const auto obj = make_objective(ObjectiveKind::diffusion, cfg, {.random_length = 0});
  Tape tape;
  const float divisor = float(bt.b.targets * 2);  // grad_accum 2
  EXPECT_NEAR(obj->loss(*model, tape, bt.b, divisor).value().f32()[0], want / 2, 1e-4 * want);
}

TEST(DiffusionSampler, NumTransferTokens) {
  EXPECT_EQ(num_transfer_tokens(10, 4), (std::vector<int>{3, 3, 2, 2}));
  EXPECT_EQ(num_transfer_tokens(8, 8), (std::vector<int>(8, 1)));
  EXPECT_EQ(num_transfer_tokens(3, 5), (std::vector<int>{1, 1, 1, 0, 0}));
}

// Blocks in order, tokens per step as the schedule, only masked positions of the current
// block, never remasked; with a real (random) model and every remasking rule.
TEST(DiffusionSampler, ScheduleAndBlockOrder) {
  ParamStore store;
  Llada model(tiny(), store);
  store.finalize(8);
  for (Remasking rm :
       {Remasking::low_confidence, Remasking::random, Remasking::margin, Remasking::entropy}) {
    DiffusionOpts o;
    o.gen_length = 12, o.block_length = 4, o.steps = 9, o.remasking = rm, o.temperature = 0.7f;
    o.seed = 3;
    const std::vector<int> sched = num_transfer_tokens(4, 3);
    std::vector<int32_t> prev(12, 19);
    int n = 0;
    const DiffusionResult r = diffusion_generate(
        model_logits(model), 20, {1, 2, 3}, 19, -1, o, [&](const DiffusionStep& st) {
          EXPECT_EQ(st.block, n / 3);
          EXPECT_EQ(st.step, n % 3);
          EXPECT_EQ(int(st.committed.size()), sched[size_t(n % 3)]);
          for (int i : st.committed) {
            EXPECT_GE(i, st.block * 4);
            EXPECT_LT(i, st.block * 4 + 4);
            EXPECT_EQ(prev[size_t(i)], 19) << "position " << i << " committed twice";
          }
          for (int i = 0; i < 12; i++) {
            if (prev[size_t(i)] != 19) {
              EXPECT_EQ((*st.answer)[size_t(i)], prev[size_t(i)]);
            }
            if (i >= st.block * 4 + 4) {
              EXPECT_EQ((*st.answer)[size_t(i)], 19);
            }
          }
          prev = *st.answer;
          n++;
        });
    EXPECT_EQ(n, 9);
    EXPECT_EQ(r.forwards, 9);
    for (int32_t t : r.answer) EXPECT_NE(t, 19);
    // Same seed, same answer.
    EXPECT_EQ(diffusion_generate(model_logits(model), 20, {1, 2, 3}, 19, -1, o).answer, r.answer);
  }
}

// Fake logits: position i of the answer predicts token i % 7 with confidence falling with i;
// token 5 (the EOS here) at answer position 5.
DiffusionLogits fake_logits(int P, int V) {
  return [P, V](const DiffusionQuery& q, std::vector<float>& out) {
    out.assign(q.rows() * size_t(V), 0.0f);
    size_t j = 0;
    for (const DiffusionSeq& s : q.seqs)
      for (int t : *s.rows) {
        out[j * size_t(V) + size_t((t - P) % 7)] = 10.0f - 0.1f * float(t);
        j++;
      }
  };
}

TEST(DiffusionSampler, StopsAtFirstCompletedEosAndTrims) {
  DiffusionOpts o;
  o.gen_length = 16, o.steps = 16, o.block_length = 0, o.temperature = 0;
  int steps = 0;
  const DiffusionResult r = diffusion_generate(fake_logits(2, 10), 10, {1, 1}, 9, 5, o,
                                               [&](const DiffusionStep&) { steps++; });
  EXPECT_EQ(r.answer, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(r.eos);
  EXPECT_EQ(steps, 6);  // left to right by confidence: done once position 5 (EOS) is committed
  o.stop_at_eos = false;
  EXPECT_EQ(diffusion_generate(fake_logits(2, 10), 10, {1, 1}, 9, 5, o).answer.size(), 16u);
}

// EOS suppression: positions predicted EOS rank below every other prediction, so the answer is
// filled before the EOS that ends it is committed (the reference would stop after 6 steps).
TEST(DiffusionSampler, EosConfidenceHoldsEosBack) {
  DiffusionOpts o;
  o.gen_length = 16, o.steps = 16, o.temperature = 0, o.eos_confidence = 0.5f;
  std::vector<int> order;
  const DiffusionResult r =
      diffusion_generate(fake_logits(2, 10), 10, {1, 1}, 9, 5, o, [&](const DiffusionStep& st) {
        order.insert(order.end(), st.committed.begin(), st.committed.end());
      });
  EXPECT_EQ(r.answer, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(r.eos);
  ASSERT_EQ(order.size(), 15u);  // the 14 other positions, then the first EOS (position 5)
  EXPECT_EQ(order.back(), 5);
  o.eos_confidence = 0;
  EXPECT_THROW(o.validate(), Error);
}

// --threshold: the top token always, plus every token of confidence >= threshold.
TEST(DiffusionSampler, ThresholdCommitsConfidentTokensTogether) {
  DiffusionOpts o;
  o.gen_length = 8, o.steps = 8, o.temperature = 0, o.threshold = 0.5f;
  int steps = 0;
  // Confidence of each position is about e^10 / (e^10 + 9): all above 0.5, so one step.
  const DiffusionResult r =
      diffusion_generate(fake_logits(1, 10), 10, {1}, 9, -1, o, [&](const DiffusionStep& st) {
        steps++;
        EXPECT_EQ(st.committed.size(), 8u);
      });
  EXPECT_EQ(steps, 1);
  EXPECT_EQ(r.forwards, 1);
  o.threshold = 0;  // off: the reference schedule, one token per step
  EXPECT_EQ(diffusion_generate(fake_logits(1, 10), 10, {1}, 9, -1, o).forwards, 8);
  EXPECT_EQ(diffusion_generate(fake_logits(1, 10), 10, {1}, 9, -1, o).answer, r.answer);
}

TEST(DiffusionSampler, BadOptionsAreClearErrors) {
  DiffusionOpts o;
  auto msg = [&] {
    try {
      o.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  o.gen_length = 10, o.block_length = 4, o.steps = 10;
  EXPECT_NE(msg().find("gen_length 10 is not divisible by block_length 4"), std::string::npos);
  o.gen_length = 16, o.steps = 2;
  EXPECT_NE(msg().find("steps 2 is fewer than the 4 blocks"), std::string::npos);
  o.steps = 6;
  EXPECT_NE(msg().find("steps 6 is not divisible by the 4 blocks"), std::string::npos);
  o.steps = 8;
  EXPECT_EQ(msg(), "");
}

// The inference engine's bidirectional forward, whole sequence every step (prefix cache off) and
// logits only for the masked rows of the block: the reference's tokens, step by step.
TEST(DiffusionSampler, EngineWithoutCacheEqualsReference) {
  ParamStore store;
  LladaConfig cfg = tiny();
  cfg.n_layer = 2;  // with one layer the prefix cache would be exact
  Llada model(cfg, store);
  store.finalize(21);
  Rng rng(4);
  for (Param& p : store.params())
    if (p.shape.ndim == 1)
      for (int64_t i = 0; i < p.numel(); i++) p.value.f32()[i] += 0.2f * float(rng.uniform() - 0.5);
  auto inf = std::make_shared<InferenceModel>(llada_model_config(cfg), store, WeightFormat::f32);
  struct Case {
    int gen, block, steps;
    Remasking rm;
    float cfg_scale, temperature;
  };
  for (const Case& c :
       {Case{16, 4, 8, Remasking::low_confidence, 0, 0},
        Case{12, 0, 12, Remasking::margin, 0, 0.5f}, Case{16, 8, 8, Remasking::entropy, 1.5f, 0},
        Case{16, 8, 16, Remasking::random, 0, 1}}) {
    DiffusionOpts o;
    o.gen_length = c.gen, o.block_length = c.block, o.steps = c.steps, o.remasking = c.rm;
    o.cfg_scale = c.cfg_scale, o.temperature = c.temperature, o.seed = 9;
    std::vector<std::vector<int32_t>> ref, eng;
    const std::vector<int32_t> prompt = {3, 1, 4, 1, 5};
    diffusion_generate(model_logits(model), 20, prompt, 19, -1, o,
                       [&](const DiffusionStep& st) { ref.push_back(*st.answer); });
    diffusion_generate(engine_logits(inf), 20, prompt, 19, -1, o,
                       [&](const DiffusionStep& st) { eng.push_back(*st.answer); });
    EXPECT_EQ(ref, eng) << "gen " << c.gen << " block " << c.block;
    // The caches: the same schedule (every position committed once, blocks in order); the
    // tokens may differ (kept K/V are not recomputed within a block), counted here.
    for (DiffusionCache cache : {DiffusionCache::prefix, DiffusionCache::dual}) {
      std::vector<std::vector<int32_t>> cached;
      DiffusionOpts oc = o;
      oc.cache = cache;
      diffusion_generate(engine_logits(inf), 20, prompt, 19, -1, oc,
                         [&](const DiffusionStep& st) { cached.push_back(*st.answer); });
      ASSERT_EQ(cached.size(), ref.size());
      int same = 0;
      for (int i = 0; i < c.gen; i++) same += cached.back()[size_t(i)] == ref.back()[size_t(i)];
      std::printf("  %s cache: %d of %d tokens as without it\n",
                  diffusion_cache_names().name(cache), same, c.gen);
    }
  }
}

// The prefix cache is used and approximate: on a block's later step the logits come from the
// prefix K/V of the block's first step, so they differ from a full recompute, slightly.
TEST(DiffusionSampler, PrefixCacheReusesStalePrefix) {
  ParamStore store;
  LladaConfig cfg = tiny();
  cfg.n_layer = 2;  // one layer's K/V come from the embeddings alone: the cache would be exact
  Llada model(cfg, store);
  store.finalize(5);
  auto inf = std::make_shared<InferenceModel>(llada_model_config(cfg), store, WeightFormat::f32);
  std::vector<int32_t> ids = {3, 1, 4, 1, 5, 9, 19, 19, 19, 19, 19, 19};
  const std::vector<int> rows = {8, 9, 10, 11};
  std::vector<float> cached, full;
  DiffusionLogits with = engine_logits(inf), without = engine_logits(inf);
  const DiffusionCache prefix = DiffusionCache::prefix;
  with({{{&ids, 8, 12, &rows, true, 0, prefix}}}, cached);  // block [8, 12): refresh computes K/V
  ids[8] = 7;  // committed: the cached prefix K/V still saw a mask there
  const std::vector<int> later = {9, 10, 11};
  with({{{&ids, 8, 12, &later, false, 0, prefix}}}, cached);
  without({{{&ids, 8, 12, &later, false, 0}}}, full);
  double diff = 0, scale = 0;
  for (size_t i = 0; i < full.size(); i++)
    diff = std::max(diff, double(std::fabs(cached[i] - full[i]))),
    scale = std::max(scale, double(std::fabs(full[i])));
  std::printf("  stale prefix: max |diff| %.3g of max |logit| %.3g\n", diff, scale);
  EXPECT_GT(diff, 0.0);
  EXPECT_LT(diff, scale);
}

namespace {

// A 2-layer model (so the caches are approximate) with nonzero biases, on the engine.
struct EngineModel {
  ParamStore store;
  LladaConfig cfg = tiny();
  std::unique_ptr<Llada> model;
  std::shared_ptr<InferenceModel> inf;
  explicit EngineModel(int layers = 2) {
    cfg.n_layer = layers;
    model = std::make_unique<Llada>(cfg, store);
    store.finalize(21);
    Rng rng(4);
    for (Param& p : store.params())
      if (p.shape.ndim == 1)
        for (int64_t i = 0; i < p.numel(); i++)
          p.value.f32()[i] += 0.2f * float(rng.uniform() - 0.5);
    inf = std::make_shared<InferenceModel>(llada_model_config(cfg), store, WeightFormat::f32);
  }
};

const std::vector<std::vector<int32_t>> kPrompts = {{3, 1}, {4, 1, 5, 9, 2}, {6, 5, 3, 5, 8, 9, 7}};

}  // namespace

// The dual cache keeps K and V on both sides of the block: a step right after the refresh sees
// exactly what a full pass sees (nothing has changed), so its logits are the full pass's; after a
// commit in the block the kept suffix is stale, and the logits move, slightly. With one layer
// every kept K/V comes from the embeddings alone, so the whole sampler is the reference's.
TEST(DiffusionSampler, DualCacheKeepsBothSidesOfTheBlock) {
  EngineModel m;
  std::vector<int32_t> ids = {3, 1, 4, 1, 5, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19};
  const std::vector<int> rows = {9, 10, 11, 12};  // block [9, 13) of the answer [5, 16)
  const DiffusionCache dual = DiffusionCache::dual;
  DiffusionLogits with = engine_logits(m.inf), without = engine_logits(m.inf);
  auto max_diff = [](const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); i++) d = std::max(d, double(std::fabs(a[i] - b[i])));
    return d;
  };
  std::vector<float> cached, full;
  with({{{&ids, 9, 13, &rows, true, 0, dual}}}, cached);
  without({{{&ids, 9, 13, &rows, true, 0}}}, full);
  EXPECT_EQ(cached, full);                                 // the refresh is a full pass
  with({{{&ids, 9, 13, &rows, false, 0, dual}}}, cached);  // only the block runs
  ASSERT_EQ(cached.size(), full.size());
  EXPECT_LT(max_diff(cached, full), 1e-5);
  ids[10] = 7;  // committed: the kept suffix [13, 16) and prefix still saw a mask there
  const std::vector<int> later = {9, 11, 12};
  with({{{&ids, 9, 13, &later, false, 0, dual}}}, cached);
  without({{{&ids, 9, 13, &later, false, 0}}}, full);
  const double stale = max_diff(cached, full);
  std::printf("  stale prefix and suffix: max |diff| %.3g\n", stale);
  EXPECT_GT(stale, 1e-4);
  EXPECT_LT(stale, 1.0);

  EngineModel one(1);
  DiffusionOpts o;
  o.gen_length = 16, o.block_length = 4, o.steps = 16, o.temperature = 0.8f, o.seed = 3;
  std::vector<std::vector<int32_t>> ref, got;
  diffusion_generate(model_logits(*one.model), 20, {3, 1, 4}, 19, -1, o,
                     [&](const DiffusionStep& st) { ref.push_back(*st.answer); });
  o.cache = dual;
  diffusion_generate(engine_logits(one.inf), 20, {3, 1, 4}, 19, -1, o,
                     [&](const DiffusionStep& st) { got.push_back(*st.answer); });
  EXPECT_EQ(got, ref);
}

// A diffusion step's block (rows between a kept prefix and a kept suffix, for two sequences)
// shared out by rows among the threads: the same logits and caches, to the bit, for 1, 2 and 3
// threads, although each thread's rows then see the other's as cached positions after them.
TEST(DiffusionSampler, ThreadsSharingTheBlockRowsGiveTheSameBits) {
  LladaConfig cfg = tiny();
  cfg.n_embd = 32, cfg.ffn_hidden = 64, cfg.n_layer = 2;  // widths the row-shared path takes
  ParamStore store;
  Llada model(cfg, store);
  store.finalize(5);
  auto inf = std::make_shared<InferenceModel>(llada_model_config(cfg), store, WeightFormat::f32);
  const int saved = num_threads();
  auto run = [&](int threads) {
    set_num_threads(threads);
    KvSeq a(*inf), b(*inf);
    std::vector<int32_t> full(30);
    for (size_t i = 0; i < full.size(); i++) full[i] = int32_t(i * 7 % 19);
    forward_tokens(*inf, a, full);  // the refresh: every position cached
    forward_tokens(*inf, b, full);
    std::vector<int32_t> block_a(full.begin() + 4, full.begin() + 24), block_b(11, 19);
    std::vector<int> rows_a, rows_b = {0, 5, 10};
    for (int r = 0; r < 20; r += 3) rows_a.push_back(r);
    std::vector<float> out =
        forward_rows(*inf, {{&a, 4, &block_a, &rows_a, 6}, {&b, 10, &block_b, &rows_b, 9}});
    std::vector<float> next = forward_rows(*inf, {{&a, 4, &block_a, &rows_a, 6}});
    out.insert(out.end(), next.begin(), next.end());
    return out;
  };
  const std::vector<float> one = run(1);
  EXPECT_EQ(run(2), one);
  EXPECT_EQ(run(3), one);
  set_num_threads(saved);
}

// The engine's forward of several sequences of different lengths in one pass: each sequence's
// logits are those of its own pass, to float rounding (the matrix products see more rows).
TEST(DiffusionSampler, EngineBatchedRowsEqualSingleRows) {
  EngineModel m;
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<int>> rows;
  for (const auto& p : kPrompts) {
    ids.push_back(p);
    ids.back().resize(p.size() + 8, 19);
    ids.back()[p.size() + 1] = 7;  // a committed answer token
    rows.push_back({});
    for (int i = int(p.size()); i < int(p.size()) + 8; i++)
      if (ids.back()[size_t(i)] == 19) rows.back().push_back(i);
  }
  DiffusionQuery all;
  for (size_t i = 0; i < ids.size(); i++) {
    const int P = int(kPrompts[i].size());
    all.seqs.push_back({&ids[i], P, P + 8, &rows[i], true, int(i)});
  }
  std::vector<float> batched, single;
  engine_logits(m.inf)(all, batched);
  ASSERT_EQ(batched.size(), all.rows() * 20);
  size_t at = 0;
  double diff = 0;
  for (size_t i = 0; i < ids.size(); i++) {
    engine_logits(m.inf)({{all.seqs[i]}}, single);
    ASSERT_EQ(single.size(), rows[i].size() * 20);
    for (size_t k = 0; k < single.size(); k++)
      diff = std::max(diff, double(std::fabs(single[k] - batched[at + k])));
    at += single.size();
  }
  std::printf("  batched vs single rows: max |diff| %.3g\n", diff);
  EXPECT_LT(diff, 1e-4);
}

// A batch of prompts of different lengths gives each prompt the tokens it gets alone, step by
// step: greedy and sampled (per-row seeds), with each cache, threshold and CFG, on the engine
// and through the reference forward.
TEST(DiffusionSampler, BatchOfPromptsOfDifferentLengthsEqualsSingleRuns) {
  EngineModel m;
  using enum DiffusionCache;
  struct Case {
    float temperature, threshold, cfg_scale;
    DiffusionCache cache;
    bool reference;
  };
  for (const Case& c :
       {Case{0, 0, 0, none, false}, Case{0.8f, 0, 0, none, false}, Case{0, 0, 0, prefix, false},
        Case{1, 0.3f, 0, prefix, false}, Case{0.5f, 0.3f, 0, none, false},
        Case{0.7f, 0, 1.5f, prefix, false}, Case{0.9f, 0.3f, 0, dual, false},
        Case{0.7f, 0, 1.5f, dual, false}, Case{0.7f, 0, 0, none, true}}) {
    const std::string name =
        cat("T ", c.temperature, " threshold ", c.threshold, " cfg ", c.cfg_scale, " cache ",
            diffusion_cache_names().name(c.cache), c.reference ? " reference" : "");
    auto logits = [&] { return c.reference ? model_logits(*m.model) : engine_logits(m.inf); };
    std::vector<DiffusionOpts> opts(kPrompts.size());
    for (size_t i = 0; i < opts.size(); i++) {
      DiffusionOpts& o = opts[i];
      o.gen_length = 16, o.block_length = i == 1 ? 8 : 4, o.steps = i == 2 ? 16 : 8;
      o.temperature = c.temperature, o.threshold = c.threshold, o.cfg_scale = c.cfg_scale;
      o.cache = c.cache;
      o.remasking = i == 2 ? Remasking::margin : Remasking::low_confidence;
      o.seed = 10 + i;
    }
    std::vector<std::vector<std::vector<int32_t>>> alone(kPrompts.size()),
        together(kPrompts.size());
    std::vector<DiffusionResult> want;
    for (size_t i = 0; i < kPrompts.size(); i++)
      want.push_back(
          diffusion_generate(logits(), 20, kPrompts[i], 19, -1, opts[i],
                             [&](const DiffusionStep& st) { alone[i].push_back(*st.answer); }));
    std::vector<size_t> batch_sizes;  // sequences per call of the logits function
    const DiffusionLogits fn = logits();
    const std::vector<DiffusionResult> got = diffusion_generate_batch(
        [&](const DiffusionQuery& q, std::vector<float>& out) {
          batch_sizes.push_back(q.seqs.size());
          fn(q, out);
        },
        20, kPrompts, 19, -1, opts,
        [&](int i, const DiffusionStep& st) { together[size_t(i)].push_back(*st.answer); });
    ASSERT_EQ(got.size(), kPrompts.size());
    for (size_t i = 0; i < kPrompts.size(); i++) {
      EXPECT_EQ(got[i].answer, want[i].answer) << name << ", prompt " << i;
      EXPECT_EQ(got[i].forwards, want[i].forwards) << name << ", prompt " << i;
      EXPECT_EQ(together[i], alone[i]) << name << ", prompt " << i;
    }
    // Every running row in each call (with CFG, two sequences per row).
    EXPECT_EQ(batch_sizes.front(), kPrompts.size() * (c.cfg_scale > 0 ? 2 : 1)) << name;
    if (c.threshold == 0) {
      EXPECT_EQ(batch_sizes.size(), 16u) << name;  // the longest schedule
    }
  }
}

// Rows stop at their own EOS and leave the batch; the others go on. Position t predicts token
// t % 7 (fake_logits with P = 0), EOS = 5, so a prompt of P tokens stops after 6 - P steps.
TEST(DiffusionSampler, BatchRowsStopAtTheirOwnEos) {
  DiffusionOpts o;
  o.gen_length = 16, o.steps = 16, o.temperature = 0;
  const std::vector<std::vector<int32_t>> prompts = {{1, 1, 1}, {1}, {1, 1}};
  std::vector<size_t> seqs;
  std::vector<int> steps(3);
  const std::vector<DiffusionResult> r = diffusion_generate_batch(
      [&](const DiffusionQuery& q, std::vector<float>& out) {
        seqs.push_back(q.seqs.size());
        fake_logits(0, 10)(q, out);
      },
      10, prompts, 9, 5, {o}, [&](int i, const DiffusionStep&) { steps[size_t(i)]++; });
  EXPECT_EQ(steps, (std::vector<int>{3, 5, 4}));
  EXPECT_EQ(seqs, (std::vector<size_t>{3, 3, 3, 2, 1}));
  for (size_t i = 0; i < prompts.size(); i++) {
    const DiffusionResult one = diffusion_generate(fake_logits(0, 10), 10, prompts[i], 9, 5, o);
    EXPECT_EQ(r[i].answer, one.answer) << "prompt " << i;
    EXPECT_EQ(r[i].forwards, one.forwards);
    EXPECT_TRUE(r[i].eos);
    EXPECT_EQ(int(r[i].answer.size()), 5 - int(prompts[i].size()));
  }
}

// Rows join a running batch (the server's continuous batching) and leave it (cancel): a row that
// joins later, in the middle of another's block, still gets the tokens it gets alone.
TEST(DiffusionSampler, RowsJoinAndLeaveARunningBatch) {
  EngineModel m;
  DiffusionOpts o;
  o.gen_length = 16, o.block_length = 4, o.steps = 8, o.temperature = 0.9f;
  o.cache = DiffusionCache::prefix;
  auto alone = [&](size_t i, uint64_t seed) {
    DiffusionOpts oi = o;
    oi.seed = seed;
    return diffusion_generate(engine_logits(m.inf), 20, kPrompts[i], 19, -1, oi).answer;
  };
  DiffusionBatch batch(engine_logits(m.inf), 20, 19, -1);
  o.seed = 1;
  const int a = batch.add(kPrompts[0], o);
  const int gone = batch.add(kPrompts[1], o);
  batch.step();
  batch.step();
  batch.step();  // a is in its second block
  batch.remove(gone);
  o.seed = 2;
  const int b = batch.add(kPrompts[2], o);
  EXPECT_EQ(batch.running(), 2);
  while (batch.step() > 0) {
  }
  EXPECT_EQ(batch.take(a).answer, alone(0, 1));
  EXPECT_EQ(batch.take(b).answer, alone(2, 2));
  EXPECT_EQ(batch.running(), 0);
  EXPECT_THROW(batch.answer(a), Error);
}

// A request's settings: max_new in whole blocks, steps per token, the "diffusion" object over
// the defaults, and errors that name the field.
TEST(DiffusionGenerator, RequestSettings) {
  DiffusionServeOpts serve;
  GenerateOpts g;
  g.max_new = 40, g.sampler.temperature = 0.5f, g.sampler.seed = 7;
  DiffusionOpts o = diffusion_request_opts(serve, g, 10, 128);
  EXPECT_EQ(o.gen_length, 32);  // rounded down to the block of 32
  EXPECT_EQ(o.block_length, 32);
  EXPECT_EQ(o.steps, 32);
  EXPECT_EQ(o.seed, 7u);
  g.max_new = 20;
  EXPECT_EQ(diffusion_request_opts(serve, g, 10, 128).block_length, 20);  // one shorter block
  EXPECT_EQ(diffusion_request_opts(serve, g, 120, 128).gen_length, 8);    // what the context leaves
  g.diffusion.block_length = 8, g.diffusion.steps = 4, g.diffusion.remasking = Remasking::random;
  g.diffusion.threshold = 0.8f, g.diffusion.cfg_scale = 2, g.diffusion.eos_confidence = 0.5f;
  o = diffusion_request_opts(serve, g, 10, 128);
  EXPECT_EQ(o.gen_length, 16);
  EXPECT_EQ(o.block_length, 8);
  EXPECT_EQ(o.steps, 4);
  EXPECT_EQ(o.remasking, Remasking::random);
  EXPECT_FLOAT_EQ(o.threshold, 0.8f);
  EXPECT_FLOAT_EQ(o.cfg_scale, 2);
  EXPECT_FLOAT_EQ(o.eos_confidence, 0.5f);
  auto field_of = [&](int prompt) -> std::string {
    try {
      diffusion_request_opts(serve, g, prompt, 128);
    } catch (const DiffusionSettingError& e) {
      EXPECT_NE(std::string(e.what()).find(e.field + " "), std::string::npos) << e.what();
      return e.field;
    }
    return "";
  };
  g.diffusion.steps = 3;  // two blocks
  EXPECT_EQ(field_of(10), "diffusion.steps");
  g.diffusion.steps = 1;
  EXPECT_EQ(field_of(10), "diffusion.steps");
  g.diffusion.steps = 4, g.diffusion.gen_length = 12;
  EXPECT_EQ(field_of(10), "diffusion.gen_length");  // not whole blocks
  g.diffusion.gen_length = 120;
  EXPECT_EQ(field_of(10), "diffusion.gen_length");  // beyond the context
  g.diffusion.gen_length.reset(), g.diffusion.block_length = 32;
  EXPECT_EQ(field_of(10), "diffusion.block_length");  // longer than max_new
}

// The server's defaults are the model config's sampler settings (model.sample_*), its steps per
// token kept for answers of another length; a request's own settings still win.
TEST(DiffusionGenerator, DefaultsComeFromTheModelConfig) {
  LladaConfig lc = tiny();
  lc.sample.gen_length = 64, lc.sample.steps = 32, lc.sample.block_length = 16;
  lc.sample.threshold = 0.7f, lc.sample.remasking = Remasking::margin;
  lc.sample.cache = DiffusionCache::dual;
  const DiffusionServeOpts serve = diffusion_serve_opts(llada_model_config(lc), EngineOpts{});
  GenerateOpts g;
  g.max_new = 40;
  DiffusionOpts o = diffusion_request_opts(serve, g, 10, 128);
  EXPECT_EQ(o.gen_length, 32);  // two blocks of 16
  EXPECT_EQ(o.block_length, 16);
  EXPECT_EQ(o.steps, 16);  // half a step per token, as 32 for 64
  EXPECT_FLOAT_EQ(o.threshold, 0.7f);
  EXPECT_EQ(o.remasking, Remasking::margin);
  EXPECT_EQ(o.cache, DiffusionCache::dual);
  g.diffusion.cache = DiffusionCache::none, g.diffusion.threshold = 0;
  o = diffusion_request_opts(serve, g, 10, 128);
  EXPECT_EQ(o.cache, DiffusionCache::none);
  EXPECT_FLOAT_EQ(o.threshold, 0);
  lc.sample.block_length = 0;  // one block, whatever the answer's length
  o = diffusion_request_opts(diffusion_serve_opts(llada_model_config(lc), {}), g, 10, 128);
  EXPECT_EQ(o.gen_length, 40);
  EXPECT_EQ(o.block_length, 40);
  EXPECT_EQ(o.steps, 20);
  // Settings that do not fit together are refused where the config is read.
  lc.sample.block_length = 24;
  EXPECT_THROW(lc.validate(), Error);
}

// The server's generator samples every active request together (one forward pass per step for
// all of them), and each gets the answer it gets alone, streamed block by block; a cancelled one
// leaves without disturbing the others.
TEST(DiffusionGenerator, RequestsRunTogetherAndEachGetsItsOwnAnswer) {
  EngineModel m;
  std::set<char32_t> chars;
  for (char32_t c = U'a'; chars.size() + 4 < 20; c++) chars.insert(c);
  auto tok = std::make_shared<CharTokenizer>(CharTokenizer::from_chars(chars));
  DiffusionServeOpts serve;
  serve.defaults.block_length = 4;
  auto gen = make_diffusion_generator(m.inf, tok, serve);
  struct Out {
    std::string streamed;
    int drafts = 0;
    std::optional<GenerateResult> done;
  };
  std::vector<Out> out(4);
  std::vector<GenerateOpts> opts(4);
  std::vector<SeqId> ids;
  for (size_t i = 0; i < 4; i++) {
    GenerateOpts& g = opts[i];
    g.max_new = i == 1 ? 12 : 8, g.sampler.temperature = 0.7f, g.sampler.seed = 1 + i;
    g.stop_at_eos = i == 1;  // the random model predicts EOS often: the others run every step
    if (i == 2) g.diffusion.steps = 4, g.diffusion.remasking = Remasking::margin;
    SeqRequest req;
    req.prompt = kPrompts[i % 3];
    req.opts = g;
    req.on_text = [&out, i](const std::string& t) {
      out[i].streamed += t;
      return true;
    };
    req.on_draft = [&out, i](const std::string&) { out[i].drafts++; };
    req.on_done = [&out, i](const GenerateResult& r, int) { out[i].done = r; };
    ids.push_back(gen->add(std::move(req)));
  }
  EXPECT_EQ(gen->waiting(), 4);
  gen->step();
  EXPECT_GE(gen->active(), 3);  // together from the first step (request 1 may stop at EOS)
  gen->cancel(ids[3]);
  int steps = 1;  // step() calls, the one above included
  for (bool more = true; more; steps++) more = gen->step() > 0;
  int longest = 0;
  for (size_t i = 0; i < 3; i++) {
    const DiffusionOpts o = diffusion_request_opts(serve, opts[i], int(kPrompts[i].size()), 32);
    const DiffusionResult want =
        diffusion_generate(engine_logits(m.inf), 20, kPrompts[i], 19, tok->eos_id(), o);
    ASSERT_TRUE(out[i].done) << "request " << i;
    EXPECT_EQ(out[i].done->tokens, want.answer) << "request " << i;
    EXPECT_EQ(out[i].done->finish, want.eos ? "eos" : "length");
    EXPECT_EQ(out[i].streamed, out[i].done->text);
    EXPECT_EQ(out[i].drafts, want.forwards);
    longest = std::max(longest, want.forwards);
  }
  EXPECT_EQ(out[2].drafts, 4);  // its own steps
  EXPECT_EQ(steps, longest);    // one generator step per sampler step of all of them
  EXPECT_GE(longest, 8);        // request 0 (request 1: 12 unless it stopped at EOS)
  ASSERT_TRUE(out[3].done);
  EXPECT_EQ(out[3].done->finish, "cancelled");
  EXPECT_EQ(out[3].drafts, 1);
  EXPECT_EQ(gen->active() + gen->waiting(), 0);
}
