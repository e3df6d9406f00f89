// LLaDA (masked diffusion language model): the GPT stack without the causal mask and with a
// dedicated mask token, no time-step input. Trained by the `diffusion` objective (tokens replaced
// by mask_id with probability t) and sampled by iterative unmasking (src/infer/diffusion.h).
#pragma once
#include "models/diffusion_opts.h"
#include "models/gpt.h"

namespace aero {

// GPT's fields plus the mask token. mask_id has no default: the mask is a token of the
// tokenizer (`aero tokenizer add-tokens -m TOK "<|mask|>"`), and its id must be given.
struct LladaConfig : GptConfig {
  int mask_id = -1;
  // The sampler's defaults for this model (temperature, seed and EOS handling are the caller's).
  DiffusionOpts sample{
      .gen_length = 64, .steps = 64, .block_length = 32, .cache = DiffusionCache::prefix};

  void validate() const;
  TransformerSpec spec() const;  // GptConfig::spec() with causal = false
};

const FieldTable<LladaConfig>& llada_config_fields();
const Arch& llada_arch();
ModelConfig llada_model_config(const LladaConfig& cfg);

// The mask token of a masked_lm config: its error names model.mask_id.
int mask_id_of(const ModelConfig& cfg);

class Llada final : public Model {
 public:
  Llada(const LladaConfig& cfg, ParamStore& store);
  // ids (B, T) i32 (mask_id where masked) -> logits (B, T, vocab_size), every position sees all.
  Var forward(Tape& tape, const ModelInput& in) override { return stack_.forward(tape, in.ids); }
  std::vector<Linear*> linears() override { return stack_.linears(); }
  TokenTables token_tables() override { return stack_.token_tables(); }
  const LladaConfig& config() const { return cfg_; }

 private:
  LladaConfig cfg_;
  TransformerStack stack_;
};

}  // namespace aero
