// Objectives: each turns a batch into a loss for a model, so the trainer and the evaluator
// never ask what is being trained. Next-token (every position, or the final one) today;
// seq2seq and masked diffusion are the next rows.
#pragma once
#include <memory>

#include "models/model.h"
#include "train/batches.h"

namespace aero {

class Objective {
 public:
  virtual ~Objective() = default;
  // The loss of `batch`: the sum over its counted targets divided by `divisor`.
  virtual Var loss(Model& model, Tape& tape, const TrainBatch& batch, float divisor) const = 0;
};

// The objective of a run; an error names what does not fit the architecture's family.
std::unique_ptr<Objective> make_objective(ObjectiveKind kind, const Arch& arch);

}  // namespace aero
