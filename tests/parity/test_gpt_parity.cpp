// A 2-layer GPT against a float64 PyTorch reference (tests/reference/gpt_ref.py): logits, loss,
// every parameter gradient, then 5 AdamW steps through ParamStore + Optimizer. Both position
// variants (learned embeddings, RoPE), each built twice: op by op here, and as src/models/gpt's
// Gpt with the matching configuration, so the model class is held to the same truth.
//
// Tolerances, as max |a - b| / max |b| per tensor:
//   logits, loss, gradients: 1e-5. aero computes in float32 (unit roundoff 6e-8); PyTorch in
//     float32 on the same model is within 1.1e-6 of the float64 truth on every one of these
//     tensors, so 1e-5 leaves margin and still catches a wrong op.
//   the 5 AdamW losses: 1e-5, same reasoning (PyTorch float32: 5e-7).
//   the weights after 5 AdamW steps: 1e-3. Adam divides each gradient by its own running RMS,
//     so a float32 error that is tiny against the tensor's largest gradient becomes a large
//     relative error on elements whose gradient is near zero, and their steps (about lr) differ;
//     PyTorch's own float32 run is 2.1e-4 from the float64 truth here.
//   attn_k.bias with learned positions: its true gradient is exactly zero (adding one vector to
//     every key shifts all scores of a query by a constant, which softmax ignores), so the
//     reference holds only roundoff and a relative error means nothing. Its gradient is checked
//     as roundoff, max |a| <= 1e-5 max |grad attn_k.weight|; its final weights are not compared
//     (Adam turns roundoff into steps of up to lr, with no effect on the output: the losses
//     match).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/gpt.h"
#include "nn/params.h"
#include "parity_util.h"
#include "train/optimizer.h"

using namespace aero;
using namespace aero::parity;

namespace {

struct RefConfig {
  int64_t V, C, L, NH, T, B, block_size;
  bool rope;
};

RefConfig read_config(const SafetensorsFile& f) {
  auto i = [&](const char* k) { return int64_t(std::stoll(meta(f, k))); };
  return {i("vocab"), i("n_embd"), i("n_layer"),    i("n_head"),
          i("T"),     i("B"),      i("block_size"), meta(f, "pos") == "rope"};
}

// Same names and shapes as param_shapes() in gpt_ref.py; decay on matrices only (the default).
void declare_gpt(ParamStore& s, const RefConfig& c) {
  s.declare("token_embd.weight", {c.V, c.C}, Init::zeros);
  if (!c.rope) s.declare("position_embd.weight", {c.block_size, c.C}, Init::zeros);
  for (int64_t l = 0; l < c.L; l++) {
    std::string b = "blk." + std::to_string(l) + ".";
    s.declare(b + "attn_norm.weight", {c.C}, Init::ones);
    s.declare(b + "attn_norm.bias", {c.C}, Init::zeros);
    for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      s.declare(b + m + ".weight", {c.C, c.C}, Init::zeros);
      s.declare(b + m + ".bias", {c.C}, Init::zeros);
    }
    s.declare(b + "ffn_norm.weight", {c.C}, Init::ones);
    s.declare(b + "ffn_norm.bias", {c.C}, Init::zeros);
    s.declare(b + "ffn_up.weight", {4 * c.C, c.C}, Init::zeros);
    s.declare(b + "ffn_up.bias", {4 * c.C}, Init::zeros);
    s.declare(b + "ffn_down.weight", {c.C, 4 * c.C}, Init::zeros);
    s.declare(b + "ffn_down.bias", {c.C}, Init::zeros);
  }
  s.declare("output_norm.weight", {c.C}, Init::ones);
  s.declare("output_norm.bias", {c.C}, Init::zeros);
  s.declare("output.weight", {c.V, c.C}, Init::zeros);
}

// The model written out op by op. idx (B, T) i32 -> logits (B, T, V).
Var gpt_logits(Tape& tape, ParamStore& s, const RefConfig& c, const Tensor& idx) {
  auto P = [&](const std::string& name) { return s.var(tape, name); };
  Var x = embedding(P("token_embd.weight"), idx);  // (B, T, C)
  if (!c.rope) {
    Tensor pos = Tensor::empty({c.T}, DType::i32);
    for (int64_t t = 0; t < c.T; t++) pos.i32()[t] = int32_t(t);
    x = add(x, embedding(P("position_embd.weight"), pos));  // (T, C) broadcast over B
  }
  AttentionOpts causal;
  causal.n_head = int(c.NH);
  causal.causal = true;
  for (int64_t l = 0; l < c.L; l++) {
    std::string b = "blk." + std::to_string(l) + ".";
    auto lin = [&](Var h, const std::string& m) {
      return linear(h, P(b + m + ".weight"), P(b + m + ".bias"));
    };
    Var h = layer_norm(x, P(b + "attn_norm.weight"), P(b + "attn_norm.bias"), 1e-5f);
    Var q = lin(h, "attn_q"), k = lin(h, "attn_k"), v = lin(h, "attn_v");  // (B, T, C)
    if (c.rope) {
      q = rope(q, int(c.NH), 10000.0f, 0);
      k = rope(k, int(c.NH), 10000.0f, 0);
    }
    x = add(x, lin(attention(q, k, v, causal), "attn_output"));
    h = layer_norm(x, P(b + "ffn_norm.weight"), P(b + "ffn_norm.bias"), 1e-5f);
    x = add(x, lin(gelu(lin(h, "ffn_up"), /*tanh_approx=*/true), "ffn_down"));
  }
  x = layer_norm(x, P("output_norm.weight"), P("output_norm.bias"), 1e-5f);
  return linear(x, P("output.weight"));  // (B, T, V)
}

// The same model through src/models/gpt: the configuration that matches the reference.
GptConfig model_config(const RefConfig& c) {
  GptConfig g;
  g.vocab_size = int(c.V);
  g.block_size = int(c.block_size);
  g.n_layer = int(c.L);
  g.n_head = int(c.NH);
  g.n_embd = int(c.C);
  g.ffn_hidden = int(4 * c.C);
  g.pos = c.rope ? PosKind::rope : PosKind::learned;
  g.norm = NormKind::layernorm;
  g.pre_ln = true;
  g.act = ActKind::gelu;
  g.bias = true;
  g.tie_head = false;
  g.norm_eps = 1e-5f;
  return g;
}

// Gradients that are zero in exact arithmetic (see the tolerances above).
bool zero_grad_in_theory(const RefConfig& c, const std::string& name) {
  return !c.rope && name.ends_with("attn_k.bias");
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); i++) m = std::max(m, double(std::fabs(t.data<float>()[i])));
  return m;
}

// With use_model, the model is src/models/gpt's Gpt; otherwise gpt_logits() above.
void run_parity(const std::string& variant, bool use_model) {
  auto file = open_reference("gpt_" + variant + ".safetensors");
  const SafetensorsFile& f = *file;
  RefConfig c = read_config(f);
  ParamStore s;
  std::unique_ptr<Gpt> model;
  if (use_model)
    model = std::make_unique<Gpt>(model_config(c), s);
  else
    declare_gpt(s, c);
  s.finalize();
  // The store holds exactly the reference's parameters, with the same decay mask.
  size_t n_ref = 0;
  for (const StEntry& e : f.entries()) n_ref += e.name.starts_with("param.");
  EXPECT_EQ(s.params().size(), n_ref);
  for (Param& p : s.params()) {
    f.read_into("param." + p.name, p.value);
    EXPECT_EQ(p.decay, p.shape.ndim >= 2) << p.name;
  }
  Tensor idx = Tensor::empty({c.B, c.T}, DType::i32),
         targets = Tensor::empty({c.B, c.T}, DType::i32);
  f.read_into("idx", idx);
  f.read_into("targets", targets);
  auto gpt_forward = [&](Tape& tape, Var* logits) {
    *logits = use_model ? model->forward(tape, idx) : gpt_logits(tape, s, c, idx);
    return cross_entropy(*logits, targets);
  };

  std::printf("gpt parity (%s positions, %s), max|a-b|/max|b| per tensor:\n", variant.c_str(),
              use_model ? "models/gpt" : "ops");
  {
    Tape tape;
    Var logits;
    Var loss = gpt_forward(tape, &logits);
    expect_close("logits", logits.value(), f.read_f32("logits"), 1e-5);
    expect_close("loss", loss.value().reshape({1}), f.read_f32("loss"), 1e-5);
    tape.backward(loss);
    for (Param& p : s.params()) {
      if (!zero_grad_in_theory(c, p.name)) {
        expect_close("grad." + p.name, p.grad, f.read_f32("grad." + p.name), 1e-5);
        continue;
      }
      std::string w = p.name.substr(0, p.name.size() - 4) + "weight";
      double e = max_abs(p.grad) / max_abs(s.grad(w));
      std::printf("  %-32s %.2e (max |a| / max |grad %s|; exactly 0 in theory)\n",
                  ("grad." + p.name).c_str(), e, w.c_str());
      EXPECT_LE(e, 1e-5) << p.name;
    }
  }

  OptimConfig oc{.kind = OptimKind::adamw,
                 .lr = std::stof(meta(f, "lr")),
                 .beta1 = std::stof(meta(f, "beta1")),
                 .beta2 = std::stof(meta(f, "beta2")),
                 .eps = std::stof(meta(f, "eps")),
                 .weight_decay = std::stof(meta(f, "weight_decay"))};
  Optimizer opt(s, oc);
  Tensor want_losses = f.read_f32("adamw.losses");
  Tensor losses = Tensor::zeros(want_losses.shape());
  for (int64_t step = 0; step < want_losses.numel(); step++) {
    s.zero_grad();
    Tape tape;
    Var logits;
    Var loss = gpt_forward(tape, &logits);
    losses.f32()[step] = loss.value().data<float>()[0];
    tape.backward(loss);
    opt.step();
  }
  expect_close("adamw.losses", losses, want_losses, 1e-5);
  for (int64_t i = 0; i < losses.numel(); i++)
    std::printf("    step %lld: loss %.6f (torch %.6f)\n", (long long)i, losses.f32()[i],
                want_losses.f32()[i]);
  for (Param& p : s.params())
    if (!zero_grad_in_theory(c, p.name))
      expect_close("final." + p.name, p.value, f.read_f32("final." + p.name), 1e-3);
}

}  // namespace

TEST(gpt_parity, learned_positions) { run_parity("learned", false); }

TEST(gpt_parity, rope) { run_parity("rope", false); }

TEST(gpt_parity, model_learned_positions) { run_parity("learned", true); }

TEST(gpt_parity, model_rope) { run_parity("rope", true); }
