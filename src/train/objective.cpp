#include "train/objective.h"

namespace aero {

namespace {

// Cross-entropy of the next token: at every position, or at each row's final one (the batch
// says which: windows flag it, padded examples mark the other targets ignored).
class NextToken final : public Objective {
 public:
  Var loss(Model& model, Tape& tape, const TrainBatch& b, float divisor) const override {
    ModelInput in;
    in.ids = Tensor::wrap(const_cast<int32_t*>(b.x), {b.rows, b.cols}, DType::i32);
    Tensor tgt = Tensor::wrap(const_cast<int32_t*>(b.y), {b.rows, b.cols}, DType::i32);
    CrossEntropyOpts o;
    o.ignore_index = kIgnoreIndex;
    o.final_only = b.final_only;
    o.divisor = divisor;
    return cross_entropy(model.forward(tape, in), tgt, o);
  }
};

}  // namespace

std::unique_ptr<Objective> make_objective(ObjectiveKind kind, const Arch& arch) {
  switch (kind) {
    case ObjectiveKind::all:
    case ObjectiveKind::final:
      AERO_CHECK(arch.family == ModelFamily::causal_lm, "[train] train.objective ",
                 objective_names().name(kind), " predicts the next token; a '", arch.name,
                 "' model is a ", family_names().name(arch.family));
      return std::make_unique<NextToken>();
  }
  fail("[train] unknown objective");
}

}  // namespace aero
