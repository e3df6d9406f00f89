// checkpoint: a block's forward on the recompute tape, only its output kept; backward runs the
// block again from the same inputs and random state and backpropagates through that copy.
#include <algorithm>
#include <cstring>

#include "autograd/backward.h"
#include "autograd/ops.h"

namespace aero {

Var checkpoint(const Recompute& fn, std::initializer_list<Var> inputs) {
  AERO_CHECK(inputs.size() >= 1 && inputs.size() <= 4, "[checkpoint] takes 1 to 4 inputs, got ",
             inputs.size());
  const Var* in = inputs.begin();
  const int n = int(inputs.size());
  Tape& tape = *in[0].tape;
  bool needs_grad = false;
  for (const Var& v : inputs) {
    AERO_CHECK(v.tape == &tape, "[checkpoint] inputs come from different tapes");
    needs_grad = needs_grad || v.requires_grad();
  }
  // Outside recording there is nothing to keep or to run again.
  if (!tape.grad_enabled) return fn.run(tape, in, n);

  // The block on the recompute tape, from this tape's random state; only its output is kept.
  uint64_t rng[4];
  std::copy_n(tape.rng().s_, 4, rng);
  Tape& sub = tape.recompute_tape();
  sub.reset();
  std::copy_n(rng, 4, sub.rng().s_);
  Var leaves[4];
  for (int k = 0; k < n; k++) leaves[k] = sub.leaf(in[k].value(), in[k].requires_grad());
  const Var y = fn.run(sub, leaves, n);
  const Tensor& yv = y.value();
  AERO_CHECK(yv.dtype() == DType::f32, "[checkpoint] the block's output must be f32");
  Tensor out = tape.alloc(yv.shape());
  std::memcpy(out.f32(), yv.f32(), size_t(yv.numel()) * sizeof(float));
  // Frozen inputs with trainable parameters inside (the first block of a LoRA run) still need
  // backward.
  const bool trainable = y.requires_grad();
  std::copy_n(sub.rng().s_, 4, tape.rng().s_);  // as if the block had run on this tape
  sub.reset();

  Var r = tape.record(Op::checkpoint, out, inputs);
  Node& node = tape.node(r);
  node.requires_grad = tape.grad_enabled && (needs_grad || trainable);
  node.attrs = &fn;
  for (int k = 0; k < 4; k++) node.i[k] = int64_t(rng[k]);
  return r;
}

void backward_checkpoint(Tape& tape, Node& node) {
  const auto& fn = *static_cast<const Recompute*>(node.attrs);
  Tape& sub = tape.recompute_tape();
  sub.reset();
  for (int k = 0; k < 4; k++) sub.rng().s_[k] = uint64_t(node.i[k]);
  // Inputs whose gradient already holds contributions (a value several blocks read, such as an
  // encoder's output) accumulate into it in place, in the order backward without checkpointing
  // would add them; the others get a gradient of their own, copied out afterwards.
  Var leaves[4];
  for (int k = 0; k < node.n_in; k++) {
    Node& x = tape.node(node.in[k]);
    leaves[k] = x.requires_grad && x.grad.defined() ? sub.param(x.value, x.grad)
                                                    : sub.leaf(x.value, x.requires_grad);
  }
  const Var y = fn.run(sub, leaves, node.n_in);
  sub.backward_from(y, node.grad);
  for (int k = 0; k < node.n_in; k++) {
    Node& x = tape.node(node.in[k]);
    const Tensor g = leaves[k].grad();
    if (!x.requires_grad || !g.defined() || g.raw() == x.grad.raw()) continue;
    bool overwrite = false;
    Tensor dx = tape.grad_to_write(node.in[k], &overwrite);
    const int64_t N = g.numel();
    if (overwrite) {
      std::memcpy(dx.f32(), g.f32(), size_t(N) * sizeof(float));
    } else {  // the same value passed twice
      float* d = dx.f32();
      const float* s = g.f32();
      for (int64_t i = 0; i < N; i++) d[i] += s[i];
    }
  }
  sub.reset();
}

}  // namespace aero
