#include "models/diffusion_opts.h"

#include "core/error.h"

namespace aero {

void DiffusionOpts::validate() const {
  AERO_CHECK(gen_length > 0, "[diffusion] gen_length must be > 0, got ", gen_length);
  AERO_CHECK(block_length >= 0, "[diffusion] block_length must be >= 0, got ", block_length);
  const int bl = block_length > 0 ? block_length : gen_length;
  AERO_CHECK(gen_length % bl == 0, "[diffusion] gen_length ", gen_length,
             " is not divisible by block_length ", bl);
  const int nb = gen_length / bl;
  AERO_CHECK(steps >= nb, "[diffusion] steps ", steps, " is fewer than the ", nb,
             " blocks (gen_length / block_length): each block needs at least one step");
  AERO_CHECK(steps % nb == 0, "[diffusion] steps ", steps, " is not divisible by the ", nb,
             " blocks (gen_length / block_length)");
  AERO_CHECK(temperature >= 0 && cfg_scale >= 0 && threshold >= 0 && threshold <= 1,
             "[diffusion] temperature and cfg_scale must be >= 0, threshold in [0, 1]");
  AERO_CHECK(eos_confidence > 0 && eos_confidence <= 1,
             "[diffusion] eos_confidence must be in (0, 1], got ", eos_confidence);
}

}  // namespace aero
