// ParamStore: every parameter of a model in one buffer, every gradient in another (llm.c style),
// so zero_grad is one memset and a checkpoint is one write. Parameters are declared first
// (name, shape, init, flags), then finalize() allocates the buffers, initialises the values
// and gives each parameter a Tensor view. Names follow "blk.0.attn.q.weight".
//
// Frozen parameters (trainable = false at finalize(), e.g. a base model under LoRA) are laid out
// after the trainable ones, and the gradient, replica and optimizer buffers cover only the
// trainable prefix: a frozen 580M-parameter base carries no dead buffers of its size.
// finalize(..., frozen_bf16) stores the frozen matrices that their layers multiply in bf16
// (Param::bf16_ok) in a bf16 buffer of their own: half the memory, and no f32 copy at all (a
// frozen value never changes, so there is no master copy to keep).
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
  // The layers reading this tensor accept it in bf16 (Linear weights, Embedding tables), so a
  // frozen one may be stored so (finalize's frozen_bf16).
  bool bf16_ok = false;
  // > 0: a token table grown past a base's vocabulary; a checkpoint may hold only its first
  // rows (at least this many), the rest being added tokens' rows filled after loading.
  int64_t file_rows_min = 0;
  // In elements, into every buffer of the store (set by finalize); a bf16-stored parameter's
  // offset is into the bf16 value buffer.
  int64_t offset = 0;
  Tensor value, grad;  // views (set by finalize); grad undefined when frozen; value f32 or bf16

  bool is_bf16() const { return value.defined() && value.dtype() == DType::bf16; }

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
  // every parameter reads as a constant on a tape. With frozen_bf16, frozen parameters with
  // bf16_ok are stored in bf16 (initial values rounded to nearest even from the same draws as
  // in f32).
  void finalize(uint64_t seed = 0, bool gradients = true, bool frozen_bf16 = false);
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
  // Floats in the f32 value buffer, and in each gradient / replica / optimizer-state buffer (the
  // trainable parameters only), alignment padding included; values in the bf16 buffer.
  int64_t buffer_floats() const { return total_; }
  int64_t buffer_bf16() const { return bf16_total_; }
  const uint16_t* values_bf16_data() const { return values_bf16_.data<uint16_t>(); }
  int64_t grad_floats() const { return trainable_total_; }
  float* values_data() const { return values_.data<float>(); }
  float* grads_data() const { return grads_.data<float>(); }

  // Extra buffers laid out like the gradients (optimizer moments), zeroed on creation.
  // state(k) creates buffers up to k on first use.
  float* state(int k);
  int state_count() const { return int(state_.size()); }

  // Gives a bf16-stored parameter an f32 value of its own (the widened bf16 values), e.g. before
  // a LoRA merge adds to it in f32; a no-op for an f32 one.
  void widen_to_f32(Param& p);

 private:
  std::deque<Param> params_;
  std::unordered_map<std::string, size_t> index_;
  Tensor values_, values_bf16_, grads_;
  std::vector<Tensor> state_;
  std::vector<Tensor> replicas_;
  int64_t total_ = 0, trainable_total_ = 0, bf16_total_ = 0;
  bool finalized_ = false;
};

// Values [begin, begin + n) of p, widened to f32 when it is stored in bf16.
void read_values_f32(const Param& p, int64_t begin, int64_t n, float* out);
// Writes n f32 values at `begin` into p, rounded to nearest even when it is stored in bf16.
void write_values_f32(Param& p, int64_t begin, int64_t n, const float* in);

}  // namespace aero
