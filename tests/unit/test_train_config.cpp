#include <gtest/gtest.h>

#include "models/gpt.h"
#include "op_test.h"
#include "test_data_util.h"
#include "train/config.h"
#include "train/schedule.h"

using namespace aero;
using aero::test::error_of;

TEST(train_config, sections_overrides_and_round_trip) {
  test::ScratchDir dir("train_config");
  std::string path = dir.write("c.json", R"({"model": {"n_layer": 2, "pos": "learned"},
      "train": {"lr": 0.01, "optimizer": "sgd"}, "data": {"train": "t.bin"}})");
  RunConfig c = load_run_config(path);
  EXPECT_EQ(c.model.arch().name, std::string("gpt"));  // a config without "arch" is a GPT's
  EXPECT_EQ(c.model.as<GptConfig>().n_layer, 2);
  EXPECT_EQ(c.model.as<GptConfig>().pos, PosKind::learned);
  EXPECT_FLOAT_EQ(c.train.optim.lr, 0.01f);
  EXPECT_EQ(c.train.optim.kind, OptimKind::sgd);
  EXPECT_EQ(c.data.train, "t.bin");
  EXPECT_EQ(c.train.batch_size, TrainConfig{}.batch_size);  // absent keys keep defaults
  apply_override(c, "train.lr=3e-4");
  apply_override(c, "model.bias=true");
  apply_override(c, "data.val=v.bin");
  EXPECT_FLOAT_EQ(c.train.optim.lr, 3e-4f);
  EXPECT_TRUE(c.model.as<GptConfig>().bias);
  EXPECT_EQ(run_config_to_json(c)["model"]["arch"], "gpt");
  EXPECT_EQ(c.data.val, "v.bin");
  EXPECT_EQ(run_config_to_json(c)["train"]["lr"].dump(), "0.0003");  // not 0.000300000014
  RunConfig d = run_config_from_json(run_config_to_json(c), "copy");
  EXPECT_EQ(run_config_to_json(d), run_config_to_json(c));
}

TEST(train_config, errors_name_the_file_and_key) {
  test::ScratchDir dir("train_config_err");
  auto err = [&](const std::string& text) {
    return error_of([&] { load_run_config(dir.write("bad.json", text)); });
  };
  EXPECT_NE(err(R"({"train": {"lrr": 1}})").find("bad.json: unknown key 'lrr' in train"),
            std::string::npos);
  EXPECT_NE(err(R"({"optim": {}})").find("bad.json: unknown section 'optim'"), std::string::npos);
  EXPECT_NE(err(R"({"train": {"max_steps": "ten"}})").find("bad.json: train.max_steps"),
            std::string::npos);
  EXPECT_NE(err(R"({"train": {"schedule": "step"}})").find("is not one of: constant"),
            std::string::npos);
  EXPECT_NE(err("{oops").find("bad.json: invalid JSON"), std::string::npos);
  RunConfig c;
  EXPECT_NE(error_of([&] { apply_override(c, "train.lr"); }).find("section.key=value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "model.n_layer=x"); }).find("model.n_layer"),
            std::string::npos);
  // A list's elements are checked as their type is: no float-to-int cast out of range.
  EXPECT_NE(error_of([&] {
              apply_override(c, "data.buckets=[16,3e31]");
            }).find("data.buckets[1]: 3e+31 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              apply_override(c, "data.buckets=[16,2.5]");
            }).find("data.buckets[1]: expected an integer"),
            std::string::npos);
  apply_override(c, "data.buckets=[16,32]");
  EXPECT_EQ(c.data.buckets, (std::vector<int>{16, 32}));
  std::string help = run_config_help();
  EXPECT_NE(help.find("grad_accum (int, default 1)"), std::string::npos);
  EXPECT_NE(help.find("tokenizer (string"), std::string::npos);
  EXPECT_NE(help.find("lr (float, default 0.001)"), std::string::npos);
}

TEST(train_schedule, warmup_then_decay) {
  Schedule s{ScheduleKind::cosine, 1.0f, 0.1f, 10, 110};
  EXPECT_FLOAT_EQ(s.at(0), 0.1f);  // warmup: (step + 1) / warmup
  EXPECT_FLOAT_EQ(s.at(4), 0.5f);
  EXPECT_FLOAT_EQ(s.at(9), 1.0f);
  EXPECT_FLOAT_EQ(s.at(10), 1.0f);     // decay starts at the peak
  EXPECT_NEAR(s.at(60), 0.55f, 1e-6);  // half way: (lr + min_lr) / 2
  EXPECT_NEAR(s.at(109), 0.1f, 1e-3);  // almost at min_lr
  EXPECT_FLOAT_EQ(s.at(500), 0.1f);    // stays there
  for (int64_t i = 11; i < 110; i++) EXPECT_LE(s.at(i), s.at(i - 1));
  Schedule lin{ScheduleKind::linear, 1.0f, 0.0f, 0, 100};
  EXPECT_FLOAT_EQ(lin.at(0), 1.0f);
  EXPECT_NEAR(lin.at(25), 0.75f, 1e-6);
  EXPECT_NEAR(lin.at(75), 0.25f, 1e-6);
  Schedule k{ScheduleKind::constant, 0.5f, 0.0f, 4, 100};
  EXPECT_FLOAT_EQ(k.at(1), 0.25f);
  EXPECT_FLOAT_EQ(k.at(99), 0.5f);
  EXPECT_FLOAT_EQ(k.at(1000), 0.5f);
}

TEST(train_config, arch_selects_the_registry_row) {
  test::ScratchDir dir("train_config_arch");
  auto err = [&](const std::string& text) {
    return error_of([&] { load_run_config(dir.write("a.json", text)); });
  };
  EXPECT_NE(err(R"({"model": {"arch": "gpt5"}})")
                .find("a.json: model.arch: unknown architecture 'gpt5' (known: gpt"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"arch": 3}})").find("model.arch: expected a string"),
            std::string::npos);
  EXPECT_NE(
      err(R"({"model": {"act": "tanh"}})").find("model.act: 'tanh' is not one of: gelu, relu"),
      std::string::npos);
  RunConfig c = load_run_config(dir.write("g.json", R"({"model": {"arch": "gpt", "n_embd": 32}})"));
  EXPECT_EQ(c.model.as<GptConfig>().n_embd, 32);
  // --set model.arch=... starts from that architecture's defaults.
  apply_override(c, "model.arch=gpt");
  EXPECT_EQ(c.model.as<GptConfig>().n_embd, GptConfig{}.n_embd);
  EXPECT_NE(error_of([&] { apply_override(c, "model.arch=t9"); }).find("unknown architecture 't9'"),
            std::string::npos);
}
