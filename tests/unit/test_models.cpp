// Every architecture in the registry, through the seams the rest of aero uses: its config
// round-trips through JSON with its "arch", it builds and runs a forward pass, its report counts
// what it declared, a checkpoint of it loads back to the same logits, and when its row offers a
// causal stack the KV-cache engine gives the autograd path's logits. A new row is held to all of
// this without a line added here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "infer/engine.h"
#include "models/load.h"
#include "models/model.h"
#include "op_test.h"
#include "test_data_util.h"
#include "train/checkpoint.h"

using namespace aero;

namespace {

// Logits (B, T, V) of a small batch, in evaluation mode.
std::vector<float> logits_of(Model& m, const ModelConfig& cfg, const Tensor& ids) {
  Tape tape;
  tape.training = false;
  NoGrad ng(tape);
  ModelInput in;
  in.ids = ids;
  if (cfg.arch().family == ModelFamily::seq2seq) in.source_ids = ids;
  const Tensor y = m.forward(tape, in).value().contiguous_copy();
  return std::vector<float>(y.f32(), y.f32() + y.numel());
}

}  // namespace

TEST(models, registry_names_are_unique_and_known) {
  ASSERT_FALSE(archs().empty());
  for (const Arch* a : archs()) {
    EXPECT_EQ(&find_arch(a->name), a);
    for (const Arch* b : archs())
      if (a != b) {
        EXPECT_STRNE(a->name, b->name);
      }
  }
  test::expect_error([] { find_arch("nope"); }, "[model]", "unknown architecture 'nope'");
}

TEST(models, every_arch_builds_runs_reports_and_round_trips) {
  for (const Arch* arch : archs()) {
    SCOPED_TRACE(arch->name);
    nlohmann::json tiny = nlohmann::json::parse(arch->tiny);
    tiny["arch"] = arch->name;
    const ModelConfig cfg = ModelConfig::from_json(tiny);
    // The config through JSON and back, "arch" included.
    const nlohmann::json j = cfg.to_json();
    EXPECT_EQ(j.at("arch"), arch->name);
    EXPECT_EQ(ModelConfig::from_json(j).to_json(), j);
    // Build, run, count.
    ParamStore store;
    std::unique_ptr<Model> model = build_model(cfg, store);
    store.finalize(7);
    const int T = std::min(cfg.context(), 6);
    const Tensor ids = test::random_ids({2, T}, cfg.vocab_size(), 3);
    const std::vector<float> y = logits_of(*model, cfg, ids);
    ASSERT_EQ(y.size(), size_t(2) * size_t(T) * size_t(cfg.vocab_size()));
    for (float v : y) ASSERT_TRUE(std::isfinite(v));
    const ParamReport r = arch->report(cfg, store);
    EXPECT_EQ(r.total, store.count());
    EXPECT_EQ(r.weights + r.norms + r.biases, r.total);
    EXPECT_FALSE(r.summary.empty());
    // A checkpoint of it loads back, through the same path every command uses.
    test::ScratchDir dir(std::string("models_") + arch->name);
    RunConfig rc;
    rc.model = cfg;
    rc.data.tokenizer = "";
    save_checkpoint(dir.file("run"), store, nullptr, rc, TrainState{}, 1, true);
    LoadedModel back = load_model(dir.file("run"));
    EXPECT_EQ(back.cfg.to_json(), j);
    ASSERT_TRUE(back.model);
    EXPECT_EQ(logits_of(*back.model, back.cfg, ids), y);
    // The KV-cache engine runs the same stack to the same logits.
    if (arch->stack && arch->stack(cfg).causal) {
      const InferenceModel inf(cfg, store, WeightFormat::f32);
      const int V = cfg.vocab_size();
      for (int b = 0; b < 2; b++) {
        KvSeq seq(inf);
        std::vector<int32_t> row(ids.i32() + b * T, ids.i32() + (b + 1) * T);
        const std::vector<float> got = forward_tokens(inf, seq, row);
        for (int t = 0; t < T; t++)
          for (int v = 0; v < V; v++) {
            const float want = y[(size_t(b) * T + t) * V + v];
            ASSERT_NEAR(got[size_t(t) * V + v], want, 1e-4f * (1 + std::fabs(want)))
                << "row " << b << " position " << t;
          }
      }
    }
  }
}

// A checkpoint of the trainable part over a frozen base: only the trainable tensors are
// written, the base fills in the rest when it loads, and a missing base tensor is named.
TEST(models, trainable_subset_checkpoint_over_a_base) {
  test::ScratchDir dir("models_subset");
  const ModelConfig cfg("gpt");
  RunConfig rc;
  rc.model = cfg;
  rc.data.tokenizer = "";
  ParamStore base;
  build_model(cfg, base);
  base.finalize(1);
  const std::string base_dir = save_checkpoint(dir.file("base"), base, nullptr, rc, {}, 1, true);
  // The "fine-tuned" model: everything frozen but one matrix, which changes.
  ParamStore tuned;
  build_model(cfg, tuned);
  const std::string trained = "blk.0.attn_q.weight";
  for (Param& p : tuned.params()) p.trainable = p.name == trained;
  tuned.finalize(1);
  // No gradient (nor optimizer moments) for the frozen rest.
  EXPECT_EQ(tuned.grad_floats(), tuned.get(trained).numel());
  for (int64_t i = 0; i < tuned.get(trained).numel(); i++)
    tuned.get(trained).value.f32()[i] += 1.0f;
  const std::string ck =
      save_checkpoint(dir.file("tuned"), tuned, nullptr, rc, {}, 1, true, base_dir);
  {
    SafetensorsFile f(ck + "/model.safetensors");
    EXPECT_EQ(f.entries().size(), 1u);
    EXPECT_EQ(f.metadata().at("base"), base_dir);
  }
  LoadedModel m = load_model(ck);
  for (const Param& p : m.store->params()) {
    const Param& want = p.name == trained ? tuned.get(p.name) : base.get(p.name);
    ASSERT_EQ(0, std::memcmp(p.value.f32(), want.value.f32(), size_t(p.numel()) * 4)) << p.name;
  }
  // A base that is not the model's base: its missing tensor is named.
  RunConfig small = rc;
  small.model.set("n_layer", "1");
  ParamStore other;
  build_model(small.model, other);
  other.finalize(1);
  const std::string other_dir =
      save_checkpoint(dir.file("other"), other, nullptr, small, {}, 1, true);
  const std::string bad =
      save_checkpoint(dir.file("bad"), tuned, nullptr, rc, {}, 1, true, other_dir);
  test::expect_error([&] { load_model(bad); }, "[checkpoint]", "no tensor 'blk.1.");
}

// Activation checkpointing (Tape::checkpoint_every) changes memory, never results: for every
// architecture, with every dropout of its config on, the loss and every parameter's gradient
// are the same bits whether each block, every other block or none is recomputed in backward.
TEST(models, checkpointed_blocks_give_the_same_bits) {
  for (const Arch* arch : archs()) {
    SCOPED_TRACE(arch->name);
    nlohmann::json tiny = nlohmann::json::parse(arch->tiny);
    tiny["arch"] = arch->name;
    nlohmann::json full = ModelConfig::from_json(tiny).to_json();
    int dropouts = 0;
    for (auto& [key, value] : full.items())
      if (key.find("dropout") != std::string::npos && value.is_number()) {
        value = 0.1;
        dropouts++;
      }
    if (full.contains("n_layer")) full["n_layer"] = 3;
    if (full.contains("num_layers")) full["num_layers"] = 3;
    EXPECT_GT(dropouts, 0) << "no dropout to reproduce";
    const ModelConfig cfg = ModelConfig::from_json(full);
    ParamStore store;
    std::unique_ptr<Model> model = build_model(cfg, store);
    store.finalize(11);
    const int T = std::min(cfg.context(), 7);
    const Tensor ids = test::random_ids({3, T}, cfg.vocab_size(), 5);
    Tensor mask = Tensor::empty({3, T}, DType::i32);  // rows padded by 0, 1 and 2 tokens
    for (int64_t i = 0; i < mask.numel(); i++) mask.i32()[i] = i % T < T - (i / T) ? 1 : 0;
    std::vector<float> want_grads;
    float want_loss = 0;
    size_t peak[3] = {};
    for (int every : {0, 1, 2}) {
      SCOPED_TRACE(every);
      store.zero_grad();
      Tape tape(321);
      tape.checkpoint_every = every;
      ModelInput in;
      in.ids = ids;
      if (cfg.arch().family == ModelFamily::seq2seq) {
        in.source_ids = ids;
        in.source_mask = mask;
      }
      Var loss = cross_entropy(model->forward(tape, in), ids);
      tape.backward(loss);
      peak[every] = tape.peak_bytes();
      const std::vector<float> g(store.grads_data(), store.grads_data() + store.grad_floats());
      if (every == 0) {
        want_grads = g;
        want_loss = loss.value().f32()[0];
        continue;
      }
      EXPECT_EQ(std::memcmp(&want_loss, loss.value().f32(), 4), 0);
      ASSERT_EQ(g.size(), want_grads.size());
      EXPECT_EQ(std::memcmp(g.data(), want_grads.data(), g.size() * 4), 0);
    }
    EXPECT_LT(peak[1], peak[0]);
  }
}
