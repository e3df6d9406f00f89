// Adapters served apart from their base (several LoRA adapters over one copy of a model): the
// KV-cache engine and the T5 rows add each row's adapter to every product and read its token
// rows, and give what the merged model gives (within 1e-5), row by row, whatever rows without
// an adapter or with another share the step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/rng.h"
#include "infer/engine.h"
#include "infer/engine_impl.h"
#include "models/gpt.h"
#include "models/load.h"
#include "models/t5.h"
#include "nn/lora.h"
#include "nn/token_rows.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;

namespace {

// The worst |x - y| over the largest |y|.
double rel_diff(const float* x, const float* y, size_t n) {
  double worst = 0, scale = 1e-30;
  for (size_t i = 0; i < n; i++) {
    worst = std::max(worst, double(std::fabs(x[i] - y[i])));
    scale = std::max(scale, double(std::fabs(y[i])));
  }
  return worst / scale;
}

void randomize(Param& p, uint64_t seed, float amp) {
  Rng rng(seed);
  for (int64_t i = 0; i < p.numel(); i++) p.value.f32()[i] = amp * (rng.uniform() - 0.5f);
}

// A trained-looking adapter on a model's Linears and token rows: B no longer zero, the rows moved
// away from the table's. `adapter` keeps it apart; then the rows are synced and it is merged.
LoraWeights train_like(LoraAttachment& att, TokenRowsAttachment& rows, uint64_t seed) {
  for (size_t i = 0; i < att.adapters.size(); i++) randomize(att.adapters[i]->b(), seed + i, 0.6f);
  randomize(rows.embedding->rows(), seed + 100, 1.0f);
  if (rows.head) randomize(rows.head->rows(), seed + 101, 1.0f);
  LoraWeights w = detach_lora(att, &rows);
  rows.sync();
  att.merge();
  return w;
}

struct GptPair {
  GptConfig cfg;
  ParamStore store;
  std::unique_ptr<Gpt> gpt;
  std::shared_ptr<InferenceModel> base, merged;
  std::shared_ptr<const LoraWeights> adapter;
  const std::vector<int32_t> tokens = {20, 21};  // the adapter's own rows
  LoraAttachment att;                            // the Gpt's Linears point at these
  std::unique_ptr<TokenRowsAttachment> rows;

  GptPair(ActKind act, bool tie) {
    cfg.vocab_size = 23;
    cfg.block_size = 16;
    cfg.n_layer = 2;
    cfg.n_head = 2;
    cfg.n_embd = 16;
    cfg.ffn_hidden = 24;
    cfg.bias = true;
    cfg.act = act;
    cfg.tie_head = tie;
    cfg.init_std = 0.3f;
    gpt = std::make_unique<Gpt>(cfg, store);
    LoraConfig lc;
    lc.r = 4;
    lc.alpha = 8;
    lc.targets = {"attn_q", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    att = attach_lora(gpt->linears(), store, lc);
    rows = attach_token_rows(gpt->token_tables(), store, tokens);
    store.finalize(7);
    rows->capture();
    base = std::make_shared<InferenceModel>(gpt_model_config(cfg), store, WeightFormat::f32);
    adapter = std::make_shared<const LoraWeights>(train_like(att, *rows, 40));
    merged = std::make_shared<InferenceModel>(gpt_model_config(cfg), store, WeightFormat::f32);
  }
};

void check_gpt(ActKind act, bool tie) {
  SCOPED_TRACE(std::string(tie ? "tied" : "untied") + (act == ActKind::swiglu ? " swiglu" : ""));
  GptPair m(act, tie);
  const std::unique_ptr<EngineLora> lora = resolve_lora(m.base->impl(), m.adapter);
  const std::vector<int32_t> a = {3, 20, 7, 21, 1}, b = {5, 21, 9};
  // One prompt alone: the adapter over the base = the merged model, every position.
  {
    KvSeq kb(*m.base), km(*m.merged);
    kb.impl().lora = lora.get();
    const std::vector<float> x = forward_tokens(*m.base, kb, a);
    const std::vector<float> y = forward_tokens(*m.merged, km, a);
    EXPECT_LT(rel_diff(x.data(), y.data(), y.size()), 1e-5);
  }
  // Batched: an adapted row, a base row and another adapted row in one pass, prefill then a
  // decoded token each: each row as the model it asked for gives it.
  KvSeq s1(*m.base), s2(*m.base), s3(*m.base), r1(*m.merged), r2(*m.base), r3(*m.merged);
  s1.impl().lora = lora.get();
  s3.impl().lora = lora.get();
  for (const std::vector<std::vector<int32_t>>& step :
       {std::vector<std::vector<int32_t>>{a, b, b}, {{21}, {4}, {20}}}) {
    const std::vector<float> got = forward_last(*m.base, {&s1, &s2, &s3}, step);
    const std::vector<float> want1 = forward_last(*m.merged, {&r1}, {step[0]});
    const std::vector<float> want2 = forward_last(*m.base, {&r2}, {step[1]});
    const std::vector<float> want3 = forward_last(*m.merged, {&r3}, {step[2]});
    const size_t V = size_t(m.cfg.vocab_size);
    EXPECT_LT(rel_diff(got.data(), want1.data(), V), 1e-5);
    EXPECT_LT(rel_diff(got.data() + V, want2.data(), V), 1e-6);  // the base row: untouched
    EXPECT_LT(rel_diff(got.data() + 2 * V, want3.data(), V), 1e-5);
  }
  // The adapter changes the answer (so the checks above could fail).
  KvSeq k0(*m.base), k1(*m.merged);
  const std::vector<float> x = forward_tokens(*m.base, k0, a);
  const std::vector<float> y = forward_tokens(*m.merged, k1, a);
  EXPECT_GT(rel_diff(x.data(), y.data(), y.size()), 1e-2);
}

}  // namespace

TEST(lora_serving, engine_rows_with_an_adapter_equal_the_merged_model) {
  check_gpt(ActKind::gelu, false);
  check_gpt(ActKind::swiglu, true);
}

TEST(lora_serving, engine_requests_choose_their_adapter) {
  GptPair m(ActKind::gelu, false);
  auto tok = std::make_shared<CharTokenizer>(
      CharTokenizer::from_chars({U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j', U'k',
                                 U'l', U'm', U'n', U'o', U'p', U'q', U'r', U's'}));
  ASSERT_LE(tok->vocab_size(), m.cfg.vocab_size);
  auto adapter = std::make_shared<ServedAdapter>();
  adapter->name = "tuned";
  adapter->weights = m.adapter;
  adapter->tok = tok;
  auto answer = [&](Engine& e, std::vector<std::shared_ptr<const ServedAdapter>> ads) {
    std::vector<std::vector<int32_t>> out(ads.size());
    for (size_t i = 0; i < ads.size(); i++) {
      SeqRequest r;
      r.prompt = {3, 20, int32_t(7 + i)};
      r.opts.max_new = 6;
      r.opts.stop_at_eos = false;
      r.adapter = ads[i];
      r.on_done = [&out, i](const GenerateResult& g, int) { out[i] = g.tokens; };
      e.add(std::move(r));
    }
    while (e.step() > 0) {
    }
    return out;
  };
  Engine shared(m.base, tok), merged(m.merged, tok), base(m.base, tok);
  const auto got = answer(shared, {adapter, nullptr, adapter});
  const auto with = answer(merged, {nullptr, nullptr, nullptr});
  const auto without = answer(base, {nullptr, nullptr, nullptr});
  EXPECT_EQ(got[0], with[0]);
  EXPECT_EQ(got[1], without[1]);
  EXPECT_EQ(got[2], with[2]);
  EXPECT_NE(with[0], without[0]);  // the adapter answers differently
}

namespace {

struct T5Pair {
  ModelConfig cfg{"t5"};
  std::unique_ptr<ParamStore> base_store = std::make_unique<ParamStore>();
  std::unique_ptr<Model> base;
  ParamStore store;
  std::unique_ptr<Model> merged;
  std::shared_ptr<const LoraWeights> adapter;

  explicit T5Pair(bool v10) {
    T5Config& c = cfg.as<T5Config>();
    c.vocab_size = 14;
    c.d_model = 16;
    c.d_kv = 8;
    c.d_ff = 32;
    c.num_layers = 2;
    c.num_decoder_layers = 2;
    c.num_heads = 2;
    c.relative_attention_num_buckets = 8;
    c.relative_attention_max_distance = 6;
    c.dropout_rate = 0.0f;
    c.eos_token_id = 1;
    c.feed_forward_proj = v10 ? T5Ffn::relu : T5Ffn::gated_gelu;
    c.tie_word_embeddings = v10;
    c.initializer_factor = 2.0f;
    LoraConfig lc;
    lc.r = 4;
    lc.alpha = 8;
    lc.targets = {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"};
    BuiltModel b = build_model(cfg, lc, store);
    merged = std::move(b.model);
    rows_ = attach_token_rows(merged->token_tables(), store, {12, 13});
    store.finalize(9);
    rows_->capture();
    // The base: the same weights without the adapter, in a store of its own.
    base = build_model(cfg, *base_store);
    base_store->finalize(0);
    for (Param& p : base_store->params())
      std::copy(store.get(p.name).value.f32(), store.get(p.name).value.f32() + p.numel(),
                p.value.f32());
    adapter = std::make_shared<const LoraWeights>(train_like(*b.lora, *rows_, 60));
    lora_ = std::move(b.lora);
  }

 private:
  std::unique_ptr<LoraAttachment> lora_;       // the merged model's Linears point at it
  std::unique_ptr<TokenRowsAttachment> rows_;  // and its tables at these
};

void check_t5(bool v10) {
  SCOPED_TRACE(v10 ? "v1.0" : "mT5");
  T5Pair m(v10);
  auto rows = m.base->start_rows();
  auto ref = m.merged->start_rows();
  auto plain = m.base->start_rows();
  const std::vector<int32_t> src = {5, 12, 7, 13, 1}, other = {9, 4, 1};
  const int a = rows->add(src, m.adapter.get()), b = rows->add(other),
            c = rows->add(other, m.adapter.get());
  const int ra = ref->add(src), rb = plain->add(other), rc = ref->add(other);
  const int fork = rows->fork(a), rfork = ref->fork(ra);
  std::vector<int32_t> ids = {0, 0, 0, 0};
  const int64_t V = 14;
  for (int step = 0; step < 4; step++) {
    const std::vector<int> rs = {a, b, c, fork};
    const Tensor got = rows->step(rs, ids);
    const Tensor wa =
        ref->step(std::vector<int>{ra, rc, rfork}, std::vector<int32_t>{ids[0], ids[2], ids[3]});
    const Tensor wb = plain->step(std::vector<int>{rb}, std::vector<int32_t>{ids[1]});
    EXPECT_LT(rel_diff(got.f32(), wa.f32(), size_t(V)), 1e-5) << step;
    EXPECT_LT(rel_diff(got.f32() + V, wb.f32(), size_t(V)), 1e-6) << step;
    EXPECT_LT(rel_diff(got.f32() + 2 * V, wa.f32() + V, size_t(V)), 1e-5) << step;
    EXPECT_LT(rel_diff(got.f32() + 3 * V, wa.f32() + 2 * V, size_t(V)), 1e-5) << step;
    ids = {12, int32_t(3 + step), 13, int32_t(5 + step)};  // the adapter's rows as inputs too
  }
  // The adapter changes the answer.
  auto base_rows = m.base->start_rows();
  const int p = base_rows->add(src);
  const Tensor x = base_rows->step(std::vector<int>{p}, std::vector<int32_t>{0});
  auto again = m.merged->start_rows();
  const int q = again->add(src);
  const Tensor y = again->step(std::vector<int>{q}, std::vector<int32_t>{0});
  EXPECT_GT(rel_diff(x.f32(), y.f32(), size_t(V)), 1e-2);
}

}  // namespace

TEST(lora_serving, t5_rows_with_an_adapter_equal_the_merged_model) {
  check_t5(false);
  check_t5(true);
}
