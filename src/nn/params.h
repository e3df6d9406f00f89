// ParamStore: every parameter of a model in one buffer, every gradient in another (llm.c style),
// so zero_grad is one memset and a checkpoint is one write. Parameters are declared first
// (name, shape, init, flags), then finalize() allocates the buffers, initialises the values
// and gives each parameter a Tensor view. Names follow "blk.0.attn.q.weight".
//
// Frozen parameters (trainable = false at finalize(), e.g. a base model under LoRA) are laid out
// after the trainable ones, and the gradient, replica and optimizer buffers cover only the
// trainable prefix: a frozen 580M-parameter base carries no dead buffers of its size.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/tape.h"
#include "core/tensor.h"

namespace aero {

enum class Init { zeros, ones, normal, uniform };

struct Param {
  std::string name;
  Shape shape;
  Init init = Init::zeros;
  float std = 0.0f;  // Init::normal: values ~ N(0, std²); Init::uniform: ~ U(-std, std)
  // Weight decay applies to this tensor. Default: matrices (ndim >= 2) decay, norms and biases
  // (1-D) do not; the declarer may override.
  bool decay = true;
  bool trainable = true;  // false: frozen (no gradient, no moments); read at finalize()
  // > 0: a token table grown past a base's vocabulary; a checkpoint may hold only its first
  // rows (at least this many), the rest being added tokens' rows filled after loading.
  int64_t file_rows_min = 0;
  int64_t offset = 0;  // in floats, into every buffer of the store (set by finalize)
  Tensor value, grad;  // views (set by finalize); grad undefined when frozen

  int64_t numel() const { return shape.numel(); }
};

class ParamStore {
 public:
  ParamStore() = default;
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  // Declares a parameter; the reference stays valid for the store's lifetime.
  Param& declare(const std::string& name, const Shape& shape, Init init, float std = 0.0f);
  // Allocates values, gradients (zeroed) and initialises values in declaration order from `seed`.
  // Without gradients (a model loaded to run, not to train) no gradient buffer is allocated and
  // every parameter reads as a constant on a tape.
  void finalize(uint64_t seed = 0, bool gradients = true);
  bool finalized() const { return finalized_; }

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  Param& get(const std::string& name);
  const Param& get(const std::string& name) const;
  Tensor& value(const std::string& name) { return get(name).value; }
  Tensor& grad(const std::string& name) { return get(name).grad; }
  std::deque<Param>& params() { return params_; }
  const std::deque<Param>& params() const { return params_; }

  // The parameter as a leaf on a tape: trainable ones accumulate into their gradient view,
  // frozen ones are constants.
  Var var(Tape& tape, const std::string& name);
  Var var(Tape& tape, Param& p);  // the same without the name lookup (layers hold their Param)

  void zero_grad();

  // Data parallelism: n extra gradient buffers laid out like the gradients, zeroed. A tape with
  // grad_replica = r (1..n) accumulates parameter gradients into replica r; reduce_replicas()
  // adds replicas 1..n, in that order, into the gradients and zeroes them again.
  void set_replicas(int n);
  int replicas() const { return int(replicas_.size()); }
  void reduce_replicas();
  // Number of values in parameters whose name starts with `prefix` ("" counts all); with
  // trainable_only, frozen parameters are left out (the LoRA report).
  int64_t count(const std::string& prefix = "", bool trainable_only = false) const;
  // Floats in the value buffer, and in each gradient / replica / optimizer-state buffer (the
  // trainable parameters only), alignment padding included.
  int64_t buffer_floats() const { return total_; }
  int64_t grad_floats() const { return trainable_total_; }
  float* values_data() const { return values_.data<float>(); }
  float* grads_data() const { return grads_.data<float>(); }

  // Extra buffers laid out like the gradients (optimizer moments), zeroed on creation.
  // state(k) creates buffers up to k on first use.
  float* state(int k);
  int state_count() const { return int(state_.size()); }

 private:
  std::deque<Param> params_;
  std::unordered_map<std::string, size_t> index_;
  Tensor values_, grads_;
  std::vector<Tensor> state_;
  std::vector<Tensor> replicas_;
  int64_t total_ = 0, trainable_total_ = 0;
  bool finalized_ = false;
};

}  // namespace aero
