// The diffusion sampler behind the Generator interface, so `aero serve` and `aero chat` serve a
// masked_lm model: each request is answered whole by diffusion_generate (one request per step,
// in order), its text streamed block by block as each block is finalised.
#pragma once
#include <memory>

#include "infer/diffusion.h"
#include "infer/generator.h"

namespace aero {

class InferenceModel;

// Per request: gen_length = max_new rounded up to whole blocks (at most what the context
// leaves), steps = gen_length x steps_per_token (at least one per block), temperature and seed
// from the request's sampler, EOS handling from stop_at_eos; everything else from `defaults`.
struct DiffusionServeOpts {
  DiffusionOpts defaults{.block_length = 32};
  float steps_per_token = 1.0f;
  bool prefix_cache = true;
};

std::unique_ptr<Generator> make_diffusion_generator(std::shared_ptr<const InferenceModel> model,
                                                    std::shared_ptr<const Tokenizer> tok,
                                                    DiffusionServeOpts opts = {});

}  // namespace aero
