// The diffusion sampler behind the Generator interface, so `aero serve` and `aero chat` serve a
// masked_lm model. Every active request is a row of one DiffusionBatch: each step() runs one
// sampler step of all of them in one forward pass (prompts of any lengths, each row at its own
// block and step). A request joins at the step after add() (rows are independent: it needs no
// block boundary) and leaves when it finishes or is cancelled; its text streams block by block as
// each block is finalised, and on_draft follows every step.
#pragma once
#include <memory>
#include <string>

#include "infer/diffusion.h"
#include "infer/generator.h"

namespace aero {

class InferenceModel;

// Per request: gen_length = the request's diffusion.gen_length, or max_new rounded down to whole
// blocks (a shorter answer than one block is one block of its length), at most what the context
// leaves; steps = the request's diffusion.steps, or as many per token as defaults.steps for
// defaults.gen_length (at least one per block); temperature and seed from the request's sampler,
// EOS handling from stop_at_eos; the request's diffusion settings, else `defaults`.
struct DiffusionServeOpts {
  DiffusionOpts defaults{.block_length = 32, .cache = DiffusionCache::prefix};
  int max_batch = 32;  // requests sampled together; the others wait
};

// A request's diffusion setting that does not fit the others; field: "diffusion.steps", ...
class DiffusionSettingError : public Error {
 public:
  DiffusionSettingError(std::string field, const std::string& msg)
      : Error(msg), field(std::move(field)) {}
  std::string field;
};

// The sampler settings of one request whose prompt has prompt_tokens tokens (already within the
// context): gen_length 0 when nothing fits. Throws DiffusionSettingError when the request's
// settings do not fit together or in the context.
DiffusionOpts diffusion_request_opts(const DiffusionServeOpts& serve, const GenerateOpts& req,
                                     int prompt_tokens, int context);

// What make_generator gives a masked_lm model: the model config's sampler defaults, up to
// opts.max_batch together.
DiffusionServeOpts diffusion_serve_opts(const ModelConfig& cfg, const EngineOpts& opts);

std::unique_ptr<Generator> make_diffusion_generator(std::shared_ptr<const InferenceModel> model,
                                                    std::shared_ptr<const Tokenizer> tok,
                                                    DiffusionServeOpts opts = {});

}  // namespace aero
