#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

// Squares of x[0, n) in double, added in 8 lanes (element i into lane i mod 8), then the lanes
// pairwise: one fixed order, whatever the address or the vector width.
double block_sum_squares(const float* x, int64_t n) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) lane[k] += double(x[i + k]) * double(x[i + k]);
  for (int k = 0; i < n; i++, k++) lane[k] += double(x[i]) * double(x[i]);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
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

Optimizer::Optimizer(ParamStore& store, const OptimConfig& cfg, OptimShard shard)
    : store_(store), cfg_(cfg), shard_(std::move(shard)) {
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
  for (Param& p : store.params())
    if (p.trainable) params_.push_back(&p);
  std::sort(params_.begin(), params_.end(),
            [](const Param* a, const Param* b) { return a->offset < b->offset; });
  for (const Param* p : params_)
    for (int64_t k = 0; k < p->numel(); k += kNormBlock)
      blocks_.push_back({p->offset + k, std::min(kNormBlock, p->numel() - k)});
  if (sharded()) {
    AERO_CHECK(shard_.segments.size() == shard_.buckets.size(),
               "[optimizer] a shard needs one segment per bucket");
    ranges_ = shard_.segments;
  } else {
    ranges_ = {{0, store.grad_floats()}};
  }
  for (const auto& [first, end] : ranges_) {
    range_at_.push_back(owned_);
    owned_ += end - first;
  }
  for (size_t b = 0; b < blocks_.size(); b++)
    for (const auto& [first, end] : ranges_)
      if (blocks_[b].first >= first && blocks_[b].first < end) {
        AERO_ASSERT(blocks_[b].first + blocks_[b].n <= end);
        my_blocks_.push_back(int64_t(b));
      }
  // Unsharded, the moments live in the store; a new optimizer starts from zero, not from a
  // previous one's. Sharded, they are this optimizer's own, for its ranges only.
  for (int k = 0; k < n_moments(); k++) {
    if (sharded())
      own_moments_.push_back(Tensor::zeros({std::max<int64_t>(owned_, 1)}));
    else
      std::fill_n(store.state(k), store.grad_floats(), 0.0f);
  }
}

float* Optimizer::moment(int k) const {
  if (k >= n_moments()) return nullptr;
  return sharded() ? own_moments_[size_t(k)].f32() : store_.state(k);
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

void Optimizer::update(int64_t first, int64_t end, float* m, float* v) {
  // One thread team for the range instead of one per tensor (a 3-layer model has ~30 tensors,
  // most too small to split): the range split evenly, each part walking the parameters in it.
  parallel_range(end - first, int64_t(1) << 15, [&](int64_t b, int64_t e) {
    const int64_t lo = first + b, hi = first + e;
    auto it = std::upper_bound(params_.begin(), params_.end(), lo, [](int64_t x, const Param* p) {
      return x < p->offset + p->numel();
    });
    for (; it != params_.end() && (*it)->offset < hi; ++it) {
      Param& p = **it;
      const int64_t a = std::max(lo, p.offset), z = std::min(hi, p.offset + p.numel());
      if (a >= z) continue;
      float* w = p.value.data<float>() + (a - p.offset);
      const float* g = p.grad.data<float>() + (a - p.offset);
      float* mi = m ? m + (a - first) : nullptr;
      float* vi = v ? v + (a - first) : nullptr;
      const int64_t n = z - a;
      const float wd = p.decay ? cfg_.weight_decay : 0.0f;
      switch (cfg_.kind) {
        case OptimKind::sgd:
          sgd_step(w, g, n, cfg_.lr, wd);
          break;
        case OptimKind::momentum:
          sgd_momentum_step(w, g, mi, n, cfg_.lr, cfg_.momentum, wd, cfg_.nesterov);
          break;
        case OptimKind::rmsprop:
          rmsprop_step(w, g, mi, n, cfg_.lr, cfg_.alpha, cfg_.eps, wd);
          break;
        case OptimKind::adam:
          adam_step(w, g, mi, vi, n, cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, wd, step_);
          break;
        case OptimKind::adamw:
          adamw_step(w, g, mi, vi, n, cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, wd, step_);
          break;
      }
    }
  });
}

void Optimizer::step() {
  step_++;
  float* m = moment(0);
  float* v = moment(1);
  float* values = store_.values_data();
  for (size_t i = 0; i < ranges_.size(); i++) {
    const auto [first, end] = ranges_[i];
    update(first, end, m ? m + range_at_[i] : nullptr, v ? v + range_at_[i] : nullptr);
    // The bucket's weights travel while the next segment is updated.
    if (sharded())
      shard_.group->start_gather(int(i), values + first, values + shard_.buckets[i].first, -1);
  }
  if (sharded()) shard_.group->wait_all();
}

double Optimizer::clip_grad_norm(float max_norm) {
  const float* grads = store_.grads_data();
  std::vector<double> part(blocks_.size(), 0.0);
  parallel_range(int64_t(my_blocks_.size()), 8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const Block& k = blocks_[size_t(my_blocks_[size_t(i)])];
      part[size_t(my_blocks_[size_t(i)])] = block_sum_squares(grads + k.first, k.n);
    }
  });
  if (sharded() && !part.empty()) {
    // Each block's sum comes from the one rank that owns it; the others' words are zero.
    std::vector<uint64_t> words(part.size());
    std::memcpy(words.data(), part.data(), part.size() * sizeof(double));
    shard_.group->bit_or(words.data(), int64_t(words.size()));
    std::memcpy(part.data(), words.data(), part.size() * sizeof(double));
  }
  double ss = 0.0;
  for (double x : part) ss += x;
  const double norm = std::sqrt(ss);
  const double coef = double(max_norm) / (norm + 1e-6);
  if (coef < 1.0)
    for (const auto& [first, end] : ranges_)
      scale_inplace(store_.grads_data() + first, end - first, float(coef));
  return norm;
}

std::vector<StTensorRef> Optimizer::state_tensors() const {
  AERO_CHECK(!sharded() || n_moments() == 0 || !gathered_.empty(),
             "[optimizer] the state is sharded over the ranks: gather_state() first (rank 0)");
  std::vector<StTensorRef> tensors;
  for (int k = 0; k < n_moments(); k++) {
    float* buf = sharded() ? gathered_[size_t(k)].f32() : store_.state(k);
    for (const Param& p : store_.params())
      if (p.trainable)
        tensors.emplace_back(state_name(k, p.name), Tensor::wrap(buf + p.offset, p.shape));
  }
  return tensors;
}

void Optimizer::gather_state() {
  if (!sharded()) return;
  const bool root = shard_.group->rank() == 0;
  gathered_.clear();
  for (int k = 0; k < n_moments(); k++) {
    Tensor all = root ? Tensor::zeros({std::max<int64_t>(store_.grad_floats(), 1)}) : Tensor();
    for (size_t i = 0; i < ranges_.size(); i++)
      shard_.group->start_gather(int(i), moment(k) + range_at_[i],
                                 root ? all.f32() + shard_.buckets[i].first : nullptr, 0);
    shard_.group->wait_all();
    if (root) gathered_.push_back(all);
  }
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
  // Read everything before touching the state, so a bad file leaves it as it was; sharded, only
  // this optimizer's ranges are kept.
  std::vector<Tensor> staged;
  for (int k = 0; k < n_moments(); k++) {
    Tensor buf = Tensor::zeros({std::max<int64_t>(owned_, 1)});
    for (const Param* p : params_) {
      Tensor whole = Tensor::zeros(p->shape);
      f.read_into(state_name(k, p->name), whole);
      for (size_t i = 0; i < ranges_.size(); i++) {
        const auto [first, end] = ranges_[i];
        const int64_t a = std::max(first, p->offset), z = std::min(end, p->offset + p->numel());
        if (a < z)
          std::copy(whole.f32() + (a - p->offset), whole.f32() + (z - p->offset),
                    buf.f32() + range_at_[i] + (a - first));
      }
    }
    staged.push_back(buf);
  }
  for (int k = 0; k < n_moments(); k++)
    std::copy(staged[size_t(k)].f32(), staged[size_t(k)].f32() + owned_, moment(k));
  step_ = step;
}

void Optimizer::save(const std::string& path) const {
  write_safetensors(path, state_tensors(), state_metadata());
}

void Optimizer::load(const std::string& path) { load_state(SafetensorsFile(path)); }

}  // namespace aero
