#include "train/objective.h"

#include <cmath>

#include "core/rng.h"
#include "models/llada.h"

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

// LLaDA's loss: -sum over masked positions of log p(x0 | xt) / p, divided by batch x length
// (the length after a random crop). The trainer's divisor is targets x grad_accum; only the
// grad_accum factor is kept from it.
class MaskedDiffusion final : public Objective {
 public:
  MaskedDiffusion(int mask_id, const ObjectiveOptions& o) : mask_id_(mask_id), o_(o) {}

  Var loss(Model& model, Tape& tape, const TrainBatch& b, float divisor) const override {
    const float accum = divisor / float(std::max<int64_t>(b.targets, 1));
    Var total;
    for (int d = 0; d < o_.mc; d++) {
      const DiffusionDraw dr = draw_diffusion(b, mask_id_, o_, d);
      // SFT rows are already normalised by their answer lengths (the weights).
      const int64_t L = b.prompt_len ? 1 : dr.cols;
      Var l = diffusion_loss(model, tape, dr, accum * float(b.all_rows() * L * o_.mc));
      // Scalars do not broadcast in add: the draws are summed as (1) tensors.
      total = d == 0 ? l : add(reshape(total, Shape{1}), reshape(l, Shape{1}));
    }
    return o_.mc > 1 ? reshape(total, Shape{}) : total;
  }

 private:
  int mask_id_;
  ObjectiveOptions o_;
};

}  // namespace

DiffusionDraw draw_diffusion(const TrainBatch& b, int mask_id, const ObjectiveOptions& opt,
                             int draw) {
  const uint64_t seed = splitmix64(b.seed ^ splitmix64(uint64_t(draw) * 2 + 1));
  // Batch-level draws first (crop, antithetic offset): every data-parallel part sees the same.
  Rng batch_rng(seed);
  // SFT batches (a prompt per row) are never cropped.
  const bool crop = batch_rng.uniform() < double(opt.random_length) && !b.prompt_len;
  const int64_t len = 1 + int64_t(batch_rng.below(uint64_t(b.cols)));
  const double u = batch_rng.uniform();
  DiffusionDraw d;
  d.rows = b.rows;
  d.cols = crop ? len : b.cols;
  const size_t n = size_t(d.rows * d.cols);
  d.xt.resize(n), d.target.resize(n), d.weight.resize(n), d.p.resize(size_t(d.rows));
  const double R = double(b.all_rows());
  for (int64_t r = 0; r < d.rows; r++) {
    const int64_t row = b.row0 + r;
    Rng rng(splitmix64(seed ^ splitmix64(0x100000000ULL + uint64_t(row))));
    const double t = opt.antithetic ? std::fmod(u + double(row) / R, 1.0) : rng.uniform();
    const float p = float((1.0 - double(opt.eps)) * t + double(opt.eps));
    d.p[size_t(r)] = p;
    // SFT: the prompt is never masked and each masked answer token counts 1 / (p · answer
    // length), so every row weighs the same whatever its answer's length (LLaDA's SFT loss).
    const int64_t prompt = b.prompt_len ? b.prompt_len[r] : 0;
    const float w =
        b.prompt_len ? 1.0f / (p * float(std::max<int64_t>(d.cols - prompt, 1))) : 1.0f / p;
    for (int64_t i = 0; i < d.cols; i++) {
      const size_t k = size_t(r * d.cols + i);
      const int32_t x0 = b.x[r * b.cols + i];
      const bool masked = rng.uniform() < double(p) && i >= prompt;
      d.xt[k] = masked ? mask_id : x0;
      d.target[k] = masked ? x0 : kIgnoreIndex;
      d.weight[k] = masked ? w : 0.0f;
    }
  }
  return d;
}

Var diffusion_loss(Model& model, Tape& tape, const DiffusionDraw& d, float divisor) {
  // Buffers on the tape: the forward and the loss keep them until backward.
  ModelInput in;
  in.ids = tape.alloc({d.rows, d.cols}, DType::i32);
  std::copy(d.xt.begin(), d.xt.end(), in.ids.i32());
  Tensor tgt = tape.alloc({d.rows, d.cols}, DType::i32);
  std::copy(d.target.begin(), d.target.end(), tgt.i32());
  CrossEntropyOpts o;
  o.ignore_index = kIgnoreIndex;
  o.weights = tape.alloc({d.rows, d.cols});
  std::copy(d.weight.begin(), d.weight.end(), o.weights.f32());
  o.divisor = divisor;
  return cross_entropy(model.forward(tape, in), tgt, o);
}

ObjectiveKind eval_objective(const ModelConfig& cfg, bool final_only) {
  if (cfg.arch().family == ModelFamily::masked_lm) return ObjectiveKind::diffusion;
  if (cfg.arch().family == ModelFamily::seq2seq) return ObjectiveKind::seq2seq;
  return final_only ? ObjectiveKind::final : ObjectiveKind::all;
}

std::unique_ptr<Objective> make_objective(ObjectiveKind kind, const ModelConfig& cfg,
                                          const ObjectiveOptions& opt) {
  const Arch& arch = cfg.arch();
  switch (kind) {
    case ObjectiveKind::all:
    case ObjectiveKind::final:
      AERO_CHECK(arch.family == ModelFamily::causal_lm, "[train] train.objective ",
                 objective_names().name(kind), " predicts the next token; a '", arch.name,
                 "' model is a ", family_names().name(arch.family),
                 arch.family == ModelFamily::masked_lm ? " (use train.objective=diffusion)" : "");
      return std::make_unique<NextToken>();
    case ObjectiveKind::seq2seq:
      AERO_CHECK(arch.family == ModelFamily::seq2seq,
                 "[train] train.objective seq2seq needs an "
                 "encoder-decoder; a '",
                 arch.name, "' model is a ", family_names().name(arch.family));
      return std::make_unique<Seq2Seq>();
    case ObjectiveKind::diffusion:
      AERO_CHECK(
          arch.family == ModelFamily::masked_lm,
          "[train] train.objective diffusion needs a masked_lm model (model.arch=llada); a '",
          arch.name, "' model is a ", family_names().name(arch.family));
      AERO_CHECK(opt.mc > 0, "[eval] the number of Monte-Carlo draws must be > 0, got ", opt.mc);
      return std::make_unique<MaskedDiffusion>(mask_id_of(cfg), opt);
  }
  fail("[train] unknown objective");
}

}  // namespace aero
