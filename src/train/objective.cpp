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

// An encoder-decoder's targets: the batch holds the encoder input (src), the labels (y) and
// their shift_right (x: start = pad, -100 -> pad); cross-entropy over labels != -100.
class Seq2Seq final : public Objective {
 public:
  Var loss(Model& model, Tape& tape, const TrainBatch& b, float divisor) const override {
    AERO_CHECK(b.src != nullptr,
               "[train] train.objective seq2seq needs (input, target) pairs: "
               "set data.mode = pairs");
    ModelInput in;
    in.ids = Tensor::wrap(const_cast<int32_t*>(b.x), {b.rows, b.cols}, DType::i32);
    in.source_ids = Tensor::wrap(const_cast<int32_t*>(b.src), {b.rows, b.src_cols}, DType::i32);
    in.source_mask =
        Tensor::wrap(const_cast<int32_t*>(b.src_mask), {b.rows, b.src_cols}, DType::i32);
    Tensor labels = Tensor::wrap(const_cast<int32_t*>(b.y), {b.rows, b.cols}, DType::i32);
    CrossEntropyOpts o;
    o.ignore_index = kIgnoreIndex;
    o.divisor = divisor;
    return cross_entropy(model.forward(tape, in), labels, o);
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
    case ObjectiveKind::seq2seq:
      AERO_CHECK(arch.family == ModelFamily::seq2seq,
                 "[train] train.objective seq2seq needs an "
                 "encoder-decoder; a '",
                 arch.name, "' model is a ", family_names().name(arch.family));
      return std::make_unique<Seq2Seq>();
  }
  fail("[train] unknown objective");
}

}  // namespace aero
