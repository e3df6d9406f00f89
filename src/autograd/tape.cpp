#include "autograd/tape.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace aero {
namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
bool profile_from_env() {
  const char* v = std::getenv("AERO_PROFILE");
  return v && *v && *v != '0';
}
}  // namespace

const Tensor& Var::value() const { return tape->node(id).value; }
const Shape& Var::shape() const { return tape->node(id).value.shape(); }
bool Var::requires_grad() const { return tape->node(id).requires_grad; }
Tensor Var::grad() const { return tape->node(id).grad; }

Tape::Tape(uint64_t seed)
    : profile(profile_from_env()), act_(16 << 20), grad_(16 << 20), rng_(seed) {
  nodes_.reserve(1024);
  last_ = now();
}

Node& Tape::node(Var v) {
  AERO_CHECK(v.tape == this, "[autograd] value belongs to another tape");
  AERO_CHECK(v.id >= 0 && static_cast<size_t>(v.id) < nodes_.size(), "[autograd] stale value id ",
             v.id, " (the tape was reset?)");
  return nodes_[static_cast<size_t>(v.id)];
}

Var Tape::param(const Tensor& value, const Tensor& grad) {
  if (profile) last_ = now();
  AERO_CHECK(grad.shape() == value.shape(), "[autograd] parameter gradient shape ",
             grad.shape().str(), " differs from value shape ", value.shape().str());
  Node n;
  n.value = value;
  n.grad = grad;
  n.requires_grad = grad_enabled;
  nodes_.push_back(std::move(n));
  if (grad_enabled && on_param_leaf) on_param_leaf(grad);
  return {this, static_cast<int32_t>(nodes_.size() - 1)};
}

Var Tape::constant(const Tensor& value) {
  if (profile) last_ = now();
  Node n;
  n.value = value;
  nodes_.push_back(std::move(n));
  return {this, static_cast<int32_t>(nodes_.size() - 1)};
}

Var Tape::leaf(const Tensor& value, bool requires_grad) {
  if (profile) last_ = now();
  Node n;
  n.value = value;
  n.requires_grad = requires_grad && grad_enabled;
  nodes_.push_back(std::move(n));
  return {this, static_cast<int32_t>(nodes_.size() - 1)};
}

Var Tape::record(Op op, const Tensor& value, std::initializer_list<Var> inputs) {
  AERO_ASSERT(inputs.size() <= 4);
  if (profile) {
    double t = now();
    OpTime& ot = times_[static_cast<size_t>(op)];
    ot.fwd += t - last_;
    ot.n++;
    last_ = t;
  }
  Node n;
  n.op = op;
  n.value = value;
  for (const Var& v : inputs) {
    if (!v.defined()) {
      n.in[n.n_in++] = -1;
      continue;
    }
    AERO_CHECK(v.tape == this, "[", op_name(op), "] inputs come from different tapes");
    n.in[n.n_in++] = v.id;
    if (grad_enabled && nodes_[static_cast<size_t>(v.id)].requires_grad) n.requires_grad = true;
  }
  nodes_.push_back(std::move(n));
  return {this, static_cast<int32_t>(nodes_.size() - 1)};
}

Tensor Tape::new_grad(const Shape& shape, bool zero) {
  // The smallest free buffer that fits (blocks repeat, so most fit exactly); else a new one.
  const size_t need = static_cast<size_t>(shape.numel()) * sizeof(float);
  size_t best = free_grads_.size();
  for (size_t k = 0; k < free_grads_.size(); k++)
    if (free_grads_[k].nbytes() >= need &&
        (best == free_grads_.size() || free_grads_[k].nbytes() < free_grads_[best].nbytes()))
      best = k;
  if (best == free_grads_.size()) return zero ? grad_.zeros(shape) : grad_.tensor(shape);
  const Tensor buf = free_grads_[best];
  free_grads_[best] = free_grads_.back();
  free_grads_.pop_back();
  Tensor g = Tensor::wrap(buf.raw(), shape);
  if (zero) std::memset(g.raw(), 0, need);
  // The rest of a larger buffer (the logits' gradient) stays free, 64-byte aligned as the arena's.
  const size_t used = (need + 63) / 64 * 64;
  if (buf.nbytes() >= used + 64)
    free_grads_.push_back(Tensor::wrap(static_cast<char*>(buf.raw()) + used,
                                       {int64_t((buf.nbytes() - used) / sizeof(float))}));
  return g;
}

Tensor Tape::grad_of(int32_t id) {
  if (id < 0) return {};
  Node& n = nodes_[static_cast<size_t>(id)];
  if (!n.requires_grad) return {};
  if (!n.grad.defined()) n.grad = new_grad(n.value.shape(), /*zero=*/true);
  return n.grad;
}

Tensor Tape::grad_to_write(int32_t id, bool* overwrite) {
  *overwrite = false;
  if (id < 0) return {};
  Node& n = nodes_[static_cast<size_t>(id)];
  if (!n.requires_grad) return {};
  if (!n.grad.defined()) {
    n.grad = new_grad(n.value.shape(), /*zero=*/false);
    *overwrite = true;
  }
  return n.grad;
}

void Tape::backward(Var loss, bool retain) {
  AERO_CHECK(node(loss).value.numel() == 1, "[backward] loss must have one element, got shape ",
             node(loss).value.shape().str());
  Tensor one = Tensor::full(node(loss).value.shape(), 1.0f);
  backward_from(loss, one, retain);
}

void Tape::backward_from(Var out, const Tensor& out_grad, bool retain) {
  Node& root = node(out);
  AERO_CHECK(!released_,
             "[backward] called twice on the same graph; pass retain=true to the "
             "first call to backpropagate again");
  AERO_CHECK(root.requires_grad,
             "[backward] output does not depend on anything that requires "
             "grad (no parameters, or recorded under NoGrad)");
  AERO_CHECK(out_grad.shape() == root.value.shape(), "[backward] gradient shape ",
             out_grad.shape().str(), " differs from output shape ", root.value.shape().str());
  Tensor g = grad_of(out.id);
  const float* src = out_grad.f32();
  float* dst = g.f32();
  for (int64_t i = 0, n = g.numel(); i < n; i++) dst[i] += src[i];
  for (int32_t id = out.id; id >= 0; id--) {
    Node& n = nodes_[static_cast<size_t>(id)];
    if (n.op == Op::leaf) {
      if (n.requires_grad && on_leaf_passed) on_leaf_passed(n);
      continue;
    }
    if (!n.requires_grad || !n.grad.defined()) continue;
    if (profile) {
      double t0 = now();
      op_info(n.op).backward(*this, n);
      times_[static_cast<size_t>(n.op)].bwd += now() - t0;
    } else {
      op_info(n.op).backward(*this, n);
    }
    // Every op reading this gradient has run (backward goes in reverse recording order).
    if (!keep_grads && !retain && !n.grad_lent) {
      free_grads_.push_back(n.grad);
      n.grad = Tensor();
    }
  }
  if (!retain) {
    for (Node& n : nodes_)
      for (Tensor& s : n.saved) s = Tensor();
    released_ = true;
  }
}

Tape& Tape::recompute_tape() {
  if (!recompute_) recompute_ = std::make_unique<Tape>();
  Tape& r = *recompute_;
  r.training = training;
  r.grad_enabled = true;
  r.grad_replica = grad_replica;
  r.checkpoint_every = 0;  // a checkpointed block does not checkpoint inside itself
  r.bf16_products = bf16_products;
  r.bf16_storage = bf16_storage;
  r.keep_grads = keep_grads;
  r.profile = profile;
  r.on_leaf_passed = on_leaf_passed;
  r.on_param_leaf = on_param_leaf;
  return r;
}

float* Tape::scratch(int64_t n) {
  if (!scratch_.defined() || scratch_.numel() < n)
    scratch_ = Tensor::empty({std::max<int64_t>(n, 1)});
  return scratch_.f32();
}

void Tape::reset() {
  nodes_.clear();
  free_grads_.clear();
  act_.reset();
  grad_.reset();
  released_ = false;
}

}  // namespace aero

namespace aero {

std::string Tape::profile_report() const {
  double total = 0;
  std::vector<size_t> order;
  for (size_t i = 0; i < kOpCount; i++) {
    total += times_[i].fwd + times_[i].bwd;
    if (times_[i].n) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return times_[a].fwd + times_[a].bwd > times_[b].fwd + times_[b].bwd;
  });
  std::string s = "op              calls   forward ms  backward ms   share\n";
  char line[160];
  for (size_t i : order) {
    const OpTime& t = times_[i];
    std::snprintf(line, sizeof line, "%-14s %6lld %12.2f %12.2f %6.1f%%\n", op_name(Op(i)),
                  (long long)t.n, t.fwd * 1e3, t.bwd * 1e3, 100.0 * (t.fwd + t.bwd) / total);
    s += line;
  }
  return s;
}

}  // namespace aero
