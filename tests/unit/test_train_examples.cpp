// data.mode = examples: one document per row, padded. The loss must not depend on how rows are
// batched or padded, and the final-token objective must take each row's last real token.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "models/gpt.h"
#include "test_data_util.h"
#include "train/trainer.h"

using namespace aero;
using namespace aero::test;

namespace {

GptConfig tiny_model() {
  GptConfig c;
  c.vocab_size = 13;
  c.block_size = 16;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_embd = 16;
  c.ffn_hidden = 32;
  c.pos = PosKind::learned;
  return c;
}

// Documents of 2..14 tokens (the longer ones cut to block_size + 1), end-of-text id 0.
std::string write_docs(const ScratchDir& d, const std::string& name, int n_docs) {
  ShardWriter w(d.file(name), 13, 0);
  for (int i = 0; i < n_docs; i++) {
    std::vector<int32_t> doc;
    for (int t = 0; t < 1 + (i * 7) % 19; t++) doc.push_back(1 + (i + t * 3) % 12);
    doc.push_back(0);
    w.append(doc);
  }
  w.commit();
  return d.file(name);
}

}  // namespace

TEST(train_examples, loss_does_not_depend_on_batching_or_padding) {
  ScratchDir d("train_ex_eval");
  const std::string shard = write_docs(d, "val.bin", 23);
  ParamStore store;
  Gpt gpt(tiny_model(), store);
  store.finalize(5);
  Tape tape;
  for (bool final_only : {false, true}) {
    EvalOptions one;  // one row per batch, no padding at all
    one.batch_size = 1;
    one.examples = true;
    one.final_only = final_only;
    EvalOptions padded = one;  // rows of different lengths padded together to 16
    padded.batch_size = 5;
    padded.buckets = {4, 16};
    const EvalResult a = evaluate_shard(gpt, gpt_model_config(tiny_model()), tape, shard, one);
    const EvalResult b = evaluate_shard(gpt, gpt_model_config(tiny_model()), tape, shard, padded);
    EXPECT_TRUE(std::isfinite(a.loss));
    EXPECT_NEAR(a.loss, b.loss, 1e-5 * a.loss) << "final_only " << final_only;
    EXPECT_EQ(a.tokens, b.tokens);  // real tokens only, never the padding
    // Near log(13) at initialisation.
    EXPECT_NEAR(a.loss, std::log(13.0), 0.3);
  }
  EvalOptions all, last;
  all.batch_size = last.batch_size = 4;
  all.examples = last.examples = true;
  last.final_only = true;
  EXPECT_NE(evaluate_shard(gpt, gpt_model_config(tiny_model()), tape, shard, all).loss,
            evaluate_shard(gpt, gpt_model_config(tiny_model()), tape, shard, last).loss);
}

TEST(train_examples, config_errors_name_the_field) {
  ScratchDir d("train_ex_cfg");
  RunConfig c;
  c.model = gpt_model_config(tiny_model());
  c.train.max_steps = 2;
  c.train.eval_every = 0;
  c.data.mode = DataMode::examples;
  c.data.train = write_docs(d, "train.bin", 10);
  c.data.test = c.data.tokenizer = "";
  c.train.out_dir = d.file("run");
  c.data.buckets = {8, 4};
  EXPECT_THROW(
      {
        try {
          Trainer t(c);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("data.buckets"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  c.data.buckets = {32};  // longer than block_size 16
  EXPECT_THROW(Trainer t(c), Error);
  c.data.buckets = {8, 16};
  Trainer ok(c);
  const TrainResult r = ok.run();
  EXPECT_EQ(r.steps, 2);
  EXPECT_GT(ok.state().tokens_seen, 0);
  EXPECT_LT(ok.state().tokens_seen, 2 * 32 * 16);  // real tokens only: the docs are short
}
