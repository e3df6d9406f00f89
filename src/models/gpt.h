// GPT: a decoder-only transformer with the options of PRODUCT.md (learned or RoPE positions,
// LayerNorm or RMSNorm, pre- or post-LN, GELU / ReLU / SwiGLU / GEGLU, biases, tied head,
// dropout). The model is nn/transformer.h's stack with the causal mask; this file is its
// config, its registry row and its Hugging Face GPT-2 importer.
#pragma once
#include <string>

#include "models/model.h"

namespace aero {

struct GptConfig {
  int vocab_size = 10000;
  int block_size = 128;  // context length in tokens
  int n_layer = 3;
  int n_head = 4;
  int n_embd = 64;
  int ffn_hidden = 256;  // 0: 4 * n_embd
  PosKind pos = PosKind::rope;
  NormKind norm = NormKind::layernorm;
  bool pre_ln = true;  // false: post-LN (norm after each residual add)
  ActKind act = ActKind::gelu;
  bool bias = false;           // biases in every linear layer
  bool tie_head = false;       // output head shares the token embedding
  float dropout_emb = 0.0f;    // on embeddings
  float dropout_attn = 0.0f;   // on attention weights
  float dropout_resid = 0.0f;  // on each residual branch
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  float init_std = 0.02f;  // normal init of matrices; residual projections scaled by 1/sqrt(2L)

  int ffn() const { return ffn_hidden > 0 ? ffn_hidden : 4 * n_embd; }
  int head_size() const { return n_embd / n_head; }
  int context() const { return block_size; }
  void validate() const;
  TransformerSpec spec() const;  // the causal stack this config describes
};

const FieldTable<GptConfig>& gpt_config_fields();

// The registry row, and a GptConfig as the ModelConfig the rest of aero takes.
const Arch& gpt_arch();
ModelConfig gpt_model_config(const GptConfig& cfg);

class Gpt final : public Model {
 public:
  // Declares every parameter in `store` (call store.finalize() afterwards).
  Gpt(const GptConfig& cfg, ParamStore& store);
  // ids (B, T) i32, T <= block_size -> logits (B, T, vocab_size).
  Var forward(Tape& tape, const Tensor& ids) { return stack_.forward(tape, ids); }
  Var forward(Tape& tape, const ModelInput& in) override { return stack_.forward(tape, in.ids); }
  std::vector<Linear*> linears() override { return stack_.linears(); }
  TokenTables token_tables() override { return stack_.token_tables(); }

  const GptConfig& config() const { return cfg_; }
  ParamReport param_report() const;

 private:
  GptConfig cfg_;
  const ParamStore& store_;
  TransformerStack stack_;
};

// Counts of a transformer stack's declared parameters by part (shared with architectures built
// on the same stack).
ParamReport stack_param_report(const TransformerSpec& spec, const ParamStore& store);

// A Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, merges.txt) as a
// GPT: learned positions, LayerNorm, pre-LN, GELU (tanh), biases, tied head. Conv1D weights are
// stored (in, out) and become aero's (out, in); c_attn's Q, K and V columns become attn_q,
// attn_k and attn_v.
ImportedModel read_hf_gpt2(const std::string& dir);

}  // namespace aero
