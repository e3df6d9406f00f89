#include "nn/params.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/gemm_bf16.h"

namespace aero {

namespace {
// Each parameter starts on a 64-byte boundary so kernels see aligned rows.
constexpr int64_t kAlignFloats = 16;
}  // namespace

Param& ParamStore::declare(const std::string& name, const Shape& shape, Init init, float std) {
  AERO_CHECK(!finalized_, "[params] cannot declare '", name, "' after finalize()");
  AERO_CHECK(!name.empty(), "[params] parameter name is empty");
  AERO_CHECK(!has(name), "[params] parameter '", name, "' declared twice");
  AERO_CHECK(shape.ndim >= 1, "[params] parameter '", name, "' needs at least one dimension");
  for (int i = 0; i < shape.ndim; i++)
    AERO_CHECK(shape.d[i] > 0, "[params] parameter '", name, "' has shape ", shape.str());
  AERO_CHECK((init != Init::normal && init != Init::uniform) || std >= 0.0f, "[params] parameter '",
             name, "': negative std ", std);
  Param& p = params_.emplace_back();
  p.name = name;
  p.shape = shape;
  p.init = init;
  p.std = std;
  p.decay = shape.ndim >= 2;
  index_[name] = params_.size() - 1;
  return p;
}

void ParamStore::finalize(uint64_t seed, bool gradients, bool frozen_bf16) {
  AERO_CHECK(!finalized_, "[params] finalize() called twice");
  auto in_bf16 = [frozen_bf16](const Param& p) { return frozen_bf16 && !p.trainable && p.bf16_ok; };
  // Trainable parameters first, in declaration order, then the frozen ones; bf16-stored ones
  // in a buffer of their own.
  int64_t off = 0, off16 = 0;
  for (bool trainable : {true, false}) {
    for (Param& p : params_)
      if (p.trainable == trainable) {
        int64_t& o = in_bf16(p) ? off16 : off;
        p.offset = o;
        o += (p.numel() + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
      }
    if (trainable) trainable_total_ = off;
  }
  total_ = off;
  bf16_total_ = off16;
  values_ = Tensor::zeros({total_ > 0 ? total_ : 1});
  if (bf16_total_ > 0) values_bf16_ = Tensor::zeros({bf16_total_}, DType::bf16);
  if (gradients) grads_ = Tensor::zeros({trainable_total_ > 0 ? trainable_total_ : 1});
  // Values are initialised in declaration order, so freezing a parameter (or storing it in
  // bf16) never changes the initial values of the others.
  Rng rng(seed);
  std::vector<float> scratch;
  for (Param& p : params_) {
    const bool bf16 = in_bf16(p);
    p.value = bf16 ? Tensor::wrap(values_bf16_.data<uint16_t>() + p.offset, p.shape, DType::bf16)
                   : Tensor::wrap(values_.f32() + p.offset, p.shape);
    if (p.trainable && gradients) p.grad = Tensor::wrap(grads_.f32() + p.offset, p.shape);
    // A bf16 parameter is drawn in f32 chunks and rounded (never a whole f32 copy of it).
    constexpr int64_t kChunk = 1 << 16;
    for (int64_t b = 0, n = p.numel(); b < n; b += kChunk) {
      const int64_t m = bf16 ? std::min(kChunk, n - b) : n;
      if (bf16) scratch.assign(size_t(m), 0.0f);
      float* v = bf16 ? scratch.data() : values_.f32() + p.offset;
      switch (p.init) {
        case Init::zeros:
          break;
        case Init::ones:
          for (int64_t i = 0; i < m; i++) v[i] = 1.0f;
          break;
        case Init::normal:
          for (int64_t i = 0; i < m; i++) v[i] = float(p.std * rng.normal());
          break;
        case Init::uniform:
          for (int64_t i = 0; i < m; i++) v[i] = float(p.std * (2.0 * rng.uniform() - 1.0));
          break;
      }
      if (!bf16) break;
      round_to_bf16(v, p.value.data<uint16_t>() + b, m);
    }
  }
  finalized_ = true;
}

Param& ParamStore::get(const std::string& name) {
  auto it = index_.find(name);
  AERO_CHECK(it != index_.end(), "[params] no parameter named '", name, "'");
  return params_[it->second];
}

const Param& ParamStore::get(const std::string& name) const {
  auto it = index_.find(name);
  AERO_CHECK(it != index_.end(), "[params] no parameter named '", name, "'");
  return params_[it->second];
}

Var ParamStore::var(Tape& tape, const std::string& name) {
  AERO_CHECK(finalized_, "[params] finalize() the store before using '", name, "'");
  return var(tape, get(name));
}

Var ParamStore::var(Tape& tape, Param& p) {
  AERO_CHECK(finalized_, "[params] finalize() the store before using '", p.name, "'");
  if (!p.trainable || !p.grad.defined()) return tape.constant(p.value);
  const int r = tape.grad_replica;
  if (r == 0) return tape.param(p.value, p.grad);
  AERO_CHECK(r > 0 && r <= replicas(), "[params] tape asks for gradient replica ", r, " of ",
             replicas());
  return tape.param(p.value, Tensor::wrap(replicas_[size_t(r - 1)].f32() + p.offset, p.shape));
}

void ParamStore::set_replicas(int n) {
  AERO_CHECK(finalized_, "[params] set_replicas() before finalize()");
  AERO_CHECK(n >= 0, "[params] negative replica count ", n);
  replicas_.resize(size_t(n));
  for (Tensor& g : replicas_)
    if (!g.defined()) g = Tensor::zeros({trainable_total_ > 0 ? trainable_total_ : 1});
}

void ParamStore::reduce_replicas() {
  if (replicas_.empty()) return;
  float* g = grads_.f32();
  parallel_range(trainable_total_, 1 << 15, [&](int64_t b, int64_t e) {
    for (Tensor& rep : replicas_) {
      float* r = rep.f32();
#pragma omp simd
      for (int64_t i = b; i < e; i++) g[i] += r[i];
      std::memset(r + b, 0, size_t(e - b) * sizeof(float));
    }
  });
}

void ParamStore::zero_grad() {
  AERO_CHECK(finalized_, "[params] zero_grad() before finalize()");
  if (!grads_.defined()) return;
  float* g = grads_.f32();
  parallel_range(grads_.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    std::memset(g + b, 0, size_t(e - b) * sizeof(float));
  });
}

int64_t ParamStore::count(const std::string& prefix, bool trainable_only) const {
  int64_t n = 0;
  for (const Param& p : params_)
    if (p.name.compare(0, prefix.size(), prefix) == 0 && (p.trainable || !trainable_only))
      n += p.numel();
  return n;
}

float* ParamStore::state(int k) {
  AERO_CHECK(finalized_, "[params] optimizer state requested before finalize()");
  AERO_CHECK(k >= 0 && k < 8, "[params] state buffer ", k, " out of range");
  while (int(state_.size()) <= k)
    state_.push_back(Tensor::zeros({trainable_total_ > 0 ? trainable_total_ : 1}));
  return state_[size_t(k)].f32();
}

void ParamStore::widen_to_f32(Param& p) {
  if (!p.is_bf16()) return;
  Tensor w = Tensor::empty(p.shape);
  bf16_to_f32(p.value.data<uint16_t>(), w.f32(), p.numel());
  p.value = w;
}

void read_values_f32(const Param& p, int64_t begin, int64_t n, float* out) {
  AERO_CHECK(begin >= 0 && n >= 0 && begin + n <= p.numel(), "[params] values [", begin, ", ",
             begin + n, ") of '", p.name, "', which has ", p.numel());
  if (p.is_bf16())
    bf16_to_f32(p.value.data<uint16_t>() + begin, out, n);
  else
    std::copy_n(p.value.f32() + begin, n, out);
}

void write_values_f32(Param& p, int64_t begin, int64_t n, const float* in) {
  AERO_CHECK(begin >= 0 && n >= 0 && begin + n <= p.numel(), "[params] values [", begin, ", ",
             begin + n, ") of '", p.name, "', which has ", p.numel());
  if (p.is_bf16())
    round_to_bf16(in, p.value.data<uint16_t>() + begin, n);
  else
    std::copy_n(in, n, p.value.f32() + begin);
}

}  // namespace aero
