#include "train/optimizer.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/optim.h"

namespace aero {

namespace {
// torch's names for the moments, used as tensor-name prefixes in the state file.
const char* moment_name(OptimKind k, int i) {
  switch (k) {
    case OptimKind::momentum:
      return "momentum_buffer";
    case OptimKind::rmsprop:
      return "square_avg";
    case OptimKind::adam:
    case OptimKind::adamw:
      return i == 0 ? "exp_avg" : "exp_avg_sq";
    case OptimKind::sgd:
      break;
  }
  return "?";
}
}  // namespace

const EnumNames<OptimKind>& optim_kind_names() {
  static const EnumNames<OptimKind> n{{OptimKind::sgd, "sgd"},
                                      {OptimKind::momentum, "momentum"},
                                      {OptimKind::rmsprop, "rmsprop"},
                                      {OptimKind::adam, "adam"},
                                      {OptimKind::adamw, "adamw"}};
  return n;
}

const char* optim_kind_name(OptimKind k) { return optim_kind_names().name(k); }

Optimizer::Optimizer(ParamStore& store, const OptimConfig& cfg) : store_(store), cfg_(cfg) {
  AERO_CHECK(store.finalized(), "[optimizer] finalize() the parameter store first");
  AERO_CHECK(cfg.lr >= 0.0f, "[optimizer] lr must be >= 0, got ", cfg.lr);
  AERO_CHECK(cfg.eps > 0.0f || cfg.kind == OptimKind::sgd || cfg.kind == OptimKind::momentum,
             "[optimizer] eps must be > 0, got ", cfg.eps);
  AERO_CHECK(cfg.beta1 >= 0.0f && cfg.beta1 < 1.0f && cfg.beta2 >= 0.0f && cfg.beta2 < 1.0f,
             "[optimizer] betas must be in [0, 1), got (", cfg.beta1, ", ", cfg.beta2, ")");
  AERO_CHECK(cfg.weight_decay >= 0.0f, "[optimizer] weight_decay must be >= 0, got ",
             cfg.weight_decay);
  AERO_CHECK(cfg.kind != OptimKind::momentum || (cfg.momentum > 0.0f && cfg.momentum < 1.0f),
             "[optimizer] momentum must be in (0, 1), got ", cfg.momentum);
  AERO_CHECK(cfg.alpha >= 0.0f && cfg.alpha < 1.0f, "[optimizer] alpha must be in [0, 1), got ",
             cfg.alpha);
  // The moments live in the store; a new optimizer starts from zero, not from a previous one's.
  for (int k = 0; k < n_moments(); k++) std::fill_n(store.state(k), store.grad_floats(), 0.0f);
}

int Optimizer::n_moments() const {
  switch (cfg_.kind) {
    case OptimKind::sgd:
      return 0;
    case OptimKind::momentum:
    case OptimKind::rmsprop:
      return 1;
    case OptimKind::adam:
    case OptimKind::adamw:
      return 2;
  }
  return 0;
}

void Optimizer::step() {
  step_++;
  float* m = n_moments() > 0 ? store_.state(0) : nullptr;
  float* v = n_moments() > 1 ? store_.state(1) : nullptr;
  // Elements [b, e) of one parameter; the kernels run serially inside the region below.
  auto update = [&](Param& p, int64_t b, int64_t e) {
    float* w = p.value.data<float>() + b;
    const float* g = p.grad.data<float>() + b;
    int64_t n = e - b, o = p.offset + b;
    float wd = p.decay ? cfg_.weight_decay : 0.0f;
    switch (cfg_.kind) {
      case OptimKind::sgd:
        sgd_step(w, g, n, cfg_.lr, wd);
        break;
      case OptimKind::momentum:
        sgd_momentum_step(w, g, m + o, n, cfg_.lr, cfg_.momentum, wd, cfg_.nesterov);
        break;
      case OptimKind::rmsprop:
        rmsprop_step(w, g, m + o, n, cfg_.lr, cfg_.alpha, cfg_.eps, wd);
        break;
      case OptimKind::adam:
        adam_step(w, g, m + o, v + o, n, cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, wd, step_);
        break;
      case OptimKind::adamw:
        adamw_step(w, g, m + o, v + o, n, cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, wd, step_);
        break;
    }
  };
  // One thread team for the whole store instead of one per tensor (a 3-layer model has ~30
  // tensors, most too small to split): the trainable parameters laid end to end, split evenly.
  std::vector<Param*> ps;
  int64_t total = 0;
  for (Param& p : store_.params())
    if (p.trainable) {
      ps.push_back(&p);
      total += p.numel();
    }
  parallel_range(total, int64_t(1) << 15, [&](int64_t b, int64_t e) {
    int64_t base = 0;
    for (Param* p : ps) {
      int64_t lo = std::max(b, base), hi = std::min(e, base + p->numel());
      if (lo < hi) update(*p, lo - base, hi - base);
      base += p->numel();
    }
  });
}

double Optimizer::clip_grad_norm(float max_norm) {
  std::vector<float*> grads;
  std::vector<int64_t> sizes;
  for (Param& p : store_.params())
    if (p.trainable) {
      grads.push_back(p.grad.data<float>());
      sizes.push_back(p.numel());
    }
  return aero::clip_grad_norm(grads.data(), sizes.data(), int(grads.size()), max_norm);
}

std::vector<StTensorRef> Optimizer::state_tensors() const {
  std::vector<StTensorRef> tensors;
  for (int k = 0; k < n_moments(); k++) {
    float* buf = store_.state(k);
    for (const Param& p : store_.params())
      if (p.trainable)
        tensors.emplace_back(state_name(k, p.name), Tensor::wrap(buf + p.offset, p.shape));
  }
  return tensors;
}

std::map<std::string, std::string> Optimizer::state_metadata() const {
  return {{"optim.format", "aero.optimizer"},
          {"optim.version", "1"},
          {"optim.kind", optim_kind_name(cfg_.kind)},
          {"optim.step", std::to_string(step_)}};
}

std::string Optimizer::state_name(int k, const std::string& param) const {
  return std::string("optim.") + moment_name(cfg_.kind, k) + "." + param;
}

void Optimizer::load_state(const SafetensorsFile& f) {
  const std::string& path = f.path();
  auto meta = [&](const char* key) {
    auto it = f.metadata().find(key);
    AERO_CHECK(it != f.metadata().end(), "[optimizer] ", path, ": metadata has no '", key,
               "' (no optimizer state in this file)");
    return it->second;
  };
  AERO_CHECK(meta("optim.format") == "aero.optimizer", "[optimizer] ", path,
             ": not an optimizer state");
  AERO_CHECK(meta("optim.version") == "1", "[optimizer] ", path,
             ": unsupported optimizer state version ", meta("optim.version"));
  AERO_CHECK(meta("optim.kind") == optim_kind_name(cfg_.kind), "[optimizer] ", path,
             ": state is for ", meta("optim.kind"), " but this optimizer is ",
             optim_kind_name(cfg_.kind));
  int64_t step = -1;
  try {
    step = std::stoll(meta("optim.step"));
  } catch (const std::exception&) {
  }
  AERO_CHECK(step >= 0, "[optimizer] ", path, ": bad optim.step '", meta("optim.step"), "'");
  // Read everything before touching the store, so a bad file leaves the state as it was.
  int64_t total = store_.grad_floats();
  std::vector<Tensor> staged;
  for (int k = 0; k < n_moments(); k++) {
    Tensor buf = Tensor::zeros({total > 0 ? total : 1});
    for (const Param& p : store_.params())
      if (p.trainable)
        f.read_into(state_name(k, p.name), Tensor::wrap(buf.f32() + p.offset, p.shape));
    staged.push_back(buf);
  }
  for (int k = 0; k < n_moments(); k++)
    std::copy(staged[size_t(k)].f32(), staged[size_t(k)].f32() + total, store_.state(k));
  step_ = step;
}

void Optimizer::save(const std::string& path) const {
  write_safetensors(path, state_tensors(), state_metadata());
}

void Optimizer::load(const std::string& path) { load_state(SafetensorsFile(path)); }

}  // namespace aero
