// Predictions of an encoder-decoder for a list of input texts (aero eval on pairs): each input
// encoded as training encodes it, rows batched by length, greedy decoding with the KV cache.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace aero {

struct PredictOptions {
  int batch_size = 8;
  int max_input = 256;  // input tokens, EOS included (longer inputs are cut, as in training)
  int max_new = 64;     // generated tokens per row, EOS included
  // Set: decode through Model::start_rows with the decoder's matrices in this format (what
  // aero generate / serve run); unset: the f32 decoding on the tape.
  std::optional<QFormat> weights;
};

// The decoded greedy output for each input, in input order (EOS, padding and ids past the
// tokenizer's vocabulary left out).
std::vector<std::string> predict_seq2seq(Model& model, const Tokenizer& tok,
                                         const std::vector<std::string>& inputs,
                                         const PredictOptions& opt);

}  // namespace aero
