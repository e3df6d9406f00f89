#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "models/gpt.h"
#include "op_test.h"
#include "train/optimizer.h"

using namespace aero;

// Seed 001's arithmetic: vocab 10,000, d_model 64, 3 layers, FFN 256, RoPE, no biases.
TEST(gpt, seed_tiny_parameter_count) {
  GptConfig cfg;  // the defaults are seed 001's model
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(1);
  ParamReport r = gpt.param_report();
  auto row = [&](const std::string& part) {
    for (auto& x : r.rows)
      if (x.part == part) return x.count;
    return int64_t(-1);
  };
  EXPECT_EQ(row("token embedding"), 640000);
  EXPECT_EQ(row("attention per layer"), 16384);
  EXPECT_EQ(row("ffn per layer"), 32768);
  EXPECT_EQ(row("head"), 640000);
  EXPECT_EQ(r.weights, 1427456);
  EXPECT_EQ(r.norms, 3 * 2 * 2 * 64 + 2 * 64);  // LayerNorm weight + bias, 2 per block, final
  EXPECT_EQ(r.biases, 0);
}

// Every option combination: logits of the right shape, and the gradient of every parameter
// checked on its own against a central difference of the loss along that gradient (a
// parameter left out of the graph, or a wrong backward, fails by name).
TEST(gpt, forward_shapes_and_every_parameter_gradient) {
  for (PosKind pos : {PosKind::learned, PosKind::rope})
    for (ActKind act : {ActKind::gelu, ActKind::relu, ActKind::swiglu, ActKind::geglu})
      for (bool pre_ln : {true, false}) {
        GptConfig cfg;
        cfg.vocab_size = 11;
        cfg.block_size = 8;
        cfg.n_layer = 2;
        cfg.n_head = 2;
        cfg.n_embd = 8;
        cfg.ffn_hidden = 12;
        cfg.pos = pos;
        cfg.act = act;
        cfg.pre_ln = pre_ln;
        cfg.bias = true;
        cfg.tie_head = pos == PosKind::rope;
        cfg.norm = is_gated(act) ? NormKind::rmsnorm : NormKind::layernorm;
        cfg.init_std = 0.3f;
        const std::string what = std::string(pos_names().name(pos)) + " " + act_names().name(act) +
                                 (pre_ln ? " pre-LN" : " post-LN");
        ParamStore store;
        Gpt gpt(cfg, store);
        store.finalize(3);
        // Non-zero norms and biases, so their gradients are not special cases.
        for (Param& p : store.params())
          if (p.shape.ndim == 1)
            for (int64_t i = 0; i < p.numel(); i++) p.value.f32()[i] += 0.1f * float(i % 3);
        const Tensor ids = test::random_ids({2, 5}, 11, 4), tgt = test::random_ids({2, 5}, 11, 5);
        auto loss_of = [&] {
          Tape tape;
          tape.training = false;
          NoGrad ng(tape);
          return double(cross_entropy(gpt.forward(tape, ids), tgt).value().f32()[0]);
        };
        {
          Tape tape(1);
          Var logits = gpt.forward(tape, ids);
          EXPECT_EQ(logits.shape(), (Shape{2, 5, 11}));
          tape.backward(cross_entropy(logits, tgt));
        }
        for (Param& p : store.params()) {
          const int64_t n = p.numel();
          std::vector<float> g(p.grad.f32(), p.grad.f32() + n), w(p.value.f32(), p.value.f32() + n);
          double gg = 0;
          for (float x : g) gg += double(x) * x;
          ASSERT_GT(gg, 0.0) << what << ": no gradient reaches " << p.name;
          // d/de L(w + e·g/|g|) at e = 0 is |g|.
          const double eps = 1e-2, norm = std::sqrt(gg);
          auto at = [&](double e) {
            for (int64_t i = 0; i < n; i++) p.value.f32()[i] = float(w[i] + e * g[i] / norm);
            return loss_of();
          };
          const double numeric = (at(eps) - at(-eps)) / (2 * eps);
          std::copy(w.begin(), w.end(), p.value.f32());
          EXPECT_NEAR(numeric, norm, 2e-2 * norm + 1e-4) << what << ": " << p.name;
        }
      }
}

TEST(gpt, bad_configs_and_inputs_are_errors) {
  GptConfig cfg;
  cfg.n_embd = 30;
  cfg.n_head = 4;
  ParamStore store;
  test::expect_error([&] { Gpt g(cfg, store); }, "[gpt]", "not divisible by n_head");
  GptConfig ok;
  ok.block_size = 4;
  ok.vocab_size = 5;
  ParamStore s2;
  Gpt g(ok, s2);
  s2.finalize(1);
  Tape tape;
  test::expect_error(
      [&] {
        g.forward(tape, test::random_ids({1, 5}, 5, 1));
      },
      "[gpt]", "does not fit the context of 4");
  GptConfig c3;
  test::expect_error([&] { gpt_config_fields().set_from_string(c3, "act", "tanh"); }, "[config]",
                     "model.act: 'tanh' is not one of: gelu, relu, swiglu");
}

// Training in bf16 with the memory savings (the MLP activation stored in bf16, gradient buffers
// of intermediates reused once their op's backward is done) gives the same weights, bit for bit,
// as keeping every activation in f32 and every gradient, after several AdamW steps with dropout;
// so do fp32 training with reused gradients and bf16 with checkpointed blocks. The savings show
// in the tape's peaks, so the new paths were taken.
TEST(gpt, bf16_storage_and_reused_gradients_train_the_same_bits) {
  GptConfig cfg;
  cfg.vocab_size = 50;
  cfg.block_size = 16;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = 32;
  cfg.ffn_hidden = 96;
  cfg.pos = PosKind::learned;
  cfg.act = ActKind::gelu;
  cfg.bias = true;
  cfg.tie_head = true;
  cfg.dropout_attn = 0.1f;
  cfg.dropout_resid = 0.1f;
  const Tensor ids = test::random_ids({3, 16}, 50, 4), tgt = test::random_ids({3, 16}, 50, 5);
  struct Run {
    std::vector<float> values;
    size_t value_bytes = 0, grad_bytes = 0;
  };
  auto train = [&](bool bf16, bool storage, bool keep_grads, int checkpoint_every) {
    ParamStore store;
    Gpt gpt(cfg, store);
    store.finalize(7);
    Optimizer opt(store, {.kind = OptimKind::adamw, .lr = 1e-2f, .weight_decay = 0.1f});
    Run r;
    for (int step = 0; step < 4; step++) {
      Tape tape{uint64_t(step + 1)};
      tape.bf16_products = bf16;
      tape.bf16_storage = storage;
      tape.keep_grads = keep_grads;
      tape.checkpoint_every = checkpoint_every;
      tape.backward(cross_entropy(gpt.forward(tape, ids), tgt));
      opt.step();
      store.zero_grad();
      r.value_bytes = tape.peak_value_bytes();
      r.grad_bytes = tape.peak_grad_bytes();
    }
    r.values.assign(store.values_data(), store.values_data() + store.count());
    return r;
  };
  auto same_bits = [](const Run& a, const Run& b) {
    return a.values.size() == b.values.size() &&
           std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
  };
  const Run before = train(true, false, true, 0), after = train(true, true, false, 0);
  EXPECT_TRUE(same_bits(before, after));
  EXPECT_LT(after.value_bytes, before.value_bytes);
  EXPECT_LT(after.grad_bytes, before.grad_bytes);
  EXPECT_TRUE(same_bits(before, train(true, true, false, 1)));
  const Run fp32 = train(false, false, true, 0), fp32_reused = train(false, false, false, 0);
  EXPECT_TRUE(same_bits(fp32, fp32_reused));
  EXPECT_LT(fp32_reused.grad_bytes, fp32.grad_bytes);
  EXPECT_FALSE(same_bits(before, fp32));  // bf16 products really ran

  // Without keep_grads an op's output keeps no gradient after backward; a leaf keeps its own.
  Tape tape;
  Var x = tape.leaf(test::random_tensor({2, 3}, 1), true);
  Var y = scale(x, 2.0f);
  tape.backward_from(y, Tensor::full({2, 3}, 1.0f));
  EXPECT_FALSE(y.grad().defined());
  EXPECT_EQ(x.grad().f32()[0], 2.0f);
}
