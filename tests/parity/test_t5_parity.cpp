// T5 against a float64 PyTorch reference written to Hugging Face's semantics
// (tests/reference/t5_ref.py): the reference writes small random checkpoints in HF's file layout
// (T5 v1.0: relu, tied head, embedding stored as encoder/decoder.embed_tokens; mT5-style:
// gated-gelu, untied head, 2 + 3 layers, two safetensors shards), aero imports them with
// `hf-t5`'s reader and must give the encoder output, logits, loss over labels != -100, every
// gradient and 5 AdamW steps. Relative-position buckets are compared at distances -1000..1000.
// Tolerances as in test_gpt_parity.cpp (float32 against float64): 1e-5 for forward values and
// gradients, 1e-3 for weights after 5 Adam steps.
#include <cstdio>
#include <string>

#include "autograd/ops.h"
#include "data/batching.h"
#include "models/t5.h"
#include "parity_util.h"
#include "train/optimizer.h"

using namespace aero;
using namespace aero::parity;

namespace {

Tensor read_i32(const SafetensorsFile& f, const std::string& name) {
  const StEntry& e = f.at(name);
  Shape s;
  for (int64_t d : e.shape) s.d[size_t(s.ndim++)] = d;
  Tensor t = Tensor::empty(s, DType::i32);
  f.read_into(name, t);
  return t;
}

void run_case(const std::string& name, bool tied) {
  auto file = open_reference("t5_" + name + ".safetensors");
  const SafetensorsFile& f = *file;
  const ImportedModel m = read_hf_t5(data_path("t5_" + name));
  const T5Config& c = m.cfg.as<T5Config>();
  EXPECT_EQ(c.tie_word_embeddings, tied);
  EXPECT_EQ(c.feed_forward_proj, tied ? T5Ffn::relu : T5Ffn::gated_gelu);
  ParamStore s;
  auto model = build_model(m.cfg, s);
  s.finalize();
  ASSERT_EQ(m.weights.size(), s.params().size());
  for (const auto& [pname, t] : m.weights) {
    Param& p = s.get(pname);
    ASSERT_EQ(p.shape, t.shape()) << pname;
    std::copy(t.f32(), t.f32() + t.numel(), p.value.f32());
  }
  const Tensor src = read_i32(f, "src"), mask = read_i32(f, "src_mask"),
               labels = read_i32(f, "labels"), want_dec = read_i32(f, "decoder_input");
  Tensor dec = Tensor::empty(labels.shape(), DType::i32);
  shift_right(dec.i32(), labels.i32(), labels.size(0), labels.size(1),
              int32_t(c.decoder_start_token_id), int32_t(c.pad_token_id));
  for (int64_t i = 0; i < dec.numel(); i++) ASSERT_EQ(dec.i32()[i], want_dec.i32()[i]) << i;
  ModelInput in;
  in.ids = dec;
  in.source_ids = src;
  in.source_mask = mask;
  auto loss_of = [&](Tape& tape, Var* logits) {
    *logits = model->forward(tape, in);
    return cross_entropy(*logits, labels);  // ignore_index -100
  };

  std::printf("t5 parity (%s), max|a-b|/max|b| per tensor:\n", name.c_str());
  {
    Tape tape;
    NoGrad no_grad(tape);
    expect_close("encoder_output", static_cast<T5&>(*model).encode(tape, src, mask).value(),
                 f.read_f32("encoder_output"), 1e-5);
  }
  {
    Tape tape;
    Var logits;
    Var loss = loss_of(tape, &logits);
    expect_close("logits", logits.value(), f.read_f32("logits"), 1e-5);
    expect_close("loss", loss.value().reshape({1}), f.read_f32("loss"), 1e-5);
    tape.backward(loss);
    for (Param& p : s.params())
      expect_close("grad." + p.name, p.grad, f.read_f32("grad." + p.name), 1e-5);
  }
  OptimConfig oc{.kind = OptimKind::adamw,
                 .lr = std::stof(meta(f, "lr")),
                 .beta1 = std::stof(meta(f, "beta1")),
                 .beta2 = std::stof(meta(f, "beta2")),
                 .eps = std::stof(meta(f, "eps")),
                 .weight_decay = std::stof(meta(f, "weight_decay"))};
  s.zero_grad();
  Optimizer opt(s, oc);
  const Tensor want_losses = f.read_f32("adamw.losses");
  Tensor losses = Tensor::zeros(want_losses.shape());
  for (int64_t step = 0; step < want_losses.numel(); step++) {
    s.zero_grad();
    Tape tape;
    Var logits;
    Var loss = loss_of(tape, &logits);
    losses.f32()[step] = loss.value().f32()[0];
    tape.backward(loss);
    opt.step();
  }
  expect_close("adamw.losses", losses, want_losses, 1e-5);
  for (Param& p : s.params())
    expect_close("final." + p.name, p.value, f.read_f32("final." + p.name), 1e-3);
}

}  // namespace

TEST(t5_parity, v10_relu_tied_head) { run_case("v10", true); }

TEST(t5_parity, mt5_gated_gelu_untied_sharded) { run_case("mt5", false); }

TEST(t5_parity, relative_buckets_to_1000) {
  auto file = open_reference("t5_buckets.safetensors");
  const SafetensorsFile& f = *file;
  const Tensor rel = read_i32(f, "relative_position");
  int checked = 0;
  for (auto [nb, md] : {std::pair{32, 128}, std::pair{8, 20}, std::pair{64, 256}})
    for (bool bi : {true, false}) {
      const Tensor want = read_i32(
          f, "buckets." + std::to_string(nb) + "." + std::to_string(md) + (bi ? ".bi" : ".causal"));
      for (int64_t i = 0; i < rel.numel(); i++, checked++)
        ASSERT_EQ(t5_relative_bucket(rel.i32()[i], bi, nb, md), want.i32()[i])
            << "distance " << rel.i32()[i] << " buckets " << nb << " max " << md
            << (bi ? " bidirectional" : " causal");
    }
  std::printf("  %d buckets equal (distances -1000..1000, 3 configs, both directions)\n", checked);
}
