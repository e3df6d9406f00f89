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
  GptParamReport r = gpt.param_report();
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

TEST(gpt, forward_shapes_and_options) {
  for (std::string pos : {"learned", "rope"})
    for (std::string act : {"gelu", "relu", "swiglu"})
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
        cfg.tie_head = pos == "rope";
        cfg.norm = act == "swiglu" ? "rmsnorm" : "layernorm";
        ParamStore store;
        Gpt gpt(cfg, store);
        store.finalize(3);
        Tape tape(1);
        Tensor ids = test::random_ids({2, 5}, 11, 4);
        Var logits = gpt.forward(tape, ids);
        EXPECT_EQ(logits.shape(), (Shape{2, 5, 11}));
        Var loss = cross_entropy(logits, test::random_ids({2, 5}, 11, 5));
        tape.backward(loss);
        double gsum = 0;
        for (auto& p : store.params())
          for (int64_t i = 0; i < p.numel(); i++) gsum += std::fabs(p.grad.f32()[i]);
        EXPECT_GT(gsum, 0.0) << pos << " " << act;
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
