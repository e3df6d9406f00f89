// T5 / mT5: an encoder-decoder with Hugging Face's semantics (modeling_t5.py): RMS norm without
// mean or bias, no 1/sqrt(d) score scaling, relative-position buckets (a bias table owned by
// layer 0 of each stack and reused by every later layer; none in cross-attention), relu or
// gated-GELU feed-forward, tied head scaled by d_model^-0.5 (v1.0) or an untied lm_head (v1.1,
// mT5). Parameters carry Hugging Face's names, so checkpoints and PEFT adapters map one to one.
#pragma once
#include <string>
#include <vector>

#include "models/model.h"

namespace aero {

// T5's feed_forward_proj: relu (v1.0: wi, wo) or gated-gelu (v1.1 / mT5: wi_0, wi_1, wo).
enum class T5Ffn : uint8_t { relu, gated_gelu };
const EnumNames<T5Ffn>& t5_ffn_names();

// The fields of Hugging Face's T5Config (config.json) that change the computation.
struct T5Config {
  int vocab_size = 32128;
  int d_model = 512;
  int d_kv = 64;  // head size; num_heads * d_kv may differ from d_model
  int d_ff = 2048;
  int num_layers = 6;
  int num_decoder_layers = 0;  // 0: num_layers
  int num_heads = 8;
  int relative_attention_num_buckets = 32;
  int relative_attention_max_distance = 128;
  float dropout_rate = 0.1f;  // embeddings, attention weights, residual branches, FFN hidden
  float layer_norm_epsilon = 1e-6f;
  T5Ffn feed_forward_proj = T5Ffn::relu;
  bool tie_word_embeddings = true;  // v1.0: head = shared, decoder output scaled by d_model^-0.5
  int decoder_start_token_id = 0;   // = pad
  int eos_token_id = 1;
  int pad_token_id = 0;
  int n_positions = 512;  // the longest sequence training pads to (T5 itself has no limit)
  float initializer_factor = 1.0f;

  int decoder_layers() const { return num_decoder_layers > 0 ? num_decoder_layers : num_layers; }
  int context() const { return n_positions; }
  void validate() const;
};

const FieldTable<T5Config>& t5_config_fields();
const Arch& t5_arch();

// Hugging Face's _relative_position_bucket: the bucket of key position minus query position.
// Bidirectional (encoder): the upper half of the buckets for keys after the query; causal
// (decoder): keys after the query share bucket 0. Exact below max_exact = buckets/4 (or /2),
// then logarithmic up to max_distance, clamped to the last bucket. The log is float32, as HF's.
int t5_relative_bucket(int64_t relative_position, bool bidirectional, int num_buckets,
                       int max_distance);
// (Tq, Tk) i32 buckets for queries at q0 + i and keys at j.
Tensor t5_bucket_table(int64_t Tq, int64_t Tk, int64_t q0, bool bidirectional, int num_buckets,
                       int max_distance);

class T5 final : public Model {
 public:
  T5(const T5Config& cfg, ParamStore& store);

  // in.source_ids (B, S), in.source_mask (B, S) or undefined, in.ids (B, T) decoder input
  // -> logits (B, T, vocab_size).
  Var forward(Tape& tape, const ModelInput& in) override;
  std::vector<Linear*> linears() override;
  TokenTables token_tables() override;

  // src (B, S) i32, mask (B, S) i32 or undefined -> encoder output (B, S, d_model), after the
  // final layer norm.
  Var encode(Tape& tape, const Tensor& src, const Tensor& mask);
  // ids (B, T) decoder input, enc (B, S, d_model), mask (B, S) -> logits (B, T, vocab_size).
  Var decode(Tape& tape, const Tensor& ids, Var enc, const Tensor& mask);

  // Encoder once, then the decoder one token per step with a KV cache (T5Decoding).
  std::unique_ptr<Seq2SeqDecoding> start_decoding(const Tensor& src, const Tensor& mask) override;

  const T5Config& config() const { return cfg_; }

 private:
  friend class T5Decoding;
  // Self-attention, cross-attention (decoder), FFN; runs again in backward when checkpointed.
  struct Block : Recompute {
    Norm self_norm, cross_norm, ffn_norm;
    Attention self_attn, cross_attn;  // cross only in the decoder
    Linear wi, wi_0, wi_1, wo;        // wi (relu) or wi_0, wi_1 (gated-gelu)
    bool decoder = false;
    bool gated = false;
    float p_drop = 0;  // dropout_rate
    // x, the position bias (NH, T, T), then (decoder) the encoder output, then the encoder's
    // key mask as a constant when there is one.
    Var run(Tape& tape, const Var* in, int n) const override;
    Var ffn(Tape& tape, Var x) const;
  };
  struct Stack {
    Embedding rel_bias;  // (buckets, NH): layer 0's relative_attention_bias
    std::vector<Block> blocks;
    Norm final_norm;
  };
  Stack make_stack(ParamStore& store, const std::string& prefix, int layers, bool decoder);
  Var position_bias(Tape& tape, const Stack& s, int64_t Tq, int64_t Tk, bool bidirectional) const;
  // The blocks of a stack over x, each checkpointed when the tape asks for it.
  Var run_blocks(Tape& tape, const Stack& s, Var x, Var bias, Var enc, const Tensor& mask) const;

  T5Config cfg_;
  Embedding shared_;
  Stack encoder_, decoder_;
  Linear lm_head_;  // untied head only
};

// A Hugging Face T5 / mT5 directory (config.json, model.safetensors or a sharded
// model.safetensors.index.json, spiece.model).
ImportedModel read_hf_t5(const std::string& dir);

}  // namespace aero
