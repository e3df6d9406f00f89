// Added tokens under LoRA (PEFT's trainable_token_indices): the rows of the new ids in the
// frozen embedding and untied head train on their own. Their gradient equals the full model's
// gradient of those rows and reaches nothing else; they start at the mean of the existing rows;
// an adapter checkpoint holds only A, B and these rows and loads back to identical logits; a
// base with fewer rows loads into grown tables.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include <filesystem>

#include "io/safetensors.h"
#include "models/load.h"
#include "nn/token_rows.h"
#include "train/checkpoint.h"

using namespace aero;
namespace fs = std::filesystem;

namespace {

ModelConfig t5_config(bool tied) {
  return ModelConfig::from_json({{"arch", "t5"},
                                 {"vocab_size", 20},
                                 {"d_model", 8},
                                 {"d_kv", 4},
                                 {"d_ff", 12},
                                 {"num_layers", 1},
                                 {"num_decoder_layers", 1},
                                 {"num_heads", 2},
                                 {"dropout_rate", 0.0},
                                 {"eos_token_id", 1},
                                 {"tie_word_embeddings", tied}});
}

ModelConfig gpt_config(int vocab) {
  return ModelConfig::from_json({{"arch", "gpt"},
                                 {"vocab_size", vocab},
                                 {"block_size", 8},
                                 {"n_layer", 1},
                                 {"n_head", 2},
                                 {"n_embd", 8},
                                 {"ffn_hidden", 12},
                                 {"tie_head", true}});
}

LoraConfig lora_with_tokens(std::vector<int> ids) {
  LoraConfig l;
  l.r = 2;
  l.alpha = 4;
  l.targets = {"q", "attn_q"};
  l.trainable_tokens = std::move(ids);
  return l;
}

Tensor ids_tensor(const std::vector<int32_t>& v, int64_t B, int64_t T) {
  Tensor t = Tensor::empty({B, T}, DType::i32);
  std::copy(v.begin(), v.end(), t.i32());
  return t;
}

// Inputs that use the new ids 17 and 18 on both sides (and as targets).
ModelInput input(const ModelConfig& cfg) {
  ModelInput mi;
  mi.ids = ids_tensor({0, 17, 5, 18, 0, 3, 17, 9}, 2, 4);
  if (cfg.arch().family == ModelFamily::seq2seq)
    mi.source_ids = ids_tensor({4, 18, 17, 2, 1, 6, 7, 17, 18, 1}, 2, 5);
  return mi;
}
const Tensor& targets() {
  static const Tensor t = ids_tensor({17, 5, 18, 1, 3, 17, 9, 18}, 2, 4);
  return t;
}

float loss_backward(Model& m, const ModelInput& mi) {
  Tape tape;
  tape.training = true;
  Var loss = cross_entropy(m.forward(tape, mi), targets());
  tape.backward(loss);
  return loss.value().f32()[0];
}

std::vector<float> logits(Model& m, const ModelInput& mi) {
  Tape tape;
  tape.training = false;
  NoGrad ng(tape);
  const Tensor y = m.forward(tape, mi).value().contiguous_copy();
  return std::vector<float>(y.f32(), y.f32() + y.numel());
}

// Copies every parameter `from` has into `to` (same names and shapes).
void copy_params(const ParamStore& from, ParamStore& to) {
  for (const Param& p : from.params())
    if (to.has(p.name)) std::copy_n(p.value.f32(), p.numel(), to.get(p.name).value.f32());
}

void expect_rows_equal(const Tensor& table, const std::vector<int32_t>& ids, const Tensor& rows,
                       float tol) {
  const int64_t C = table.size(1);
  for (size_t k = 0; k < ids.size(); k++)
    for (int64_t c = 0; c < C; c++) {
      const float want = table.f32()[ids[k] * C + c], got = rows.f32()[int64_t(k) * C + c];
      EXPECT_NEAR(got, want, tol * (1 + std::fabs(want))) << "row " << ids[k] << " col " << c;
    }
}

// A full model and a LoRA model with trainable rows {17, 18}, both with those rows at the mean
// of rows [0, 17): the same function at step 0.
void check_gradient_only_in_new_rows(const ModelConfig& cfg) {
  const std::vector<int32_t> ids = {17, 18};
  ParamStore full_store, store;
  BuiltModel full = build_model(cfg, LoraConfig{}, full_store);
  BuiltModel ft = build_model(cfg, lora_with_tokens({17, 18}), store);
  full_store.finalize(7);
  store.finalize(3);
  copy_params(full_store, store);
  ASSERT_NE(ft.rows, nullptr);
  ft.rows->capture();
  init_rows_mean(full.model->token_tables(), ids, 17);
  ft.rows->init_mean(ids, 17);

  // Mean initialisation, in the table and in the rows parameter (embedding and head).
  const TokenTables tables = full.model->token_tables();
  for (Param* table :
       {&tables.embedding->weight_param(), tables.head ? &tables.head->weight_param() : nullptr}) {
    if (!table) continue;
    const int64_t C = table->shape.d[1];
    for (int64_t c = 0; c < C; c++) {
      double m = 0;
      for (int64_t r = 0; r < 17; r++) m += table->value.f32()[r * C + c];
      EXPECT_NEAR(table->value.f32()[17 * C + c], m / 17, 1e-6) << table->name;
      EXPECT_EQ(table->value.f32()[18 * C + c], table->value.f32()[17 * C + c]);
    }
  }
  const ModelInput mi = input(cfg);
  EXPECT_EQ(logits(*full.model, mi), logits(*ft.model, mi));  // LoRA's B is zero at step 0

  const float l_full = loss_backward(*full.model, mi), l_ft = loss_backward(*ft.model, mi);
  EXPECT_NEAR(l_full, l_ft, 1e-6);
  // Only A, B and the token rows are trainable; every base tensor is frozen (no gradient).
  int rows_params = 0;
  for (const Param& p : store.params()) {
    const bool mine = p.name.find(".lora_") != std::string::npos ||
                      p.name.find(".token_rows.") != std::string::npos;
    EXPECT_EQ(p.trainable, mine) << p.name;
    EXPECT_EQ(p.grad.defined(), mine) << p.name;
    rows_params += p.name.find(".token_rows.") != std::string::npos;
  }
  EXPECT_EQ(rows_params, tables.head ? 2 : 1);
  // The rows' gradient is the full model's gradient of those rows (embedding + tied head, or
  // each table on its own).
  const TokenTables ft_tables = ft.model->token_tables();
  expect_rows_equal(tables.embedding->weight_param().grad, ids, ft.rows->embedding->rows().grad,
                    1e-4f);
  if (tables.head)
    expect_rows_equal(tables.head->weight_param().grad, ids, ft.rows->head->rows().grad, 1e-4f);
  double norm = 0;
  for (int64_t i = 0; i < ft.rows->embedding->rows().numel(); i++)
    norm += std::fabs(ft.rows->embedding->rows().grad.f32()[i]);
  EXPECT_GT(norm, 0.0);
  (void)ft_tables;
}

}  // namespace

TEST(token_rows, t5_untied_gradient_reaches_only_the_new_rows_and_equals_the_full_gradient) {
  check_gradient_only_in_new_rows(t5_config(false));
}

TEST(token_rows, t5_tied_and_gpt_tied_heads_route_both_uses_into_the_rows) {
  check_gradient_only_in_new_rows(t5_config(true));
  check_gradient_only_in_new_rows(gpt_config(20));
}

TEST(token_rows, adapter_checkpoint_holds_only_the_rows_and_loads_to_identical_logits) {
  const fs::path dir = fs::temp_directory_path() / ("aero_token_rows_" + std::to_string(getpid()));
  fs::remove_all(dir);
  // A base with 18 rows (the "tokenizer" had 17 tokens and one spare row); the fine-tune adds
  // ids 17 (the spare row) and 18 (a grown row).
  RunConfig base_cfg;
  base_cfg.model = t5_config(false);
  base_cfg.model.set("vocab_size", "18");
  ParamStore base_store;
  BuiltModel base = build_model(base_cfg.model, LoraConfig{}, base_store);
  base_store.finalize(11);
  const std::string base_ckpt = save_checkpoint((dir / "base").string(), base_store, nullptr,
                                                base_cfg, TrainState{}, 1, false);

  RunConfig cfg;
  cfg.model = t5_config(false);
  cfg.model.set("vocab_size", "19");
  cfg.lora = lora_with_tokens({17, 18});
  ParamStore store;
  BuiltModel ft = build_model(cfg.model, cfg.lora, store);
  store.finalize(1);
  load_checkpoint_weights(base_ckpt, "t5", store, /*init=*/true);
  ft.rows->capture();
  ft.rows->init_mean({17, 18}, 17);
  // "Training": every trainable value moves.
  for (Param& p : store.params())
    if (p.trainable)
      for (int64_t i = 0; i < p.numel(); i++)
        p.value.f32()[i] += 0.01f * float((i * 7 + int64_t(p.name.size())) % 13 - 6);
  ft.rows->sync();
  const ModelInput mi = input(cfg.model);
  const std::vector<float> want = logits(*ft.model, mi);

  TrainState st;
  st.step = 5;
  const std::string ckpt =
      save_checkpoint((dir / "run").string(), store, nullptr, cfg, st, 1, false, base_ckpt);
  // The adapter file: A and B of each q, and the two (2, d_model) token-row tensors; no table.
  SafetensorsFile f(ckpt + "/model.safetensors");
  int64_t floats = 0;
  for (const StEntry& e : f.entries()) {
    EXPECT_TRUE(e.name.find(".lora_") != std::string::npos ||
                e.name.find(".token_rows.") != std::string::npos)
        << e.name;
    floats += e.numel();
  }
  EXPECT_TRUE(f.has("shared.token_rows.weight"));
  EXPECT_TRUE(f.has("lm_head.token_rows.weight"));
  EXPECT_EQ(f.at("shared.token_rows.weight").shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(floats, ft.lora->params + ft.rows->params);
  EXPECT_LT(floats, store.count() / 10);

  // Loaded on the base (18 rows) into the grown model (19 rows): identical logits.
  LoadedModel m = load_model(ckpt);
  EXPECT_EQ(m.cfg.vocab_size(), 19);
  ASSERT_NE(m.rows, nullptr);
  EXPECT_EQ(logits(*m.model, mi), want);
  // Merged for generation: the same.
  m.lora->merge();
  const std::vector<float> merged = logits(*m.model, mi);
  for (size_t i = 0; i < want.size(); i++) EXPECT_NEAR(merged[i], want[i], 1e-5);
  fs::remove_all(dir);
}
