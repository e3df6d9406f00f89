// Export of a causal transformer stack (nn/transformer.h; a GPT) to GGUF for llama.cpp, as one of
// the two architectures llama.cpp has that aero's options can express exactly:
//   gpt2   learned positions, LayerNorm, GELU (tanh), pre-LN; fused attn_qkv; biases required
//          (written as zeros when the model has none)
//   llama  RoPE, RMSNorm, SwiGLU, pre-LN, no biases; Q and K rows permuted for llama.cpp's RoPE
// The tokenizer goes in too: SentencePiece as tokenizer.ggml.model "llama", GPT-2 byte-level
// BPE as "gpt2", aero's char tokenizer as "llama" with single-character pieces (see .cpp).
#pragma once
#include <string>
#include <vector>

#include "nn/params.h"
#include "nn/transformer.h"

namespace aero {

struct GgufExportOptions {
  // f32 | f16 | bf16 | q8_0: the type of the 2-D weights (norms, biases and position
  // embeddings stay f32, as llama.cpp's converter keeps them)
  std::string type = "f32";
  std::string name;       // general.name
  std::string tokenizer;  // tokenizer file (SentencePiece .model, char .json, GPT-2 vocab.json)
};

struct GgufExportReport {
  std::string arch;
  int tensors = 0, converted = 0;     // converted: written in the --type, not f32
  int vocab = 0, padded = 0;          // padded: "[PADn]" tokens up to the model's vocab_size
  std::vector<std::string> warnings;  // what llama.cpp will do differently from aero
};

// "gpt2" or "llama"; otherwise throws, listing what each architecture would need changed.
std::string gguf_arch_for(const TransformerSpec& cfg);

GgufExportReport export_gguf(const TransformerSpec& cfg, const ParamStore& store,
                             const std::string& path, const GgufExportOptions& opt);

}  // namespace aero
