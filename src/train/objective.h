// Objectives: each turns a batch into a loss for a model, so the trainer and the evaluator
// never ask what is being trained. Next-token (every position, or the final one) for causal
// models; masked diffusion (LLaDA) for masked_lm models.
#pragma once
#include <memory>
#include <vector>

#include "models/model.h"
#include "train/batches.h"

namespace aero {

class Objective {
 public:
  virtual ~Objective() = default;
  // The loss of `batch`: the sum over its counted targets divided by `divisor`.
  virtual Var loss(Model& model, Tape& tape, const TrainBatch& batch, float divisor) const = 0;
};

struct ObjectiveOptions {
  bool antithetic = false;  // diffusion: t_r = (u + r / B) mod 1 from one u per batch
  float random_length = 0;  // diffusion: fraction of batches cropped to a uniform length
  int mc = 1;               // diffusion: draws averaged (evaluation: Monte-Carlo bound)
  float eps = 1e-3f;        // diffusion: p = (1 - eps) t + eps, never 0
};

// The objective of a run; an error names what does not fit the architecture's family.
std::unique_ptr<Objective> make_objective(ObjectiveKind kind, const ModelConfig& cfg,
                                          const ObjectiveOptions& opt = {});
// What an evaluation measures for cfg's family: next token (all / final), or the diffusion bound.
ObjectiveKind eval_objective(const ModelConfig& cfg, bool final_only);

// One draw of LLaDA's forward process over a batch's inputs x (x0): per row t ~ U(0, 1) (or
// antithetic), p = (1 - eps) t + eps, each token replaced by mask_id with probability p. Draws
// depend only on (batch.seed, draw, row0 + r), never on the data-parallel split.
struct DiffusionDraw {
  int64_t rows = 0, cols = 0;   // cols: the batch's length, or the random crop
  std::vector<int32_t> xt;      // (rows, cols) x0, mask_id where masked
  std::vector<int32_t> target;  // (rows, cols) x0 where masked, kIgnoreIndex elsewhere
  std::vector<float> weight;    // (rows, cols) 1 / p where masked, 0 elsewhere
  std::vector<float> p;         // (rows) each row's mask probability
};
DiffusionDraw draw_diffusion(const TrainBatch& b, int mask_id, const ObjectiveOptions& opt,
                             int draw);
// sum over masked positions of -log p(x0 | xt) / p, divided by `divisor` (LLaDA: B x L).
Var diffusion_loss(Model& model, Tape& tape, const DiffusionDraw& d, float divisor);

}  // namespace aero
