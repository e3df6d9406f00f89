// Turning logits into the next token. One documented order, applied to a copy of the logits:
//   1. repetition penalty on tokens already in the context (logit > 0: divided, else multiplied)
//   2. temperature (0 = greedy: the arg-max, ties to the lowest id)
//   3. top-k: keep the k most likely (0 = off)
//   4. top-p: keep the smallest most-likely set whose probability reaches p (1 = off)
//   5. min-p: drop tokens whose probability is below min_p × the top probability (0 = off)
//   6. draw from what is left, renormalised, with the sampler's own seeded generator.
// Filters 3–5 always keep the most likely token, so there is always something to draw.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace aero {

struct SamplerOpts {
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // 1 = off; > 1 discourages repeats
  uint64_t seed = 0;

  void validate() const;  // errors name the field: "[sampler] top_p must be in (0, 1], got 1.5"
};

class Sampler {
 public:
  explicit Sampler(const SamplerOpts& opts);

  // logits (V); `context` holds the tokens the repetition penalty looks at.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> context = {});

  // The probabilities step 6 draws from (after every filter), for tests and for
  // showing alternatives: zero outside the kept set, summing to 1.
  std::vector<float> distribution(std::span<const float> logits,
                                  std::span<const int32_t> context = {}) const;

  const SamplerOpts& opts() const { return opts_; }

 private:
  SamplerOpts opts_;
  Rng rng_;
};

}  // namespace aero
