#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "autograd/ops.h"
#include "io/safetensors.h"
#include "kernels/gemm_bf16.h"
#include "nn/params.h"
#include "train/optimizer.h"

using namespace aero;

namespace {

void declare_small(ParamStore& s) {
  s.declare("wte.weight", {11, 8}, Init::normal, 0.02f);
  s.declare("blk.0.ln1.weight", {8}, Init::ones);
  s.declare("blk.0.ln1.bias", {8}, Init::zeros);
  s.declare("blk.0.attn.q.weight", {8, 8}, Init::normal, 0.5f);
  s.declare("blk.0.attn.q.bias", {8}, Init::zeros);
  s.declare("blk.1.attn.q.weight", {8, 8}, Init::normal, 0.5f);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "." + std::to_string(getpid())))
      .string();
}

// Fills every trainable gradient with a deterministic function of (step, index).
void fake_grads(ParamStore& s, int step) {
  for (Param& p : s.params())
    for (int64_t i = 0; i < p.numel(); i++)
      p.grad.data<float>()[i] = std::sin(0.37f * float(i + 1) * float(step + 1) + float(p.offset));
}

}  // namespace

TEST(params, one_buffer_with_named_views) {
  ParamStore s;
  declare_small(s);
  s.finalize(42);
  const float* base = s.values_data();
  for (const Param& p : s.params()) {
    EXPECT_EQ(p.value.data<float>(), base + p.offset) << p.name;
    EXPECT_EQ(p.grad.data<float>(), s.grads_data() + p.offset) << p.name;
    EXPECT_EQ(p.offset % 16, 0) << p.name;  // 64-byte aligned
    EXPECT_EQ(p.value.shape(), p.shape);
  }
  EXPECT_EQ(s.value("blk.0.ln1.weight").at({3}), 1.0f);
  EXPECT_EQ(s.value("blk.0.ln1.bias").at({3}), 0.0f);
  // Normal init has the requested spread (64 samples of N(0, 0.5²)).
  const Tensor& q = s.value("blk.0.attn.q.weight");
  double ss = 0;
  for (int64_t i = 0; i < q.numel(); i++) ss += double(q.f32()[i]) * q.f32()[i];
  EXPECT_NEAR(std::sqrt(ss / double(q.numel())), 0.5, 0.15);
  // Same seed, same values; another seed, other values.
  ParamStore s2, s3;
  declare_small(s2);
  declare_small(s3);
  s2.finalize(42);
  s3.finalize(43);
  EXPECT_EQ(std::memcmp(s.values_data(), s2.values_data(), size_t(s.buffer_floats()) * 4), 0);
  EXPECT_NE(std::memcmp(s.values_data(), s3.values_data(), size_t(s.buffer_floats()) * 4), 0);
}

// finalize(..., frozen_bf16): only frozen parameters their layers accept in bf16 move to the bf16
// buffer, as the f32 store's values rounded to nearest even; the others keep their f32 values,
// and gradients cover the trainable ones only.
TEST(params, frozen_matrices_are_stored_in_bf16_when_asked) {
  ParamStore f, s;
  for (ParamStore* st : {&f, &s}) {
    declare_small(*st);
    for (Param& p : st->params()) {
      p.bf16_ok = p.shape.ndim == 2;
      p.trainable = p.name.starts_with("blk.1");
    }
  }
  f.finalize(7);
  s.finalize(7, /*gradients=*/true, /*frozen_bf16=*/true);
  EXPECT_EQ(s.buffer_bf16(), 96 + 64);  // wte (88 values, padded to 96) and blk.0's q
  EXPECT_EQ(s.grad_floats(), 64);       // blk.1's q
  for (const Param& p : s.params()) {
    const Param& ref = f.get(p.name);
    std::vector<float> want(size_t(p.numel())), got(size_t(p.numel()));
    std::copy_n(ref.value.f32(), p.numel(), want.data());
    read_values_f32(p, 0, p.numel(), got.data());
    const bool bf16 = p.bf16_ok && !p.trainable;
    EXPECT_EQ(p.is_bf16(), bf16) << p.name;
    EXPECT_EQ(p.grad.defined(), p.trainable) << p.name;
    for (size_t i = 0; i < want.size(); i++) {
      uint16_t r;
      round_to_bf16(&want[i], &r, 1);
      float rounded;
      bf16_to_f32(&r, &rounded, 1);
      ASSERT_EQ(got[i], bf16 ? rounded : want[i]) << p.name << " " << i;
    }
  }
  // Writing rounds; widening gives the parameter an f32 value of its own with the same values.
  Param& q = s.get("blk.0.attn.q.weight");
  const float third = 1.0f / 3.0f;
  write_values_f32(q, 5, 1, &third);
  float back = 0;
  read_values_f32(q, 5, 1, &back);
  EXPECT_NE(back, third);
  EXPECT_NEAR(back, third, third / 256);
  s.widen_to_f32(q);
  EXPECT_FALSE(q.is_bf16());
  EXPECT_EQ(q.value.f32()[5], back);
  EXPECT_THROW(read_values_f32(q, 60, 5, &back), Error);
}

TEST(params, count_by_prefix_and_default_decay) {
  ParamStore s;
  declare_small(s);
  s.finalize();
  EXPECT_EQ(s.count(), 88 + 8 + 8 + 64 + 8 + 64);
  EXPECT_EQ(s.count("blk."), 8 + 8 + 64 + 8 + 64);
  EXPECT_EQ(s.count("blk.0."), 8 + 8 + 64 + 8);
  EXPECT_EQ(s.count("blk.0.attn"), 64 + 8);
  EXPECT_EQ(s.count("nothing"), 0);
  s.get("wte.weight").trainable = false;
  EXPECT_EQ(s.count("", /*trainable_only=*/true), s.count() - 88);
  EXPECT_EQ(s.count("blk.", true), s.count("blk."));
  EXPECT_TRUE(s.get("wte.weight").decay);
  EXPECT_TRUE(s.get("blk.0.attn.q.weight").decay);
  EXPECT_FALSE(s.get("blk.0.ln1.weight").decay);
  EXPECT_FALSE(s.get("blk.0.attn.q.bias").decay);
}

TEST(params, misuse_is_an_error) {
  ParamStore s;
  s.declare("a", {2}, Init::zeros);
  EXPECT_THROW(s.declare("a", {3}, Init::zeros), Error);
  EXPECT_THROW(s.declare("b", {0, 2}, Init::zeros), Error);
  EXPECT_THROW(s.zero_grad(), Error);
  s.finalize();
  EXPECT_THROW(s.declare("c", {2}, Init::zeros), Error);
  EXPECT_THROW(s.finalize(), Error);
  try {
    s.get("blk.9.nope");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'blk.9.nope'"), std::string::npos) << e.what();
  }
}

TEST(params, gradients_accumulate_and_zero_grad_clears_them) {
  ParamStore s;
  s.declare("w", {3, 4}, Init::normal, 1.0f);
  s.declare("b", {3}, Init::zeros);
  s.declare("frozen", {4, 4}, Init::normal, 1.0f).trainable = false;
  s.finalize(1);
  Tensor x = Tensor::full({2, 4}, 1.0f);
  for (int i = 0; i < 2; i++) {
    Tape tape;
    Var h = linear(tape.constant(x), s.var(tape, "frozen"));
    EXPECT_FALSE(h.requires_grad());  // a frozen layer on a constant input is a constant
    Var y = linear(h, s.var(tape, "w"), s.var(tape, "b"));
    tape.backward_from(y, Tensor::full({2, 3}, 1.0f));
  }
  EXPECT_FLOAT_EQ(s.grad("b").at({1}), 4.0f);  // 2 rows x 2 passes
  // A frozen parameter has no gradient at all: the gradient buffer covers w and b only.
  EXPECT_FALSE(s.grad("frozen").defined());
  EXPECT_LT(s.grad_floats(), s.buffer_floats());
  s.zero_grad();
  for (int64_t i = 0; i < s.grad_floats(); i++) ASSERT_EQ(s.grads_data()[i], 0.0f);
}

TEST(optimizer, skips_frozen_and_applies_decay_mask) {
  ParamStore s;
  s.declare("w", {2, 3}, Init::ones);
  s.declare("b", {3}, Init::ones);
  s.declare("frozen", {2, 3}, Init::ones).trainable = false;
  s.finalize();
  Optimizer opt(s, {.kind = OptimKind::sgd, .lr = 0.5f, .weight_decay = 0.1f});
  opt.step();  // zero gradients: only decay moves anything
  EXPECT_FLOAT_EQ(s.value("w").at({1, 2}), 1.0f - 0.5f * 0.1f);
  EXPECT_FLOAT_EQ(s.value("b").at({2}), 1.0f);
  EXPECT_FLOAT_EQ(s.value("frozen").at({1, 2}), 1.0f);
  EXPECT_EQ(opt.steps(), 1);
}

TEST(optimizer, clip_grad_norm_covers_trainable_grads) {
  ParamStore s;
  s.declare("a", {2}, Init::zeros);
  s.declare("b", {1}, Init::zeros);
  s.finalize();
  s.grad("a").f32()[0] = 3.0f;
  s.grad("b").f32()[0] = 4.0f;
  Optimizer opt(s, {.kind = OptimKind::sgd});
  EXPECT_NEAR(opt.clip_grad_norm(1.0f), 5.0, 1e-9);
  EXPECT_NEAR(s.grad("a").at({0}), 0.6f, 1e-6);
  EXPECT_NEAR(s.grad("b").at({0}), 0.8f, 1e-6);
}

TEST(optimizer, save_and_load_resume_exactly) {
  for (OptimKind kind :
       {OptimKind::momentum, OptimKind::rmsprop, OptimKind::adam, OptimKind::adamw}) {
    OptimConfig cfg{.kind = kind, .lr = 1e-2f, .weight_decay = 0.1f};
    // Run A: 5 steps straight. Run B: 3 steps, save, a fresh store and optimizer load, 2 more.
    ParamStore a;
    declare_small(a);
    a.finalize(7);
    Optimizer oa(a, cfg);
    for (int t = 0; t < 5; t++) {
      fake_grads(a, t);
      oa.step();
    }
    ParamStore b;
    declare_small(b);
    b.finalize(7);
    Optimizer ob(b, cfg);
    for (int t = 0; t < 3; t++) {
      fake_grads(b, t);
      ob.step();
    }
    std::string path = temp_path("aero_optim_state.safetensors");
    ob.save(path);
    ParamStore c;
    declare_small(c);
    c.finalize(7);
    std::memcpy(c.values_data(), b.values_data(), size_t(b.buffer_floats()) * 4);
    Optimizer oc(c, cfg);
    oc.load(path);
    EXPECT_EQ(oc.steps(), 3);
    for (int t = 3; t < 5; t++) {
      fake_grads(c, t);
      oc.step();
    }
    EXPECT_EQ(std::memcmp(a.values_data(), c.values_data(), size_t(a.buffer_floats()) * 4), 0)
        << optim_kind_name(kind);
    // A state of another kind is refused.
    OptimConfig other = cfg;
    other.kind = kind == OptimKind::adam ? OptimKind::adamw : OptimKind::adam;
    Optimizer od(c, other);
    EXPECT_THROW(od.load(path), Error);
    std::filesystem::remove(path);
  }
}

TEST(optimizer, bad_config_is_an_error) {
  ParamStore s;
  s.declare("a", {2}, Init::zeros);
  EXPECT_THROW(Optimizer(s, {}), Error);  // not finalized
  s.finalize();
  EXPECT_THROW(Optimizer(s, {.lr = -1.0f}), Error);
  EXPECT_THROW(Optimizer(s, {.beta1 = 1.0f}), Error);
  EXPECT_THROW(optim_kind_names().parse("adagrad", "[optimizer]"), Error);
  EXPECT_EQ(optim_kind_names().parse("rmsprop", "[optimizer]"), OptimKind::rmsprop);
}

TEST(optimizer, state_shares_a_checkpoint_with_the_model) {
  ParamStore s;
  declare_small(s);
  s.finalize(3);
  Optimizer opt(s, {.kind = OptimKind::adamw, .lr = 1e-2f});
  fake_grads(s, 0);
  opt.step();
  // One file: the model's values and the optimizer's moments, names prefixed apart.
  std::vector<StTensorRef> tensors = opt.state_tensors();
  for (const Param& p : s.params()) tensors.emplace_back(p.name, p.value);
  std::map<std::string, std::string> meta = opt.state_metadata();
  meta["model"] = "test";
  std::string path = temp_path("aero_ckpt.safetensors");
  write_safetensors(path, tensors, meta);
  SafetensorsFile f(path);
  EXPECT_TRUE(f.has("optim.exp_avg_sq.blk.0.attn.q.weight"));
  EXPECT_EQ(f.metadata().at("optim.step"), "1");

  ParamStore s2;
  declare_small(s2);
  s2.finalize(3);
  Optimizer o2(s2, {.kind = OptimKind::adamw, .lr = 1e-2f});
  o2.load_state(f);
  EXPECT_EQ(o2.steps(), 1);
  EXPECT_EQ(std::memcmp(s.state(1), s2.state(1), size_t(s.buffer_floats()) * 4), 0);

  // A file that lacks one moment tensor is refused and changes nothing.
  tensors.erase(tensors.begin());
  write_safetensors(path, tensors, meta);
  ParamStore s3;
  declare_small(s3);
  s3.finalize(3);
  Optimizer o3(s3, {.kind = OptimKind::adamw, .lr = 1e-2f});
  try {
    o3.load_state(SafetensorsFile(path));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optim.exp_avg.wte.weight"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(o3.steps(), 0);
  for (int64_t i = 0; i < s3.buffer_floats(); i++) ASSERT_EQ(s3.state(0)[i], 0.0f);
  std::filesystem::remove(path);
}

TEST(optimizer, a_new_optimizer_starts_from_zero_moments) {
  auto run = [](ParamStore& s) {
    Optimizer opt(s, {.kind = OptimKind::adam, .lr = 1e-2f});
    for (int step = 0; step < 3; step++) {
      fake_grads(s, step);
      opt.step();
    }
  };
  ParamStore a, b;
  declare_small(a);
  declare_small(b);
  a.finalize(1);
  b.finalize(1);
  run(a);
  // Reset a's values to b's start and train again: the moments must not carry over.
  std::copy_n(b.values_data(), b.buffer_floats(), a.values_data());
  run(a);
  run(b);
  for (int64_t i = 0; i < a.buffer_floats(); i++) EXPECT_EQ(a.values_data()[i], b.values_data()[i]);
}
