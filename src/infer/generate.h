// Text generation from a GPT: sample one token at a time and stream the text. generate() runs
// one sequence through the KV-cache Engine (infer/engine.h); when the context is full, the
// newest half is kept and generation goes on.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "infer/sampler.h"
#include "models/diffusion_opts.h"
#include "tokenizer/tokenizer.h"

namespace aero {

class InferenceModel;

// Beam search (encoder-decoder models; infer/beam_search.h) and n-gram blocking, as Hugging
// Face's generate() has them.
struct BeamOpts {
  int num_beams = 1;             // 1: no beam search (sample / greedy)
  float length_penalty = 1.0f;   // a finished hypothesis scores sum(log p) / length^lp
  bool early_stopping = false;   // true: stop once num_beams hypotheses are finished
  int no_repeat_ngram_size = 0;  // > 0: no n-gram of this size twice in the answer (any mode)
  void validate() const;         // errors name the field
};

struct GenerateOpts {
  int max_new = 200;
  SamplerOpts sampler;
  BeamOpts beam;
  std::vector<std::string> stop;  // generation ends before any of these strings
  bool stop_at_eos = true;
  DiffusionOverrides
      diffusion;  // masked-diffusion models only; others refuse a request setting one
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (not the prompt)
  std::string text;             // generated text, stop string excluded
  std::string finish;           // "length", "eos", "stop", "cancelled" or "context"
};

// on_text receives text as soon as it is final (whole UTF-8 characters, never a part of a stop
// string); returning false cancels.
using TextCallback = std::function<bool(const std::string& text)>;

// An empty prompt starts a document (the tokenizer's eos id, or 0).
GenerateResult generate(const InferenceModel& model, const Tokenizer& tok,
                        const std::string& prompt, const GenerateOpts& opts,
                        const TextCallback& on_text = {});

// Splits streamed text at stop strings: push() returns what can be shown now, holding back a
// tail that may still become a stop string.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  std::string push(const std::string& text);
  bool stopped() const { return stopped_; }
  std::string flush();  // the held-back tail, at the end of generation

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace aero
