// The masked-diffusion sampler's settings (infer/diffusion.h), apart from the sampler so that a
// llada model's config can hold its defaults and a request (infer/generate.h) its own.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "core/config.h"

namespace aero {

// How a predicted token's confidence is measured (the lowest are left masked).
enum class Remasking : uint8_t {
  low_confidence,  // softmax probability of the chosen token (LLaDA's default)
  random,          // uniform random confidence (LLaDA's "random")
  margin,          // top-1 minus top-2 probability (llama.cpp)
  entropy,         // negative entropy of the distribution (llama.cpp)
};
// Inline: request parsing (server/request.cpp) uses it, and its fuzz target links only core.
inline const EnumNames<Remasking>& remasking_names() {
  static const EnumNames<Remasking> n{{Remasking::low_confidence, "low_confidence"},
                                      {Remasking::random, "random"},
                                      {Remasking::margin, "margin"},
                                      {Remasking::entropy, "entropy"}};
  return n;
}

// What the engine keeps between the steps of a block (Fast-dLLM). Refreshed on each block's first
// step, where the whole sequence runs; the other steps of the block run less of it.
enum class DiffusionCache : uint8_t {
  none,    // the whole sequence every step (the reference algorithm)
  prefix,  // K and V before the block kept: the block and the positions after it run
  dual,    // K and V before and after the block kept: only the block runs
};
inline const EnumNames<DiffusionCache>& diffusion_cache_names() {
  static const EnumNames<DiffusionCache> n{{DiffusionCache::none, "none"},
                                           {DiffusionCache::prefix, "prefix"},
                                           {DiffusionCache::dual, "dual"}};
  return n;
}

struct DiffusionOpts {
  int gen_length = 64;    // answer tokens (mask tokens at the start)
  int steps = 64;         // forward passes in all, split evenly across blocks
  int block_length = 0;   // semi-autoregressive block; 0: gen_length (one block)
  float temperature = 0;  // Gumbel-max noise in double; 0: greedy
  Remasking remasking = Remasking::low_confidence;
  float cfg_scale = 0;      // > 0: classifier-free guidance (unconditional = prompt masked)
  float threshold = 0;      // > 0: also commit every token of confidence >= threshold (Fast-dLLM)
  bool stop_at_eos = true;  // stop when an EOS has every position before it committed; trim it
  // EOS suppression: the confidence of a position predicted EOS is scaled by this (in (0, 1];
  // a negative entropy is divided by it), so EOS is committed later and answers do not flood
  // with EOS too early. 1: off (the reference).
  float eos_confidence = 1.0f;
  uint64_t seed = 0;
  // Approximations of the engine's logits (engine_logits); the reference's ignore it. Cached K and
  // V no longer follow the tokens committed since the block began.
  DiffusionCache cache = DiffusionCache::none;

  int blocks() const { return gen_length / (block_length > 0 ? block_length : gen_length); }
  // Steps for an answer of `length` tokens in `n_blocks` blocks at these settings' steps per token
  // (steps / gen_length), a whole number per block, at least one.
  int steps_for(int length, int n_blocks) const {
    const double per_block = double(length) * steps / std::max(1, gen_length) / n_blocks;
    return std::max(1, int(std::lround(per_block))) * n_blocks;
  }
  // Errors name the option: gen_length % block_length, steps % blocks, steps >= blocks.
  void validate() const;
};

// One request's sampler settings (the server's "diffusion" object, aero generate's flags); an unset
// field keeps the default (the model's). Only a masked-diffusion generator takes a request that
// sets one.
struct DiffusionOverrides {
  std::optional<int> gen_length, steps, block_length;
  std::optional<Remasking> remasking;
  std::optional<float> threshold, cfg_scale, eos_confidence;
  std::optional<DiffusionCache> cache;

  bool any() const {
    return gen_length || steps || block_length || remasking || threshold || cfg_scale ||
           eos_confidence || cache;
  }
  // The settings given, over o's.
  void apply(DiffusionOpts& o) const {
    if (gen_length) o.gen_length = *gen_length;
    if (steps) o.steps = *steps;
    if (block_length) o.block_length = *block_length;
    if (remasking) o.remasking = *remasking;
    if (threshold) o.threshold = *threshold;
    if (cfg_scale) o.cfg_scale = *cfg_scale;
    if (eos_confidence) o.eos_confidence = *eos_confidence;
    if (cache) o.cache = *cache;
  }
};

}  // namespace aero
