#include <gtest/gtest.h>

#include "models/gpt.h"
#include "op_test.h"

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
