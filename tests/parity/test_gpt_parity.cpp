// A 2-layer GPT built from aero's ops against a float64 PyTorch reference
// (tests/reference/gpt_ref.py): logits, loss, every parameter gradient, then 5 AdamW steps.
// Both position variants: learned embeddings and RoPE.
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
//   attn.k.bias with learned positions: its true gradient is exactly zero (adding one vector to
//     every key shifts all scores of a query by a constant, which softmax ignores), so the
//     reference holds only roundoff and a relative error means nothing. Its gradient is checked
//     as roundoff, max |a| <= 1e-5 max |grad attn.k.weight|; its final weights are not compared
//     (Adam turns roundoff into steps of up to lr, with no effect on the output: the losses
//     match).
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/params.h"
#include "parity_util.h"
#include "train/optimizer.h"

using namespace aero;
using namespace aero::parity;

namespace {

struct GptConfig {
  int64_t V, C, L, NH, T, B, block_size;
  bool rope;
};

GptConfig read_config(const SafetensorsFile& f) {
  auto i = [&](const char* k) { return int64_t(std::stoll(meta(f, k))); };
  return {i("vocab"), i("n_embd"), i("n_layer"),    i("n_head"),
          i("T"),     i("B"),      i("block_size"), meta(f, "pos") == "rope"};
}

// Same names and shapes as param_shapes() in gpt_ref.py; decay on matrices only (the default).
void declare_gpt(ParamStore& s, const GptConfig& c) {
  s.declare("wte.weight", {c.V, c.C}, Init::zeros);
  if (!c.rope) s.declare("wpe.weight", {c.block_size, c.C}, Init::zeros);
  for (int64_t l = 0; l < c.L; l++) {
    std::string b = "blk." + std::to_string(l) + ".";
    s.declare(b + "ln1.weight", {c.C}, Init::ones);
    s.declare(b + "ln1.bias", {c.C}, Init::zeros);
    for (const char* m : {"q", "k", "v", "o"}) {
      s.declare(b + "attn." + m + ".weight", {c.C, c.C}, Init::zeros);
      s.declare(b + "attn." + m + ".bias", {c.C}, Init::zeros);
    }
    s.declare(b + "ln2.weight", {c.C}, Init::ones);
    s.declare(b + "ln2.bias", {c.C}, Init::zeros);
    s.declare(b + "mlp.fc.weight", {4 * c.C, c.C}, Init::zeros);
    s.declare(b + "mlp.fc.bias", {4 * c.C}, Init::zeros);
    s.declare(b + "mlp.proj.weight", {c.C, 4 * c.C}, Init::zeros);
    s.declare(b + "mlp.proj.bias", {c.C}, Init::zeros);
  }
  s.declare("ln_f.weight", {c.C}, Init::ones);
  s.declare("ln_f.bias", {c.C}, Init::zeros);
  s.declare("lm_head.weight", {c.V, c.C}, Init::zeros);
}

// idx, targets (B, T) i32 -> loss; *logits gets (B, T, V).
Var gpt_forward(Tape& tape, ParamStore& s, const GptConfig& c, const Tensor& idx,
                const Tensor& targets, Var* logits) {
  auto P = [&](const std::string& name) { return s.var(tape, name); };
  Var x = embedding(P("wte.weight"), idx);  // (B, T, C)
  if (!c.rope) {
    Tensor pos = Tensor::empty({c.T}, DType::i32);
    for (int64_t t = 0; t < c.T; t++) pos.i32()[t] = int32_t(t);
    x = add(x, embedding(P("wpe.weight"), pos));  // (T, C) broadcast over B
  }
  AttentionOpts causal;
  causal.n_head = int(c.NH);
  causal.causal = true;
  for (int64_t l = 0; l < c.L; l++) {
    std::string b = "blk." + std::to_string(l) + ".";
    auto lin = [&](Var h, const std::string& m) {
      return linear(h, P(b + m + ".weight"), P(b + m + ".bias"));
    };
    Var h = layer_norm(x, P(b + "ln1.weight"), P(b + "ln1.bias"), 1e-5f);
    Var q = lin(h, "attn.q"), k = lin(h, "attn.k"), v = lin(h, "attn.v");  // (B, T, C)
    if (c.rope) {
      q = rope(q, int(c.NH), 10000.0f, 0);
      k = rope(k, int(c.NH), 10000.0f, 0);
    }
    x = add(x, lin(attention(q, k, v, causal), "attn.o"));
    h = layer_norm(x, P(b + "ln2.weight"), P(b + "ln2.bias"), 1e-5f);
    x = add(x, lin(gelu(lin(h, "mlp.fc"), /*tanh_approx=*/true), "mlp.proj"));
  }
  x = layer_norm(x, P("ln_f.weight"), P("ln_f.bias"), 1e-5f);
  *logits = linear(x, P("lm_head.weight"));  // (B, T, V)
  return cross_entropy(*logits, targets);
}

// Gradients that are zero in exact arithmetic (see the tolerances above).
bool zero_grad_in_theory(const GptConfig& c, const std::string& name) {
  return !c.rope && name.ends_with("attn.k.bias");
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); i++) m = std::max(m, double(std::fabs(t.data<float>()[i])));
  return m;
}

void run_parity(const std::string& variant) {
  auto file = open_reference("gpt_" + variant + ".safetensors");
  const SafetensorsFile& f = *file;
  GptConfig c = read_config(f);
  ParamStore s;
  declare_gpt(s, c);
  s.finalize();
  for (Param& p : s.params()) f.read_into("param." + p.name, p.value);
  Tensor idx = Tensor::empty({c.B, c.T}, DType::i32),
         targets = Tensor::empty({c.B, c.T}, DType::i32);
  f.read_into("idx", idx);
  f.read_into("targets", targets);

  std::printf("gpt parity (%s positions), max|a-b|/max|b| per tensor:\n", variant.c_str());
  {
    Tape tape;
    Var logits;
    Var loss = gpt_forward(tape, s, c, idx, targets, &logits);
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
    Var loss = gpt_forward(tape, s, c, idx, targets, &logits);
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

TEST(gpt_parity, learned_positions) { run_parity("learned"); }

TEST(gpt_parity, rope) { run_parity("rope"); }
