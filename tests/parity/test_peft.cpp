// PEFT interop without PEFT: an adapter written to PEFT's documented layout by
// tests/reference/peft_ref.py loads into aero and merges to the reference's scale·B·A; an
// adapter aero writes is read back by the same reference, which checks its keys, names and
// shapes and recomputes aero's merge.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "models/gpt.h"
#include "models/peft.h"
#include "parity_util.h"

using namespace aero;
using namespace aero::parity;

namespace {

// The GPT whose module names and shapes peft_ref.py knows.
GptConfig tiny() {
  GptConfig c;
  c.vocab_size = 19;
  c.block_size = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  c.ffn_hidden = 24;
  return c;
}

// Runs fn and checks it throws an aero::Error whose message contains `part`.
template <typename Fn>
void test_error(Fn&& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(peft, reads_an_adapter_written_to_peft_layout) {
  const PeftAdapter ad = read_peft_adapter(data_path("peft_gpt"));
  EXPECT_EQ(ad.lora.r, 4);
  EXPECT_FLOAT_EQ(ad.lora.scale(), 2.0f);
  EXPECT_FLOAT_EQ(ad.lora.dropout, 0.05f);
  EXPECT_EQ(ad.task_type, "CAUSAL_LM");
  ParamStore store;
  Gpt m(tiny(), store);
  LoraAttachment att = attach_lora(m.linears(), store, ad.lora);
  store.finalize(1);
  std::map<std::string, std::vector<float>> base;
  for (Linear* l : att.modules) {
    const Param& w = l->weight_param();
    base[l->name()].assign(w.value.f32(), w.value.f32() + w.numel());
  }
  load_peft_weights(ad, att);
  att.merge();
  const auto delta = open_reference("peft_gpt/delta.safetensors");
  ASSERT_EQ(att.modules.size(), 4u);
  for (Linear* l : att.modules) {
    const Tensor want = delta->read_f32(l->name());
    const Param& w = l->weight_param();
    double err = 0;
    for (int64_t i = 0; i < w.numel(); i++)
      err = std::max(
          err, std::fabs(double(w.value.f32()[i]) - base[l->name()][size_t(i)] - want.f32()[i]));
    EXPECT_LT(err, 1e-5) << l->name();
  }
}

TEST(peft, writes_an_adapter_the_reference_reads) {
  ParamStore store;
  Gpt m(tiny(), store);
  LoraConfig cfg;
  cfg.r = 3;
  cfg.alpha = 6;
  cfg.targets = {"attn_q", "ffn_up"};
  LoraAttachment att = attach_lora(m.linears(), store, cfg);
  store.finalize(4);
  for (auto& ad : att.adapters)  // as if trained: B away from zero
    for (int64_t i = 0; i < ad->b().numel(); i++) ad->b().value.f32()[i] = 0.1f * float(i % 5);
  const std::string dir = data_path("aero_peft");
  std::filesystem::remove_all(dir);
  write_peft_adapter(dir, cfg, att, "CAUSAL_LM", "tiny");
  // aero's own merge deltas beside it, for the reference to recompute.
  std::vector<std::vector<float>> deltas;
  std::vector<StTensorRef> refs;
  for (Linear* l : att.modules) {
    const Param& w = l->weight_param();
    std::vector<float> before(w.value.f32(), w.value.f32() + w.numel());
    att.merge();
    std::vector<float>& d = deltas.emplace_back(before.size());
    for (size_t i = 0; i < d.size(); i++) d[i] = w.value.f32()[i] - before[i];
    att.unmerge();
  }
  for (size_t k = 0; k < att.modules.size(); k++)
    refs.emplace_back(att.modules[k]->name(), StDType::F32,
                      std::vector<int64_t>{att.modules[k]->out(), att.modules[k]->in()},
                      deltas[k].data());
  write_safetensors(dir + "/delta.safetensors", refs);
  const std::string cmd =
      std::string(AERO_PYTHON) + " " + AERO_REFERENCE_DIR + "/peft_ref.py check " + dir;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // And aero reads its own adapter back.
  const PeftAdapter back = read_peft_adapter(dir);
  EXPECT_EQ(back.weights.size(), 4u);
  EXPECT_EQ(back.lora.targets, cfg.targets);
}

TEST(peft, bad_adapters_are_named_errors) {
  const std::string dir = data_path("peft_bad");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy(data_path("peft_gpt/adapter_model.safetensors"), dir);
  auto config = [&](const std::string& text) {
    std::ofstream(dir + "/adapter_config.json") << text;
  };
  config(R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q"],
             "use_dora": true})");
  test_error([&] { read_peft_adapter(dir); }, "use_dora (DoRA) is not supported");
  config(R"({"peft_type": "IA3", "r": 4})");
  test_error([&] { read_peft_adapter(dir); }, "peft_type 'IA3' is not supported");
  config(R"({"peft_type": "LORA", "r": 8, "lora_alpha": 8, "target_modules": ["q"]})");
  test_error([&] { read_peft_adapter(dir); }, "rank 4 but adapter_config.json says r = 8");
  config(R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["attn_k"]})");
  const PeftAdapter ad = read_peft_adapter(dir);  // loads; the modules differ from the model's
  ParamStore store;
  Gpt m(tiny(), store);
  LoraAttachment att = attach_lora(m.linears(), store, ad.lora);
  store.finalize(1);
  test_error([&] { load_peft_weights(ad, att); }, "no weights for module blk.0.attn_k");
}

// modules_to_save as PEFT saves it (whole modules beside A and B): the saved values replace the
// model's, a table saved with fewer rows (resized to a tokenizer) keeps the base's other rows,
// and a tensor the model has no parameter for, or of another width, is a named error.
TEST(peft, whole_modules_saved_beside_the_adapter_replace_the_base) {
  const PeftAdapter ad = read_peft_adapter(data_path("peft_gpt_modules"));
  ASSERT_EQ(ad.modules.size(), 2u);
  ParamStore store;
  Gpt m(tiny(), store);
  LoraAttachment att = attach_lora(m.linears(), store, ad.lora);
  store.finalize(1);
  const Param& head = store.get("output.weight");
  const std::vector<float> before(head.value.f32(), head.value.f32() + head.numel());
  load_peft_modules(ad, store);
  load_peft_weights(ad, att);
  const auto want = open_reference("peft_gpt_modules/modules.safetensors");
  const Tensor w_head = want->read_f32("output.weight"),
               w_down = want->read_f32("blk.1.ffn_down.weight");
  for (int64_t i = 0; i < w_head.numel(); i++) ASSERT_EQ(head.value.f32()[i], w_head.f32()[i]) << i;
  for (int64_t i = w_head.numel(); i < head.numel(); i++)
    ASSERT_EQ(head.value.f32()[i], before[size_t(i)]) << i;  // rows 17 and 18: the base's
  const Param& down = store.get("blk.1.ffn_down.weight");
  for (int64_t i = 0; i < down.numel(); i++) ASSERT_EQ(down.value.f32()[i], w_down.f32()[i]) << i;
  PeftAdapter bad = ad;
  bad.modules = {{"blk.0.attn_q.bias", Tensor::zeros({16})}};
  test_error([&] { load_peft_modules(bad, store); }, "'blk.0.attn_q.bias' names no parameter");
  bad.modules = {{"output.weight", Tensor::zeros({19, 8})}};
  test_error([&] { load_peft_modules(bad, store); },
             "has shape (19, 8); the model's output.weight");
}
