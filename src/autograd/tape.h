// Reverse-mode autograd over a fixed table of fused ops.
//
// A Tape records every op applied in forward (in order, so ids are a topological order) and
// replays them in reverse in backward(). Values and saved buffers live in an activation arena,
// gradients of intermediates in a gradient arena; reset() frees both at once. Parameters are
// leaves whose gradient tensor belongs to the caller (a ParamStore), so backward accumulates
// into it with += and gradient accumulation across steps is free.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "autograd/op_table.h"
#include "core/arena.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace aero {

class Tape;

// A handle to a value recorded on a tape. Cheap to copy.
struct Var {
  Tape* tape = nullptr;
  int32_t id = -1;

  bool defined() const { return tape != nullptr; }
  const Tensor& value() const;
  const Shape& shape() const;
  bool requires_grad() const;
  // The gradient after backward(); undefined Tensor if none reached this value, and for an op's
  // output unless the tape keeps them (Tape::keep_grads): leaves always keep theirs.
  Tensor grad() const;
};

struct Node {
  Op op = Op::leaf;
  bool requires_grad = false;
  // The gradient buffer was handed to an input as its own (a linear's residual): backward does
  // not free it for reuse when this node is done; the input frees it when it is.
  bool grad_lent = false;
  int8_t n_in = 0;
  int32_t in[4] = {-1, -1, -1, -1};
  Tensor value;
  Tensor grad;      // allocated (zeroed) on first use in backward
  Tensor saved[4];  // op-specific buffers kept for backward (e.g. mean/rstd, a mask)
  float f[4] = {};  // op-specific attributes
  int64_t i[6] = {};
  const void* attrs = nullptr;  // op-specific struct, allocated in the tape's arena
};

class Tape {
 public:
  explicit Tape(uint64_t seed = 0);
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Training mode enables dropout (and anything else random); evaluation disables it.
  bool training = true;
  // When false, ops still compute but record nothing needed for backward.
  bool grad_enabled = true;
  // Which copy of the parameter gradients ParamStore::var hands this tape: 0 the store's own,
  // r > 0 its replica r (data-parallel steps give each thread's tape its own).
  int grad_replica = 0;
  // Activation checkpointing of repeated blocks (models read it, see checkpoint() in ops.h):
  // 0 keeps every activation; n > 0 recomputes every n-th block (0, n, 2n, ...) in backward.
  int checkpoint_every = 0;
  // Called in backward as it passes each leaf that requires grad, once every op reading that
  // leaf is done: a parameter's gradient is final when its last leaf is passed (data-parallel
  // runs over processes start summing a gradient bucket then). A checkpointed block's
  // parameters are leaves of its recompute tape, which inherits both hooks.
  std::function<void(const Node&)> on_leaf_passed;
  // Called as param() records a leaf that requires grad, with its gradient: counting them over
  // forward tells how many leaves backward will pass.
  std::function<void(const Tensor& grad)> on_param_leaf;
  // Linear layers multiply in bf16 (inputs rounded to bf16, fp32 sums: kernels/gemm_bf16.h),
  // forward and backward; everything else stays fp32 (train.precision = bf16).
  bool bf16_products = false;
  // With bf16_products, a value that only linear layers read (the MLP's activation) is stored
  // already rounded to bf16: the products round it the same way, so the results are the same
  // bits at half the memory. False keeps it f32 (tests compare the two).
  bool bf16_storage = true;
  // Keep the gradient of every op's output after backward (tests that read them). Without it a
  // gradient's buffer is reused once the op's backward is done: the gradients of intermediates
  // then take about one block's worth of memory instead of the whole graph's.
  bool keep_grads = false;

  // Leaves.
  Var param(const Tensor& value, const Tensor& grad);  // grad accumulates into `grad`
  Var constant(const Tensor& value);                   // never differentiated
  Var leaf(const Tensor& value, bool requires_grad);   // gradient kept on the tape

  // Records the output of an op. requires_grad is true when recording and any input needs it.
  Var record(Op op, const Tensor& value, std::initializer_list<Var> inputs);
  Node& node(Var v);
  Node& node(int32_t id) { return nodes_[static_cast<size_t>(id)]; }
  size_t size() const { return nodes_.size(); }

  // Memory for op outputs and saved buffers (valid until reset()).
  Tensor alloc(const Shape& shape, DType dtype = DType::f32) { return act_.tensor(shape, dtype); }
  Tensor alloc_zeros(const Shape& shape, DType dtype = DType::f32) {
    return act_.zeros(shape, dtype);
  }
  template <typename T>
  T* alloc_attrs(const T& value) {
    T* p = static_cast<T*>(act_.alloc(sizeof(T)));
    new (p) T(value);
    return p;
  }

  // Memory an op uses and forgets within one forward or one backward call (the lora op's
  // dropped input): kept across calls and steps, so it is touched once. Valid until the next
  // call; never kept in a node.
  float* scratch(int64_t n);

  // Backpropagates from a scalar (one element) loss, seeding d(loss) = 1.
  // Without retain, saved buffers are released and a second backward is an error.
  void backward(Var loss, bool retain = false);
  // Backpropagates a given output gradient (same shape as `out`) instead of d(loss) = 1.
  void backward_from(Var out, const Tensor& out_grad, bool retain = false);

  // Gradient buffer of a node for backward functions to += into; undefined if the node
  // does not require grad.
  Tensor grad_of(int32_t id);
  // As grad_of, but when the node has no gradient yet the buffer is left uninitialised and
  // *overwrite is set: the caller must then write (=) every element instead of adding (+=),
  // which saves a zero-fill and a read of the buffer (the (B·T, V) logits gradient).
  Tensor grad_to_write(int32_t id, bool* overwrite);

  // Seeds for random ops: a fresh counter-based stream per call.
  uint64_t next_seed() { return rng_.next_u64(); }
  Rng& rng() { return rng_; }

  // Drops all nodes and frees activation memory (parameter gradients are untouched).
  void reset();

  // The tape a checkpointed block runs on (forward, then again in backward): created on first
  // use with this tape's settings and kept, so its memory is reused block after block.
  Tape& recompute_tape();

  // Time per op kind, forward (time since the previous record) and backward, summed over
  // steps; on when AERO_PROFILE=1 or profile = true. profile_report() prints a table.
  bool profile = false;
  std::string profile_report() const;
  size_t activation_bytes() const { return act_.used() + grad_.used(); }
  // Peak activation and gradient memory, the recompute tape's included.
  size_t peak_bytes() const { return peak_value_bytes() + peak_grad_bytes(); }
  // The two parts: values, saved buffers and the scratch buffer; gradients of intermediates.
  size_t peak_value_bytes() const {
    return act_.peak() + (scratch_.defined() ? scratch_.nbytes() : 0) +
           (recompute_ ? recompute_->peak_value_bytes() : 0);
  }
  size_t peak_grad_bytes() const {
    return grad_.peak() + (recompute_ ? recompute_->peak_grad_bytes() : 0);
  }

 private:
  std::vector<Node> nodes_;
  std::unique_ptr<Tape> recompute_;
  Arena act_;
  Arena grad_;
  // Gradient buffers (in grad_) whose op's backward is done, free for the next gradient.
  std::vector<Tensor> free_grads_;
  Tensor new_grad(const Shape& shape, bool zero);
  Tensor scratch_;
  Rng rng_;
  bool released_ = false;
  struct OpTime {
    double fwd = 0, bwd = 0;
    int64_t n = 0;
  };
  std::vector<OpTime> times_ = std::vector<OpTime>(kOpCount);
  double last_ = 0;  // clock at the previous record(), for forward times
};

// Disables recording for its lifetime (inference).
class NoGrad {
 public:
  explicit NoGrad(Tape& t) : tape_(t), prev_(t.grad_enabled) { t.grad_enabled = false; }
  ~NoGrad() { tape_.grad_enabled = prev_; }

 private:
  Tape& tape_;
  bool prev_;
};

}  // namespace aero
