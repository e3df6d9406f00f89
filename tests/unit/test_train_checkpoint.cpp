#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "data/shards.h"
#include "models/gpt.h"
#include "op_test.h"
#include "test_data_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

using namespace aero;
namespace fs = std::filesystem;

namespace {

// A tiny model and shards of random tokens, all under dir.
RunConfig tiny_run(const test::ScratchDir& dir) {
  RunConfig c;
  GptConfig& g = c.model.as<GptConfig>();
  g.vocab_size = 13;
  g.block_size = 8;
  g.n_layer = 1;
  g.n_head = 2;
  g.n_embd = 8;
  g.ffn_hidden = 16;
  g.dropout_resid = 0.1f;  // exercises the tape RNG across a resume
  c.train.batch_size = 3;
  c.train.grad_accum = 2;
  c.train.max_steps = 6;
  c.train.warmup_steps = 2;
  c.train.schedule =
      ScheduleKind::constant;  // so a shorter max_steps keeps the same learning rates
  c.train.eval_every = 3;
  c.train.eval_batches = 2;
  c.train.test_batches = 2;
  c.train.log_every = 2;
  c.train.out_dir = dir.file("run");
  std::mt19937 rng(5);
  for (const char* name : {"train", "val", "test"}) {
    ShardWriter w(dir.file(std::string(name) + ".bin"), 13, 3);
    std::vector<int32_t> toks(400);
    for (auto& t : toks) t = int32_t(rng() % 13);
    w.append(toks);
    w.commit();
  }
  c.data.train = dir.file("train.bin");
  c.data.val = dir.file("val.bin");
  c.data.test = dir.file("test.bin");
  c.data.tokenizer = "";
  return c;
}

std::vector<float> weights(ParamStore& s) {
  std::vector<float> w;
  for (auto& p : s.params()) w.insert(w.end(), p.value.f32(), p.value.f32() + p.numel());
  return w;
}

}  // namespace

TEST(train_checkpoint, resume_is_bit_exact) {
  test::ScratchDir dir("train_resume");
  RunConfig c = tiny_run(dir);
  Trainer full(c);
  TrainResult r = full.run();
  EXPECT_EQ(r.steps, 6);
  EXPECT_TRUE(std::isfinite(r.val_loss) && std::isfinite(r.test_loss));
  std::vector<float> want = weights(full.params());

  RunConfig half = c;
  half.train.out_dir = dir.file("run2");
  half.train.max_steps = 3;
  {
    Trainer t(half);
    t.run();
  }
  RunConfig rest = c;
  rest.train.out_dir = half.train.out_dir;
  Trainer t2(rest);
  t2.resume_from(find_checkpoint(rest.train.out_dir));
  EXPECT_EQ(t2.state().step, 3);
  t2.run();
  std::vector<float> got = weights(t2.params());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);

  // metrics.jsonl: every line has an int step; training, eval and test lines.
  std::string m = read_file(dir.file("run/metrics.jsonl"));
  EXPECT_NE(m.find("{\"step\":2,\"loss\":"), std::string::npos);
  EXPECT_NE(m.find("{\"step\":3,\"val_loss\":"), std::string::npos);
  EXPECT_NE(m.find("{\"step\":6,\"test_loss\":"), std::string::npos);
  // The resumed run's metrics: the half run's test line is gone.
  std::string m2 = read_file(dir.file("run2/metrics.jsonl"));
  EXPECT_EQ(m2.find("{\"step\":3,\"test_loss\":"), std::string::npos);
  EXPECT_NE(m2.find("{\"step\":6,\"test_loss\":"), std::string::npos);
}

TEST(train_checkpoint, keep_last_and_best) {
  test::ScratchDir dir("train_keep");
  RunConfig c = tiny_run(dir);
  ParamStore store;
  Gpt gpt(c.model.as<GptConfig>(), store);
  store.finalize(1);
  TrainState st;
  for (int64_t s : {1, 2, 3, 4, 5}) {
    st.step = s;
    save_checkpoint(dir.file("run"), store, nullptr, c, st, 2, /*is_best=*/s == 2);
  }
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir.file("run"))) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"best", "ckpt-2", "ckpt-4", "ckpt-5", "latest"}));
  EXPECT_EQ(find_checkpoint(dir.file("run")), dir.file("run/ckpt-5"));
  EXPECT_EQ(read_checkpoint_state(dir.file("run/ckpt-4")).step, 4);
  // A save killed half way leaves a temp directory: ignored, then cleaned.
  fs::create_directories(dir.file("run/.tmp-ckpt-6"));
  EXPECT_EQ(find_checkpoint(dir.file("run")), dir.file("run/ckpt-5"));
  EXPECT_EQ(clean_partial_checkpoints(dir.file("run")), 1);
  EXPECT_FALSE(fs::exists(dir.file("run/.tmp-ckpt-6")));
  // Killed while replacing ckpt-5 by a new save of step 5: the old one comes back.
  fs::rename(dir.file("run/ckpt-5"), dir.file("run/.old-ckpt-5"));
  EXPECT_EQ(clean_partial_checkpoints(dir.file("run")), 1);
  EXPECT_EQ(read_checkpoint_state(dir.file("run/ckpt-5")).step, 5);
}

TEST(train_checkpoint, bad_checkpoints_are_clear_errors_and_change_nothing) {
  test::ScratchDir dir("train_badckpt");
  RunConfig c = tiny_run(dir);
  ParamStore store;
  Gpt gpt(c.model.as<GptConfig>(), store);
  store.finalize(1);
  TrainState st;
  st.step = 7;
  const std::string ck = save_checkpoint(dir.file("run"), store, nullptr, c, st, 3, false);
  ParamStore other;
  Gpt g2(c.model.as<GptConfig>(), other);
  other.finalize(2);
  const std::vector<float> before = weights(other);
  // Truncated weights.
  const std::string model = ck + "/model.safetensors";
  fs::resize_file(model, fs::file_size(model) - 10);
  test::expect_error([&] { load_checkpoint_weights(ck, "gpt", other); }, "[checkpoint]",
                     "model.safetensors");
  EXPECT_EQ(weights(other), before);
  // Another model configuration.
  RunConfig wide = c;
  wide.model.as<GptConfig>().n_embd = 16;
  ParamStore s3;
  Gpt g3(wide.model.as<GptConfig>(), s3);
  s3.finalize(1);
  save_checkpoint(dir.file("run3"), s3, nullptr, wide, st, 3, false);
  test::expect_error([&] { load_checkpoint_weights(dir.file("run3/ckpt-7"), "gpt", other); },
                     "[checkpoint]", "model.safetensors: tensor 'token_embd.weight'");
  EXPECT_EQ(weights(other), before);
  // Missing and corrupt state.
  fs::remove(ck + "/state.json");
  test::expect_error([&] { read_checkpoint_state(ck); }, "[checkpoint]", "state.json: missing");
  test::ScratchDir d2("train_badstate");
  d2.write("state.json", "{\"format\": \"aero.train_state\"");
  test::expect_error([&] { read_checkpoint_state(d2.path.string()); }, "[checkpoint]",
                     "state.json: invalid JSON");
}

TEST(train_checkpoint, vocab_mismatch_and_existing_run_are_errors) {
  test::ScratchDir dir("train_vocab");
  RunConfig c = tiny_run(dir);
  RunConfig v = c;
  v.model.as<GptConfig>().vocab_size = 20;
  test::expect_error([&] { Trainer t(v); }, "[train]",
                     "has vocab size 13 but model.vocab_size is 20");
  c.train.max_steps = 1;
  c.data.test = "";
  Trainer t(c);
  t.run();
  Trainer again(c);
  test::expect_error([&] { again.run(); }, "[train]", "already holds checkpoints; pass --resume");
}

TEST(train_checkpoint, early_stop_time_limit_and_eval_hook) {
  test::ScratchDir dir("train_stop");
  RunConfig c = tiny_run(dir);
  c.train.optim.lr = 0.0f;  // the val loss never improves after the first evaluation
  c.train.eval_every = 1;
  c.train.early_stop = 2;
  c.train.max_steps = 50;
  Trainer t(c);
  int evals = 0;
  t.on_eval = [&](const std::string& run_dir) {
    EXPECT_EQ(run_dir, c.train.out_dir);
    evals++;
  };
  TrainResult r = t.run();
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.steps, 3);  // best at step 1, no better at 2 and 3
  EXPECT_EQ(evals, 4);    // three evaluations and the final test
  EXPECT_EQ(read_file(dir.file("run/best")), "ckpt-1\n");
  EXPECT_EQ(find_checkpoint(c.train.out_dir), dir.file("run/ckpt-3"));

  RunConfig l = tiny_run(dir);
  l.train.out_dir = dir.file("run_timed");
  l.train.max_steps = 1000;
  l.train.max_minutes = 1e-9f;  // reached after the first step
  Trainer t2(l);
  TrainResult r2 = t2.run();
  EXPECT_TRUE(r2.time_limited);
  EXPECT_EQ(r2.steps, 1);
  EXPECT_EQ(find_checkpoint(l.train.out_dir), dir.file("run_timed/ckpt-1"));
}

TEST(train_eval, consecutive_and_random_windows) {
  test::ScratchDir dir("train_eval");
  RunConfig c = tiny_run(dir);
  ParamStore store;
  Gpt gpt(c.model.as<GptConfig>(), store);
  store.finalize(1);
  Tape tape;
  // 400 tokens, T = 8: windows start at 0, 8, ..., 384 (the last needs 9 tokens) -> 49 windows.
  EvalResult all = evaluate_shard(gpt, c.model, tape, c.data.test, {3, 0, false, false, 0});
  EXPECT_EQ(all.tokens, 49 * 8);
  EXPECT_NEAR(all.ppl, std::exp(all.loss), 1e-9);
  EXPECT_NEAR(all.loss, std::log(13.0), 0.2);  // an untrained model is close to uniform
  EXPECT_EQ(evaluate_shard(gpt, c.model, tape, c.data.test, {3, 2, false, false, 0}).tokens, 6 * 8);
  EvalResult r1 = evaluate_shard(gpt, c.model, tape, c.data.test, {3, 4, true, true, 9});
  EvalResult r2 = evaluate_shard(gpt, c.model, tape, c.data.test, {3, 4, true, true, 9});
  EXPECT_EQ(r1.loss, r2.loss);  // the same windows every time
  EXPECT_EQ(r1.tokens, 4 * 3 * 8);
  EXPECT_TRUE(tape.training);  // restored
}

// Every optimizer and objective: 2 steps, a checkpoint, then 1 more step after a resume in a
// fresh Trainer end with the same weights, bit for bit, as 3 steps in one go (dropout on).
TEST(train_checkpoint, every_optimizer_resumes_bit_exactly) {
  for (OptimKind optim : {OptimKind::sgd, OptimKind::momentum, OptimKind::rmsprop, OptimKind::adam,
                          OptimKind::adamw}) {
    const std::string name = optim_kind_name(optim);
    test::ScratchDir dir("train_optim_" + name);
    RunConfig c = tiny_run(dir);
    c.train.optim.kind = optim;
    c.train.objective = optim == OptimKind::adam ? ObjectiveKind::final : ObjectiveKind::all;
    c.train.max_steps = 3;
    c.train.eval_every = 0;
    c.data.test = "";
    RunConfig straight = c;
    straight.train.out_dir = dir.file("straight");
    Trainer whole(straight);
    EXPECT_EQ(whole.run().steps, 3) << name;
    c.train.max_steps = 2;
    TrainResult r = Trainer(c).run();
    EXPECT_EQ(r.steps, 2) << name;
    EXPECT_TRUE(std::isnan(r.val_loss));  // no evaluation ran
    c.train.max_steps = 3;
    Trainer t(c);
    t.resume_from(find_checkpoint(c.train.out_dir));
    EXPECT_EQ(t.run().steps, 3) << name;
    EXPECT_EQ(weights(t.params()), weights(whole.params())) << name << ": resume is not exact";
    RunConfig other = c;
    other.train.optim.kind = optim == OptimKind::sgd ? OptimKind::adamw : OptimKind::sgd;
    Trainer wrong(other);
    test::expect_error([&] { wrong.resume_from(find_checkpoint(c.train.out_dir)); }, "[checkpoint]",
                       "train.optimizer is " + name);
  }
}

// train.checkpoint_activations trades memory for compute and nothing else: the same weights
// after a few steps (dropout on, two data-parallel parts) and less activation memory.
TEST(train_checkpoint, activation_checkpointing_trains_the_same_bits) {
  test::ScratchDir dir("train_activations");
  RunConfig c = tiny_run(dir);
  GptConfig& g = c.model.as<GptConfig>();
  g.n_layer = 3;
  g.dropout_attn = g.dropout_emb = 0.1f;
  c.train.max_steps = 3;
  c.train.eval_every = 0;
  c.train.data_parallel = 2;
  c.data.test = "";
  for (Precision precision : {Precision::fp32, Precision::bf16}) {
    std::vector<float> want;
    for (const char* mode : {"none", "blocks", "every 2"}) {
      SCOPED_TRACE(std::string(mode) + (precision == Precision::bf16 ? " bf16" : " fp32"));
      RunConfig r = c;
      r.train.precision = precision;
      r.train.checkpoint_activations = mode;
      r.train.out_dir = dir.file(std::string("run_") + mode + std::to_string(int(precision)));
      Trainer t(r);
      EXPECT_EQ(t.run().steps, 3);
      if (want.empty())
        want = weights(t.params());
      else
        EXPECT_EQ(weights(t.params()), want);
    }
  }
  for (const char* bad : {"every 0", "every", "sometimes", "every -1", "every 2x"}) {
    RunConfig r = c;
    r.train.checkpoint_activations = bad;
    test::expect_error([&] { r.train.validate(); }, "[train]", "checkpoint_activations");
  }
}
