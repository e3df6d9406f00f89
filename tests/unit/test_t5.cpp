// T5 pieces a user relies on beyond the parity test: bucket values, PEFT module names, the
// hf-t5 importer's errors (missing / mis-shaped tensor, pytorch_model.bin only, unknown
// activation), shift_right, and the pairs data path (dropped rows, columns, truncation).
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "data/batching.h"
#include "infer/seq2seq.h"
#include "io/safetensors.h"
#include "models/t5.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "train/batches.h"
#include "train/import_checkpoint.h"

using namespace aero;
namespace fs = std::filesystem;

namespace {

void expect_error(const std::function<void()>& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

T5Config tiny() {
  T5Config c;
  c.vocab_size = 20;
  c.d_model = 8;
  c.d_kv = 4;
  c.d_ff = 12;
  c.num_layers = 1;
  c.num_decoder_layers = 2;
  c.num_heads = 2;
  c.relative_attention_num_buckets = 8;
  c.relative_attention_max_distance = 16;
  c.feed_forward_proj = T5Ffn::gated_gelu;
  c.tie_word_embeddings = false;
  return c;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("aero_t5_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Writes a checkpoint of `c` in HF's layout; `edit` may rename, drop or reshape tensors.
void write_hf(const fs::path& d, const T5Config& c,
              const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit = {}) {
  ParamStore s;
  T5 m(c, s);
  s.finalize(3);
  std::vector<std::pair<std::string, Tensor>> w;
  for (const Param& p : s.params()) w.emplace_back(p.name, p.value);
  if (edit) edit(w);
  std::vector<StTensorRef> refs;
  for (auto& [n, t] : w) refs.emplace_back(n, t);
  write_safetensors((d / "model.safetensors").string(), refs);
  nlohmann::json j = {{"model_type", "mt5"},
                      {"vocab_size", c.vocab_size},
                      {"d_model", c.d_model},
                      {"d_kv", c.d_kv},
                      {"d_ff", c.d_ff},
                      {"num_layers", c.num_layers},
                      {"num_decoder_layers", c.num_decoder_layers},
                      {"num_heads", c.num_heads},
                      {"relative_attention_num_buckets", c.relative_attention_num_buckets},
                      {"relative_attention_max_distance", c.relative_attention_max_distance},
                      {"feed_forward_proj", t5_ffn_names().name(c.feed_forward_proj)},
                      {"tie_word_embeddings", c.tie_word_embeddings}};
  std::ofstream(d / "config.json") << j.dump(2);
}

}  // namespace

TEST(t5, relative_buckets_by_hand) {
  // 32 buckets, max distance 128 (T5's): bidirectional halves of 16, exact below 8.
  EXPECT_EQ(t5_relative_bucket(0, true, 32, 128), 0);
  EXPECT_EQ(t5_relative_bucket(-3, true, 32, 128), 3);
  EXPECT_EQ(t5_relative_bucket(3, true, 32, 128), 19);
  EXPECT_EQ(t5_relative_bucket(-1000, true, 32, 128), 15);
  EXPECT_EQ(t5_relative_bucket(1000, true, 32, 128), 31);
  // causal: keys after the query share bucket 0; exact below 16, last bucket 31.
  EXPECT_EQ(t5_relative_bucket(5, false, 32, 128), 0);
  EXPECT_EQ(t5_relative_bucket(-15, false, 32, 128), 15);
  EXPECT_EQ(t5_relative_bucket(-1000, false, 32, 128), 31);
}

TEST(t5, linears_carry_peft_module_names) {
  ParamStore s;
  T5 m(tiny(), s);
  std::vector<std::string> names;
  for (Linear* l : m.linears()) names.push_back(l->name());
  // encoder: q k v o wi_0 wi_1 wo; decoder: + cross q k v o; head
  EXPECT_EQ(names.size(), size_t(7 + 2 * 11 + 1));
  EXPECT_EQ(names.front(), "encoder.block.0.layer.0.SelfAttention.q");
  EXPECT_NE(std::find(names.begin(), names.end(), "decoder.block.1.layer.1.EncDecAttention.k"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "decoder.block.0.layer.2.DenseReluDense.wi_0"),
            names.end());
  EXPECT_EQ(names.back(), "lm_head");
}

TEST(t5, config_rejects_unknown_activation) {
  expect_error(
      [] {
        ModelConfig::from_json({{"arch", "t5"}, {"feed_forward_proj", "swish"}});
      },
      "feed_forward_proj");
}

TEST(t5, import_reads_a_good_checkpoint_and_names_bad_tensors) {
  const T5Config c = tiny();
  const fs::path d = temp_dir("import");
  write_hf(d, c);
  {
    ParamStore s;
    T5 m(c, s);
    EXPECT_EQ(read_hf_t5(d.string()).weights.size(), s.params().size());
  }
  write_hf(d, c, [](auto& w) {
    std::erase_if(
        w, [](auto& p) { return p.first == "decoder.block.1.layer.1.EncDecAttention.v.weight"; });
  });
  expect_error([&] { read_hf_t5(d.string()); }, "decoder.block.1.layer.1.EncDecAttention.v.weight");
  write_hf(d, c, [](auto& w) {
    for (auto& [n, t] : w)
      if (n == "encoder.block.0.layer.1.DenseReluDense.wo.weight") t = Tensor::zeros({8, 11});
  });
  expect_error([&] { read_hf_t5(d.string()); },
               "'encoder.block.0.layer.1.DenseReluDense.wo.weight' has shape (8, 11)");
  // The shared embedding under another stored name is the same tensor.
  write_hf(d, c, [](auto& w) {
    for (auto& [n, t] : w)
      if (n == "shared.weight") n = "decoder.embed_tokens.weight";
  });
  EXPECT_NO_THROW(read_hf_t5(d.string()));
  // Unknown activation in config.json.
  nlohmann::json j = nlohmann::json::parse(std::ifstream(d / "config.json"));
  j["feed_forward_proj"] = "gated-swish";
  std::ofstream(d / "config.json") << j.dump();
  expect_error([&] { read_hf_t5(d.string()); }, "feed_forward_proj");
  // pytorch_model.bin only.
  j["feed_forward_proj"] = "gated-gelu";
  std::ofstream(d / "config.json") << j.dump();
  fs::remove(d / "model.safetensors");
  std::ofstream(d / "pytorch_model.bin") << "pickle";
  expect_error([&] { read_hf_t5(d.string()); }, "pytorch_model.bin");
  fs::remove_all(d);
}

TEST(t5, shift_right_starts_from_pad) {
  const int32_t labels[] = {5, 6, 1, -100, 7, 1, -100, -100};
  int32_t dec[8];
  shift_right(dec, labels, 2, 4, 0, 0);
  const int32_t want[] = {0, 5, 6, 1, 0, 7, 1, 0};
  for (int i = 0; i < 8; i++) EXPECT_EQ(dec[i], want[i]) << i;
}

TEST(t5, pairs_drop_rows_cut_with_eos_and_name_missing_columns) {
  const fs::path d = temp_dir("pairs");
  std::ofstream(d / "p.csv") << "a,b\nhello,world\n,x\ny,\n\"abcdefghij\",\"klm\"\n";
  std::ofstream(d / "p.jsonl") << R"({"a": "hi", "b": "yo"})"
                               << "\n"
                               << R"({"a": "hi"})"
                               << "\n";
  std::ofstream(d / "empty_target.csv") << "a,b\nx,\ny,\n";
  std::set<char32_t> chars;
  for (char ch : std::string("helloworldabcdefghijklmxyo")) chars.insert(char32_t(ch));
  CharTokenizer tok = CharTokenizer::from_chars(chars);
  tok.save((d / "chars.json").string());
  PairsOptions o;
  o.tokenizer = (d / "chars.json").string();
  o.input_column = "a";
  o.target_column = "b";
  o.max_input = 5;
  uint64_t dropped = 0;
  auto ex = read_pair_examples((d / "p.csv").string(), o, &dropped);
  ASSERT_EQ(ex.size(), size_t(2));
  EXPECT_EQ(dropped, uint64_t(2));
  const int eos = tok.eos_id();
  EXPECT_EQ(ex[0].input.size(), size_t(5));  // "hell" + EOS
  EXPECT_EQ(ex[0].input.back(), eos);
  EXPECT_EQ(ex[0].target.size(), size_t(6));  // "world" + EOS
  ex = read_pair_examples((d / "p.jsonl").string(), o, &dropped);
  EXPECT_EQ(ex.size(), size_t(1));
  EXPECT_EQ(dropped, uint64_t(1));
  expect_error([&] { read_pair_examples((d / "empty_target.csv").string(), o); },
               "no row has both 'a' and 'b'");
  o.target_column = "reply";
  expect_error([&] { read_pair_examples((d / "p.csv").string(), o); }, "no column 'reply'");
  fs::remove_all(d);
}

TEST(t5, import_adds_the_100_sentinels_in_hf_order) {
  const fs::path d = temp_dir("spm"), out = temp_dir("spm_out");
  fs::remove_all(out);
  {
    std::ofstream f(d / "text.txt");
    for (int i = 0; i < 200; i++) f << "the cat sat on the mat and the dog ran " << i % 7 << "\n";
  }
  SpTrainOptions so;
  so.inputs = {(d / "text.txt").string()};
  so.model_path = (d / "spiece.model").string();
  so.vocab_size = 40;
  so.byte_fallback = false;
  train_sentencepiece(so);
  T5Config c = tiny();
  c.vocab_size = 150;  // 40 pieces + 100 sentinels + 10 spare rows
  write_hf(d, c);
  const ImportReport r = import_model("hf-t5", d.string(), out.string());
  EXPECT_EQ(r.tokenizer_vocab, 140);
  const auto tok = load_tokenizer(r.tokenizer);
  EXPECT_EQ(tok->token_to_id("<extra_id_0>"), 40 + 99);
  EXPECT_EQ(tok->token_to_id("<extra_id_99>"), 40);
  EXPECT_EQ(tok->token_to_id("<extra_id_7>"), 40 + 99 - 7);
  const std::vector<int> ids = tok->encode("the <extra_id_3> cat");
  EXPECT_NE(std::find(ids.begin(), ids.end(), 40 + 96), ids.end());
  fs::remove_all(d);
  fs::remove_all(out);
}

// Cached decoding (encoder once, cross K/V once, self K/V cached) = recomputing the whole
// decoder prefix each step: the same tokens and logits within float32 roundoff.
TEST(t5, cached_greedy_decoding_equals_recompute) {
  for (bool v10 : {true, false}) {
    T5Config c = tiny();
    c.vocab_size = 30;
    c.dropout_rate = 0.0f;
    c.relative_attention_max_distance = 6;  // so 12 steps reach the logarithmic buckets
    if (v10) {
      c.feed_forward_proj = T5Ffn::relu;
      c.tie_word_embeddings = true;
    }
    c.eos_token_id = 29;  // rarely argmax: the rows run long
    ParamStore s;
    T5 m(c, s);
    s.finalize(11);
    const int64_t B = 3, S = 7;
    Tensor src = Tensor::empty({B, S}, DType::i32), mask = Tensor::empty({B, S}, DType::i32);
    for (int64_t i = 0; i < B * S; i++) {
      const bool pad = i % S >= S - 2 * (i / S);  // rows of 7, 5 and 3 tokens
      src.i32()[i] = pad ? 0 : int32_t(2 + (i * 7) % 27);
      mask.i32()[i] = pad ? 0 : 1;
    }
    const Seq2SeqGreedy a = greedy_seq2seq(m, src, mask, 12, true);
    const Seq2SeqGreedy b = greedy_seq2seq_recompute(m, src, mask, 12, true);
    EXPECT_EQ(a.tokens, b.tokens);
    ASSERT_EQ(a.logits.size(), b.logits.size());
    double worst = 0;
    for (size_t k = 0; k < a.logits.size(); k++) {
      double diff = 0, scale = 0;
      for (int64_t i = 0; i < a.logits[k].numel(); i++) {
        diff = std::max(diff, double(std::fabs(a.logits[k].f32()[i] - b.logits[k].f32()[i])));
        scale = std::max(scale, double(std::fabs(b.logits[k].f32()[i])));
      }
      worst = std::max(worst, diff / scale);
    }
    // The longest row: its tokens must vary (a cache at wrong positions would not match).
    const auto& longest =
        *std::max_element(a.tokens.begin(), a.tokens.end(),
                          [](const auto& x, const auto& y) { return x.size() < y.size(); });
    std::string row;
    for (int32_t t : longest) {
      row += ' ';
      row += std::to_string(t);
    }
    std::printf("  %s: %zu steps, max |cached - recompute| / max |recompute| = %.2e; longest:%s\n",
                v10 ? "v1.0" : "mT5", a.logits.size(), worst, row.c_str());
    EXPECT_GE(longest.size(), size_t(6));
    EXPECT_GT(std::set<int32_t>(longest.begin(), longest.end()).size(), size_t(1));
    EXPECT_LE(worst, 1e-5);
  }
}
