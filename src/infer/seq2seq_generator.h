// The Generator for encoder-decoder models (family seq2seq: T5 / mT5), so `aero generate`,
// `aero chat` and `aero serve` run them: continuous batching of decoder steps across requests
// (a request joining runs its encoder once; each step advances every active row by one token
// in one batched pass), sampling through the Sampler, stop strings, EOS, max_new, cancel and
// UTF-8-safe streaming as the KV-cache Engine does.
//
// The encoder input is the request's prompt followed by the tokenizer's EOS, as training
// (data.mode = pairs) and Hugging Face's tokenizer build it; a prompt longer than the model's
// context keeps its first tokens. The answer is a text of its own, not a continuation of the
// prompt; it ends at the model's eos_token_id. The repetition penalty looks at the decoder's inputs
// (start token and answer), as Hugging Face's does for an encoder-decoder.
//
// With opts.beam.num_beams > 1 a request is a beam search (infer/beam_search.h): its beams are
// rows of the same batched steps, the sampler's temperature and filters do not apply (its
// repetition penalty does), and the answer is delivered whole when the search ends. The
// n-gram block (no_repeat_ngram_size) applies in every mode.
#pragma once
#include <memory>

#include "infer/generator.h"
#include "kernels/quant.h"

namespace aero {

struct LoadedModel;

// `weights`: the format the decoder's matrices run in (the encoder runs in f32).
std::unique_ptr<Generator> make_seq2seq_generator(std::shared_ptr<LoadedModel> model,
                                                  std::shared_ptr<const Tokenizer> tok,
                                                  EngineOpts opts = {},
                                                  QFormat weights = QFormat::f32);

}  // namespace aero
