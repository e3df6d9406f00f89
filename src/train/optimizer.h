// Optimizer: applies one of the kernels in kernels/optim.h to every trainable parameter of a
// ParamStore, with per-parameter weight decay (Param::decay). Moment buffers live in the
// store (one buffer per moment, laid out like the values). save()/load() keep the step count
// and the moments, so a resumed run continues exactly.
#pragma once
#include <cstdint>
#include <string>

#include "nn/params.h"

namespace aero {

enum class OptimKind { sgd, momentum, rmsprop, adam, adamw };
const char* optim_kind_name(OptimKind k);  // "adamw"
OptimKind parse_optim_kind(const std::string& s);

struct OptimConfig {
  OptimKind kind = OptimKind::adamw;
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f;  // adam, adamw
  float eps = 1e-8f;                   // adam, adamw, rmsprop
  float weight_decay = 0.0f;           // only on parameters with decay = true
  float momentum = 0.9f;               // momentum
  bool nesterov = false;               // momentum
  float alpha = 0.99f;                 // rmsprop: smoothing of the squared gradient
};

class Optimizer {
 public:
  Optimizer(ParamStore& store, const OptimConfig& cfg);

  // One update from the gradients in the store, with the current learning rate.
  void step();
  void set_lr(float lr) { cfg_.lr = lr; }
  const OptimConfig& config() const { return cfg_; }
  int64_t steps() const { return step_; }
  // Number of moment buffers this kind keeps (0 for sgd, 1 for momentum / rmsprop, 2 for adam).
  int n_moments() const;

  // Global-norm clipping over the trainable gradients; returns the norm before clipping.
  double clip_grad_norm(float max_norm);

  // State as a safetensors file: one tensor per parameter and moment ("exp_avg.<name>", ...),
  // the kind and the step count in the metadata. load() checks kind, names and shapes.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  ParamStore& store_;
  OptimConfig cfg_;
  int64_t step_ = 0;
};

}  // namespace aero
