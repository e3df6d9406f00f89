// A Hugging Face GPT-2 (tests/reference/hf_gpt2_ref.py) imported into aero: the logits of the
// imported checkpoint, loaded as every aero command loads one, match Hugging Face's forward, and
// the GPT-2 byte-level BPE gives the reference ids on English, Vietnamese and edge strings.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "models/gpt.h"
#include "parity_util.h"
#include "tokenizer/gpt2_bpe.h"
#include "train/checkpoint.h"
#include "train/import_checkpoint.h"

using namespace aero;
using namespace aero::parity;

namespace {

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("aero_import_" + std::to_string(::getpid()));
  TempDir() { std::filesystem::remove_all(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Imports OUT/name, loads it as every command does and compares its logits with name_ref.
ImportReport expect_logits_match(const std::string& name) {
  const auto ref = open_reference(name + "_ref.safetensors");
  TempDir out;
  const ImportReport r = import_model("hf-gpt2", data_path(name), out.path.string());
  LoadedModel m = load_model(out.path.string());
  EXPECT_EQ(m.tokenizer, r.tokenizer);
  const StEntry& e = ref->at("ids");
  Tensor idx = Tensor::empty({1, e.shape[0]}, DType::i32);
  ref->read_into("ids", Tensor::wrap(idx.raw(), {e.shape[0]}, DType::i32));
  Tape tape;
  tape.training = false;
  ModelInput in;
  in.ids = idx;
  const Tensor got = m.model->forward(tape, in).value().contiguous_copy();
  const Tensor want = ref->read_f32("logits");
  expect_close(name + " logits", Tensor::wrap(got.f32(), want.shape()), want, 1e-5);
  double max_abs = 0;
  for (int64_t i = 0; i < want.numel(); i++)
    max_abs = std::max(max_abs, std::fabs(double(got.f32()[i]) - want.f32()[i]));
  std::printf("  max |aero - hf| = %.2e\n", max_abs);
  EXPECT_LE(max_abs, 1e-5);
  return r;
}

}  // namespace

// "transformer." prefix, mask buffers, a tied lm_head, the tokenizer beside it.
TEST(import_hf_gpt2, logits_match_hugging_face) {
  const ImportReport r = expect_logits_match("hf_gpt2");
  const GptConfig& g = r.cfg.as<GptConfig>();
  EXPECT_EQ(g.n_layer, 2);
  EXPECT_TRUE(g.tie_head && g.bias && g.pos == PosKind::learned);
  EXPECT_FALSE(r.tokenizer.empty());
}

// Bare names, float16 weights, n_inner 3C, epsilon 1e-6, no tokenizer.
TEST(import_hf_gpt2, float16_bare_layout_matches_too) {
  const ImportReport r = expect_logits_match("hf_gpt2_f16");
  const GptConfig& g = r.cfg.as<GptConfig>();
  EXPECT_EQ(g.ffn(), 3 * g.n_embd);
  EXPECT_FLOAT_EQ(g.norm_eps, 1e-6f);
  EXPECT_TRUE(r.tokenizer.empty());
}

TEST(import_hf_gpt2, byte_level_bpe_matches_the_reference) {
  const std::string path = data_path("hf_gpt2_bpe.json");
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is written by parity.reference.hf_gpt2";
  const nlohmann::json j = nlohmann::json::parse(read_file(path));
  const auto tok = load_tokenizer(data_path("hf_gpt2"));
  EXPECT_EQ(tok->kind(), "gpt2-bpe");
  EXPECT_EQ(tok->eos_id(), tok->vocab_size() - 1);
  const auto by_file = load_tokenizer(data_path("hf_gpt2/vocab.json"));
  EXPECT_EQ(by_file->vocab_size(), tok->vocab_size());
  const auto& texts = j.at("texts");
  ASSERT_GE(texts.size(), 10u);
  EncodeCache cache;
  for (size_t i = 0; i < texts.size(); i++) {
    const std::string text = texts[i].get<std::string>();
    const std::vector<int> want = j.at("ids")[i].get<std::vector<int>>();
    EXPECT_EQ(tok->encode(text), want) << "text " << i << ": " << text;
    EXPECT_EQ(tok->encode(text, &cache), want) << "text " << i << " (cached)";
    EXPECT_EQ(tok->decode(want), text) << "text " << i;
  }
}
