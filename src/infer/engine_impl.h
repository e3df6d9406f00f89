// Inside the engine: the weights of an InferenceModel and the KV cache of one sequence. Private
// to src/infer/engine*.cpp (the public types are in engine.h).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "infer/engine.h"
#include "kernels/quant.h"

namespace aero {

// One transformer block. Q, K and V are one matrix (3C, C) and, with SwiGLU, gate and up one
// matrix (2H, C), so each sublayer reads its input once per qmatmul; rows are stacked in that
// order, so the parts are row ranges (how save() writes them under their own names).
struct InferLayer {
  std::vector<float> attn_norm_w, attn_norm_b;  // (C); b empty for RMSNorm
  QMatrix qkv;                                  // (3C, C)
  std::vector<float> qkv_b;                     // (3C) or empty
  QMatrix attn_out;                             // (C, C)
  std::vector<float> attn_out_b;                // (C) or empty
  std::vector<float> ffn_norm_w, ffn_norm_b;    // (C)
  QMatrix up;                                   // (H, C), or gate then up (2H, C) for SwiGLU
  std::vector<float> up_b;                      // (H) or (2H) or empty
  QMatrix down;                                 // (C, H)
  std::vector<float> down_b;                    // (C) or empty
};

struct InferenceModel::Impl {
  ModelConfig model;    // the architecture's own config, written with save()
  TransformerSpec cfg;  // the stack it runs
  WeightFormat format = WeightFormat::f32;
  std::string tokenizer_path;
  std::vector<float> token_embd;              // (V, C), f32 for the lookup
  std::vector<float> pos_embd;                // (block_size, C) or empty (RoPE)
  std::vector<InferLayer> layers;             // (L)
  std::vector<float> out_norm_w, out_norm_b;  // (C) with pre-LN, else empty
  QMatrix head;                               // (V, C); a quantized copy of token_embd if tied
};

// A LoRA adapter laid onto the engine's matrices (unmerged): per layer and matrix, the modules
// whose products join that matrix's, each at the column where its rows sit in the stack; and
// the token rows it replaces in the embedding and the head.
struct EngineLora {
  enum Matrix { qkv, attn_out, up, down };
  struct Part {
    const LoraWeights::Module* module;
    int col;
  };
  std::shared_ptr<const LoraWeights> weights;
  std::vector<std::array<std::vector<Part>, 4>> layers;  // (L) x Matrix
  std::vector<int32_t> slot;                             // (V) token id -> 1 + row, or 0
  const float* head_rows = nullptr;  // (n, C): the embedding rows when the head is tied
};
// An error names a module the engine has no matrix for (e.g. the head or the embedding).
std::unique_ptr<EngineLora> resolve_lora(const InferenceModel::Impl& m,
                                         std::shared_ptr<const LoraWeights> weights);

// K and V of every layer for the tokens so far; RoPE is applied to K before it is stored.
// Buffers grow by doubling up to block_size rows.
struct KvSeq::Impl {
  const InferenceModel::Impl* model = nullptr;
  int len = 0;                           // tokens in the cache
  int cap = 0;                           // rows allocated per layer
  std::vector<std::vector<float>> k, v;  // (L) of (cap, C)
  const EngineLora* lora = nullptr;      // the sequence's adapter; null: the base model

  void reserve(int rows);  // at least `rows` rows per layer (rows <= block_size)
};

QFormat to_qformat(WeightFormat f);

// Several sequences in one pass, each appending its own tokens (a prompt to prefill, or the one
// token to decode): one qmatmul per weight for all their rows. Logits of each sequence's last
// row (seqs.size(), vocab). The engine's step is one call of this.
std::vector<float> forward_last(const InferenceModel& model, const std::vector<KvSeq*>& seqs,
                                const std::vector<std::vector<int32_t>>& tokens);

}  // namespace aero
