// Greedy decoding of an encoder-decoder (family seq2seq) through Model::start_decoding: the
// encoder once, then one decoder token per row and step with a KV cache. The recompute path
// (the whole decoder prefix every step) is kept beside it as the reference it is tested against.
#pragma once
#include <cstdint>
#include <vector>

#include "models/model.h"

namespace aero {

struct Seq2SeqGreedy {
  std::vector<std::vector<int32_t>> tokens;  // per row, without the start token; EOS included
  std::vector<Tensor> logits;                // per step (B, vocab), when kept
};

// src (B, S) i32, mask (B, S) i32 or undefined. Rows stop at EOS (then are fed pad / EOS and
// ignored) or after max_new tokens. keep_logits stores every step's logits. With
// no_repeat_ngram_size > 0 no row repeats an n-gram of its decoder inputs (Hugging Face's
// NoRepeatNGramLogitsProcessor; the kept logits are the model's own).
Seq2SeqGreedy greedy_seq2seq(Model& model, const Tensor& src, const Tensor& mask, int max_new,
                             bool keep_logits = false, int no_repeat_ngram_size = 0);
// The same without a cache: model.forward over the whole decoder prefix at every step.
Seq2SeqGreedy greedy_seq2seq_recompute(Model& model, const Tensor& src, const Tensor& mask,
                                       int max_new, bool keep_logits = false);

}  // namespace aero
