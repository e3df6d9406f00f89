// A decoder-style transformer stack: token (and learned position) embeddings, n_layer blocks of
// norm → attention → norm → MLP with residuals (pre- or post-LN), a final norm and the output
// head. TransformerSpec is the one description of it: the training stack below and the
// inference engine (src/infer/) are both built from a spec, and models (GPT; LLaDA, the same
// stack without the causal mask) produce one from their own configs. Tensor names follow GGUF
// ("blk.0.attn_q.weight"), so export is a rename-free copy.
#pragma once
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/token_rows.h"

namespace aero {

struct TransformerSpec {
  int vocab_size = 0;
  int block_size = 0;  // context length in tokens
  int n_layer = 0;
  int n_head = 0;
  int n_embd = 0;
  int ffn_hidden = 0;  // MLP hidden width
  PosKind pos = PosKind::rope;
  NormKind norm = NormKind::layernorm;
  bool pre_ln = true;
  ActKind act = ActKind::gelu;
  bool bias = false;
  bool tie_head = false;
  bool causal = true;  // false: every position attends to every other (masked diffusion)
  float dropout_emb = 0, dropout_attn = 0, dropout_resid = 0;
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  float init_std = 0.02f;

  int head_size() const { return n_embd / n_head; }
  int ffn() const { return ffn_hidden; }
};

// GGUF tensor names of the stack, in one place for training, the engine and export.
namespace tensor_names {
inline const char* const token_embd = "token_embd";
inline const char* const position_embd = "position_embd";
inline const char* const output_norm = "output_norm";
inline const char* const output = "output";
// "blk.<l>.<part>", e.g. block(0, "attn_q") -> "blk.0.attn_q"
inline std::string block(int layer, const char* part) {
  return "blk." + std::to_string(layer) + "." + part;
}
}  // namespace tensor_names

class TransformerStack {
 public:
  // Declares every parameter in `store` in a fixed order (the order initialisation draws in).
  // `owner` names the model in errors ("[gpt] ...").
  TransformerStack(const TransformerSpec& spec, ParamStore& store, std::string owner);

  // ids (B, T) i32, T <= block_size -> logits (B, T, vocab_size).
  Var forward(Tape& tape, const Tensor& ids) const;

  const TransformerSpec& spec() const { return spec_; }
  // Every Linear of the stack, for adapters (LoRA) and reports.
  std::vector<Linear*> linears();
  // The token embedding and the untied head, where added tokens get rows.
  TokenTables token_tables();

 private:
  // norm → attention → norm → MLP; runs again in backward when checkpointed.
  struct Block : Recompute {
    Norm attn_norm;
    Attention attn;
    Norm ffn_norm;
    Mlp mlp;
    bool pre_ln = true;
    float dropout_resid = 0;
    Var forward(Tape& tape, Var x) const;
    Var run(Tape& tape, const Var* in, int) const override { return forward(tape, in[0]); }
  };
  TransformerSpec spec_;
  std::string owner_;
  Embedding token_embd_, position_embd_;
  std::vector<Block> blocks_;
  Norm output_norm_;
  Linear output_;  // absent when the head is tied to token_embd
};

}  // namespace aero
