// Optimizer: applies one of the kernels in kernels/optim.h to every trainable parameter of a
// ParamStore, with per-parameter weight decay (Param::decay). Moment buffers live in the
// store (one buffer per moment, laid out like the values). save()/load() keep the step count
// and the moments, so a resumed run continues exactly.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "io/safetensors.h"
#include "nn/params.h"

namespace aero {

enum class OptimKind { sgd, momentum, rmsprop, adam, adamw };
const EnumNames<OptimKind>& optim_kind_names();
const char* optim_kind_name(OptimKind k);  // "adamw"

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

  // State for checkpoints: one tensor per trainable parameter and moment, named
  // "optim.<moment>.<param>" (torch's moment names: exp_avg, exp_avg_sq, momentum_buffer,
  // square_avg), viewing the store's buffers; kind and step go in the metadata ("optim.kind",
  // "optim.step"). A trainer can write them into the same file as the model.
  std::vector<StTensorRef> state_tensors() const;
  std::map<std::string, std::string> state_metadata() const;
  // Restores from a file holding the above; checks kind, names and shapes, and leaves the
  // state untouched when anything is wrong.
  void load_state(const SafetensorsFile& f);
  // The state alone in its own safetensors file.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  ParamStore& store_;
  OptimConfig cfg_;
  int64_t step_ = 0;

  std::string state_name(int k, const std::string& param) const;
};

}  // namespace aero
