// LoRA on the GPT's Linears: PEFT's module matching, step 0 equal to the base, gradients only
// in A and B (checked against central differences), merged = unmerged, and a frozen base that
// training leaves untouched bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/gemm_bf16.h"
#include "models/gpt.h"
#include "models/peft.h"
#include "nn/lora.h"
#include "op_test.h"
#include "train/optimizer.h"

using namespace aero;

namespace {

GptConfig small_gpt() {
  GptConfig c;
  c.vocab_size = 23;
  c.block_size = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  c.ffn_hidden = 24;
  c.bias = true;
  c.init_std = 0.3f;
  return c;
}

LoraConfig lora(std::vector<std::string> targets, int r = 4) {
  LoraConfig c;
  c.r = r;
  c.alpha = 8;
  c.targets = std::move(targets);
  return c;
}

std::vector<float> logits(Gpt& m, const Tensor& ids) {
  Tape tape;
  tape.training = false;
  NoGrad ng(tape);
  const Tensor y = m.forward(tape, ids).value().contiguous_copy();
  return std::vector<float>(y.f32(), y.f32() + y.numel());
}

std::vector<float> values(const ParamStore& s) {
  return std::vector<float>(s.values_data(), s.values_data() + s.buffer_floats());
}

}  // namespace

TEST(lora, modules_are_matched_as_peft_matches_them) {
  const LoraConfig q = lora({"q", "wi_0"});
  EXPECT_TRUE(lora_matches(q, "encoder.block.0.layer.0.SelfAttention.q"));
  EXPECT_TRUE(lora_matches(q, "decoder.block.3.layer.1.EncDecAttention.q"));
  EXPECT_TRUE(lora_matches(q, "q"));
  EXPECT_TRUE(lora_matches(q, "decoder.block.3.layer.2.DenseReluDense.wi_0"));
  EXPECT_FALSE(lora_matches(q, "decoder.block.3.layer.2.DenseReluDense.wo"));
  EXPECT_FALSE(lora_matches(q, "encoder.block.0.layer.0.SelfAttention.qq"));
  EXPECT_FALSE(lora_matches(q, "decoder.block.3.layer.2.DenseReluDense.wi_01"));
  LoraConfig re;
  re.target_regex = R"(.*\.(q|v))";  // a whole-name match, as PEFT's re.fullmatch
  EXPECT_TRUE(lora_matches(re, "encoder.block.0.layer.0.SelfAttention.v"));
  EXPECT_FALSE(lora_matches(re, "encoder.block.0.layer.0.SelfAttention.o"));
  EXPECT_FALSE(lora_matches(re, "q.x"));
  EXPECT_FLOAT_EQ(lora({"q"}, 16).scale(), 0.5f);
  LoraConfig rs = lora({"q"}, 16);
  rs.rslora = true;
  EXPECT_FLOAT_EQ(rs.scale(), 2.0f);
}

TEST(lora, a_target_regex_that_does_not_compile_is_a_named_error) {
  LoraConfig re = lora({});
  re.targets.clear();
  re.target_regex = "(attn_q";
  try {
    re.validate();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target_regex '(attn_q' is not a regular expression"),
              std::string::npos)
        << e.what();
  }
}

// Numbers that libstdc++ would overflow reading (back-references, repeat counts) are refused
// before std::regex sees them; ordinary counts and digits in names still compile.
TEST(lora, a_target_regex_with_a_huge_count_is_a_named_error) {
  LoraConfig re = lora({});
  re.targets.clear();
  for (const char* bad : {R"(A.*\331333333333333333333.q$)", "q{99999999999}", "q{1,123456}"}) {
    re.target_regex = bad;
    try {
      re.validate();
      ADD_FAILURE() << "expected an error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is too large for a back-reference or a repeat count"),
                std::string::npos)
          << e.what();
    }
  }
  for (const char* good : {R"(layers\.12345678\.(q|v))", "q{2,16}", R"((a)\1)", "block_1024"}) {
    re.target_regex = good;
    EXPECT_NO_THROW(re.validate()) << good;
  }
}

// `aero import peft` grows the base's tables by the adapter's added tokens only: ids past the
// base must follow it without a gap, so a config cannot make aero allocate rows it never fills.
TEST(lora, peft_added_tokens_follow_the_base_vocabulary) {
  PeftAdapter ad;
  auto vocab = [&](std::vector<int> ids) {
    ad.token_rows["token_embd"].first = std::move(ids);
    return peft_vocab_size(ad, 13);
  };
  EXPECT_EQ(vocab({3, 7}), 13);
  EXPECT_EQ(vocab({14, 2, 13}), 15);
  EXPECT_THROW(vocab({13, 15}), Error);
  EXPECT_THROW(vocab({1000000000}), Error);
  EXPECT_THROW(vocab({2147483647}), Error);
  EXPECT_THROW(vocab({-1, 13}), Error);
  ad.token_rows.clear();
  EXPECT_EQ(peft_vocab_size(ad, 13), 13);
}

TEST(lora, attaches_freezes_and_starts_at_the_base) {
  const GptConfig cfg = small_gpt();
  ParamStore base_store, store;
  Gpt base(cfg, base_store), m(cfg, store);
  base_store.finalize(5);
  const LoraAttachment att = attach_lora(m.linears(), store, lora({"attn_q", "attn_v", "ffn_up"}));
  store.finalize(5);                  // the same seed: the base weights come out the same
  ASSERT_EQ(att.modules.size(), 6u);  // 3 per block, 2 blocks
  // r (in + out) per module: attn_q and attn_v 4 (16 + 16), ffn_up 4 (16 + 24).
  EXPECT_EQ(att.params, 2 * (2 * 4 * 32 + 4 * 40));
  EXPECT_EQ(store.count("", /*trainable_only=*/true), att.params);
  for (const Param& p : store.params()) {
    const bool adapter = p.name.find(".lora_") != std::string::npos;
    EXPECT_EQ(p.trainable, adapter) << p.name;
    EXPECT_EQ(p.grad.defined(), adapter) << p.name;  // no gradient buffer for the base
  }
  const Tensor ids = test::random_ids({2, 6}, cfg.vocab_size, 1);
  EXPECT_EQ(logits(m, ids), logits(base, ids));  // B = 0: step 0 is the base, exactly
  test::expect_error([&] { attach_lora(m.linears(), store, lora({"attn_z"})); }, "[lora]",
                     "no module matches");
}

TEST(lora, gradients_of_a_and_b_match_central_differences) {
  const GptConfig cfg = small_gpt();
  ParamStore store;
  Gpt m(cfg, store);
  const LoraAttachment att = attach_lora(m.linears(), store, lora({"attn_k", "ffn_down"}));
  store.finalize(2);
  for (const auto& ad : att.adapters)  // B away from zero, so A gets a gradient too
    for (int64_t i = 0; i < ad->b().numel(); i++) ad->b().value.f32()[i] = 0.05f * float(i % 7 - 3);
  const Tensor ids = test::random_ids({2, 6}, cfg.vocab_size, 3);
  const Tensor tgt = test::random_ids({2, 6}, cfg.vocab_size, 4);
  auto loss_of = [&] {
    Tape tape;
    tape.training = false;
    NoGrad ng(tape);
    return double(cross_entropy(m.forward(tape, ids), tgt).value().f32()[0]);
  };
  {
    Tape tape;
    tape.backward(cross_entropy(m.forward(tape, ids), tgt));
  }
  for (Param& p : store.params()) {
    if (!p.trainable) continue;
    const int64_t n = p.numel();
    std::vector<float> g(p.grad.f32(), p.grad.f32() + n), w(p.value.f32(), p.value.f32() + n);
    double gg = 0;
    for (float x : g) gg += double(x) * x;
    ASSERT_GT(gg, 0.0) << p.name;
    const double eps = 1e-2, norm = std::sqrt(gg);
    auto at = [&](double e) {
      for (int64_t i = 0; i < n; i++) p.value.f32()[i] = float(w[i] + e * g[i] / norm);
      return loss_of();
    };
    const double numeric = (at(eps) - at(-eps)) / (2 * eps);
    std::copy(w.begin(), w.end(), p.value.f32());
    EXPECT_NEAR(numeric, norm, 2e-2 * norm + 1e-5) << p.name;
  }
}

TEST(lora, merged_equals_unmerged_and_training_leaves_the_base_untouched) {
  const GptConfig cfg = small_gpt();
  ParamStore store;
  Gpt m(cfg, store);
  LoraConfig lc = lora({"attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down"});
  lc.dropout = 0.1f;
  LoraAttachment att = attach_lora(m.linears(), store, lc);
  store.finalize(9);
  const std::vector<float> before = values(store);
  std::vector<float> base_before;
  for (const Param& p : store.params())
    if (!p.trainable)
      base_before.insert(base_before.end(), p.value.f32(), p.value.f32() + p.numel());
  // A few AdamW steps with weight decay: only A and B may move.
  Optimizer opt(store, {.kind = OptimKind::adamw, .lr = 1e-2f, .weight_decay = 0.1f});
  const Tensor ids = test::random_ids({2, 6}, cfg.vocab_size, 5);
  const Tensor tgt = test::random_ids({2, 6}, cfg.vocab_size, 6);
  for (int step = 0; step < 4; step++) {
    Tape tape{uint64_t(step)};
    tape.training = true;
    tape.backward(cross_entropy(m.forward(tape, ids), tgt));
    opt.step();
    store.zero_grad();
  }
  std::vector<float> base_after;
  for (const Param& p : store.params())
    if (!p.trainable) base_after.insert(base_after.end(), p.value.f32(), p.value.f32() + p.numel());
  EXPECT_EQ(base_after, base_before);  // bit for bit
  EXPECT_NE(values(store), before);    // the adapters did move
  const std::vector<float> unmerged = logits(m, ids);
  att.merge();
  const std::vector<float> merged = logits(m, ids);
  ASSERT_EQ(merged.size(), unmerged.size());
  for (size_t i = 0; i < merged.size(); i++) EXPECT_NEAR(merged[i], unmerged[i], 1e-5) << i;
  att.unmerge();
  const std::vector<float> again = logits(m, ids);
  for (size_t i = 0; i < again.size(); i++) EXPECT_NEAR(again[i], unmerged[i], 1e-5) << i;
  size_t k = 0;
  for (const Param& p : store.params()) {
    if (p.trainable) continue;
    for (int64_t i = 0; i < p.numel(); i++, k++)
      ASSERT_NEAR(p.value.f32()[i], base_before[k], 1e-6) << p.name;
  }
}

// The bf16 frozen base (train.precision = bf16 under LoRA): stored in bf16, it multiplies as the
// bf16 products of an f32 base holding the same (bf16-representable) values do, bit for bit; its
// loss stays within bf16 rounding of the fp32 run; training leaves it untouched; and a merge
// happens in f32 on the widened values.
TEST(lora, a_bf16_base_trains_as_bf16_products_do_and_stays_frozen) {
  const GptConfig cfg = small_gpt();
  ParamStore fs, bs;  // an f32 base and a bf16 one
  Gpt fm(cfg, fs), bm(cfg, bs);
  LoraConfig lc = lora({"attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down"});
  LoraAttachment fa = attach_lora(fm.linears(), fs, lc);
  LoraAttachment ba = attach_lora(bm.linears(), bs, lc);
  fs.finalize(9);
  bs.finalize(9, /*gradients=*/true, /*frozen_bf16=*/true);
  ASSERT_GT(bs.buffer_bf16(), 0);
  for (const Param& p : bs.params()) EXPECT_EQ(p.is_bf16(), !p.trainable && p.bf16_ok) << p.name;
  for (LoraAttachment* a : {&fa, &ba})  // B away from zero, so A gets a gradient too
    for (const auto& ad : a->adapters)
      for (int64_t i = 0; i < ad->b().numel(); i++)
        ad->b().value.f32()[i] = 0.05f * float(i % 7 - 3);
  const Tensor ids = test::random_ids({2, 6}, cfg.vocab_size, 5);
  const Tensor tgt = test::random_ids({2, 6}, cfg.vocab_size, 6);
  auto loss_and_grads = [&](Gpt& m, ParamStore& s, bool bf16) {
    s.zero_grad();
    Tape tape;
    tape.bf16_products = bf16;
    const Var loss = cross_entropy(m.forward(tape, ids), tgt);
    tape.backward(loss);
    std::vector<float> r{loss.value().f32()[0]};
    r.insert(r.end(), s.grads_data(), s.grads_data() + s.grad_floats());
    return r;
  };
  const std::vector<float> fp32 = loss_and_grads(fm, fs, false);
  const std::vector<float> bf16 = loss_and_grads(bm, bs, true);
  EXPECT_NEAR(bf16[0], fp32[0], 2e-2 * std::fabs(fp32[0]));  // bf16 rounding, not a bug's size
  // The f32 base rounded to bf16 in place: the same numbers, so the same bits.
  for (Param& p : fs.params())
    if (!p.trainable && p.bf16_ok) {
      std::vector<uint16_t> r(size_t(p.numel()));
      round_to_bf16(p.value.f32(), r.data(), p.numel());
      bf16_to_f32(r.data(), p.value.f32(), p.numel());
    }
  EXPECT_EQ(loss_and_grads(fm, fs, true), bf16);

  const std::vector<uint16_t> base(bs.values_bf16_data(), bs.values_bf16_data() + bs.buffer_bf16());
  Optimizer opt(bs, {.kind = OptimKind::adamw, .lr = 1e-2f, .weight_decay = 0.1f});
  for (int step = 0; step < 3; step++) {
    Tape tape{uint64_t(step)};
    tape.training = true;
    tape.bf16_products = true;
    tape.backward(cross_entropy(bm.forward(tape, ids), tgt));
    opt.step();
    bs.zero_grad();
  }
  EXPECT_EQ(std::vector<uint16_t>(bs.values_bf16_data(), bs.values_bf16_data() + bs.buffer_bf16()),
            base);  // bit for bit

  // Merge: W = widen(W_bf16) + scale · B·A in f32; unmerge gives the widened values back.
  Param& w = ba.modules[0]->weight_param();
  const LoraAdapter& ad = *ba.adapters[0];
  std::vector<float> widened(size_t(w.numel()));
  read_values_f32(w, 0, w.numel(), widened.data());
  ba.merge();
  ASSERT_FALSE(w.is_bf16());
  const int64_t out = w.shape.d[0], in = w.shape.d[1], r = ad.a().shape.d[0];
  for (int64_t o = 0; o < out; o++)
    for (int64_t i = 0; i < in; i++) {
      double d = 0;
      for (int64_t k = 0; k < r; k++)
        d += double(ad.b().value.f32()[o * r + k]) * ad.a().value.f32()[k * in + i];
      ASSERT_NEAR(w.value.f32()[o * in + i], widened[size_t(o * in + i)] + lc.scale() * d, 1e-6);
    }
  ba.unmerge();
  for (int64_t i = 0; i < w.numel(); i++) ASSERT_NEAR(w.value.f32()[i], widened[size_t(i)], 1e-6);
}
