// libFuzzer target: a PEFT adapter directory through `aero import peft`'s path: read_peft_adapter,
// the vocabulary grown for added tokens (peft_vocab_size), the LoRA and token-row attachment of
// a tiny GPT built from the adapter's config, then load_peft_weights and load_peft_token_rows.
// Input: adapter_config.json, a NUL byte, then adapter_model.safetensors (JSON text holds no raw
// NUL). An empty config part stands for a valid one: LoRA r = 2 on attn_q and attn_v, token rows
// 13 and 14 (two tokens added to the 13-row base) of token_embd and the untied head, output.
// fuzz/make_seeds.cpp writes the seeds with aero's own writer.
#include <cstring>
#include <filesystem>

#include "fuzz_util.h"
#include "models/gpt.h"
#include "models/load.h"
#include "models/peft.h"

namespace {

// The base of the seeds: the tiny GPT of ckpt_weights_fuzz.cpp (13 tokens, n_embd 8).
aero::GptConfig peft_base() {
  aero::GptConfig g;
  g.vocab_size = 13;
  g.block_size = 8;
  g.n_layer = 1;
  g.n_head = 2;
  g.n_embd = 8;
  g.ffn_hidden = 16;
  return g;
}

const char* const kPeftSeedConfig =
    R"({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4,)"
    R"( "target_modules": ["attn_q", "attn_v"], "bias": "none",)"
    R"( "trainable_token_indices": {"token_embd": [13, 14], "output": [13, 14]}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  static const std::string dir = [] {
    std::filesystem::create_directories(fuzz::scratch_dir() + "/peft");
    return fuzz::scratch_dir() + "/peft";
  }();
  const std::string_view in = fuzz::as_text(data, size);
  const size_t nul = in.find('\0');
  const std::string_view config = nul == std::string_view::npos ? in : in.substr(0, nul);
  const std::string_view tensors = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  fuzz::write_file("peft/adapter_config.json", config.empty() ? kPeftSeedConfig : config);
  fuzz::write_file("peft/adapter_model.safetensors", tensors);
  fuzz::expect_clean([&] {
    const PeftAdapter ad = read_peft_adapter(dir);
    ModelConfig model;
    model.as<GptConfig>() = peft_base();
    LoraConfig lora = ad.lora;
    lora.trainable_tokens = ad.token_ids();
    const int vocab = peft_vocab_size(ad, model.vocab_size());
    if (vocab > model.vocab_size()) model.set("vocab_size", std::to_string(vocab));
    ParamStore store;
    BuiltModel m = build_model(model, lora, store);
    store.finalize(0);
    load_peft_weights(ad, *m.lora);
    if (m.rows) load_peft_token_rows(ad, *m.rows);
    // What was loaded is the adapter's, bit for bit.
    for (size_t i = 0; i < m.lora->modules.size(); i++) {
      const Tensor& a = ad.weights.at(m.lora->modules[i]->name()).first;
      if (std::memcmp(a.f32(), m.lora->adapters[i]->a().value.f32(), size_t(a.numel()) * 4) != 0)
        std::abort();
    }
  });
  return 0;
}
