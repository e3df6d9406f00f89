// Optimizer: applies one of the kernels in kernels/optim.h to every trainable parameter of a
// ParamStore, with per-parameter weight decay (Param::decay). Moment buffers live in the
// store (one buffer per moment, laid out like the values). save()/load() keep the step count
// and the moments, so a resumed run continues exactly.
//
// Sharded (ZeRO-1, over the ranks of a ProcessGroup): each rank updates only its own segment of
// every gradient bucket, keeps moments for that segment alone, and the updated segments are
// gathered so that every rank holds all the weights. The updates are element by element and the
// gradient norm is summed in fixed blocks, so the weights are the same bits as unsharded.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "io/safetensors.h"
#include "nn/params.h"
#include "train/dist.h"

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

// The gradient norm adds squares in blocks of kNormBlock floats of each parameter (its last
// block shorter), then the block sums in order: the same bits whichever thread or rank sums a
// block, so ranks that own whole blocks reproduce one process's norm.
constexpr int64_t kNormBlock = 4096;

// A rank's share of the optimizer (see the top): the group's gradient buckets, [first, end)
// floats of the gradient buffer, and this rank's segment of each (train/grad_sync.h).
struct OptimShard {
  ProcessGroup* group = nullptr;  // null: not sharded
  std::vector<std::pair<int64_t, int64_t>> buckets, segments;
};

class Optimizer {
 public:
  Optimizer(ParamStore& store, const OptimConfig& cfg, OptimShard shard = {});

  // One update from the gradients in the store, with the current learning rate. Sharded: from
  // this rank's segments of the gradients, then the weights gathered from every rank.
  void step();
  void set_lr(float lr) { cfg_.lr = lr; }
  const OptimConfig& config() const { return cfg_; }
  int64_t steps() const { return step_; }
  // Number of moment buffers this kind keeps (0 for sgd, 1 for momentum / rmsprop, 2 for adam).
  int n_moments() const;

  // Global-norm clipping over the trainable gradients; returns the norm before clipping.
  // Sharded: the norm of the whole gradient, and only this rank's segments are scaled.
  double clip_grad_norm(float max_norm);
  bool sharded() const { return shard_.group != nullptr; }
  // Floats of moment state this optimizer keeps (every moment buffer together).
  int64_t moment_floats() const { return int64_t(n_moments()) * owned_; }

  // State for checkpoints: one tensor per trainable parameter and moment, named
  // "optim.<moment>.<param>" (torch's moment names: exp_avg, exp_avg_sq, momentum_buffer,
  // square_avg), viewing the store's buffers; kind and step go in the metadata ("optim.kind",
  // "optim.step"). A trainer can write them into the same file as the model. Sharded, they view
  // the moments gather_state() collected on rank 0 (elsewhere: none).
  std::vector<StTensorRef> state_tensors() const;
  // Sharded: every rank calls it; rank 0 then holds every rank's moments, laid out as unsharded,
  // until release_state(). Unsharded: nothing to do.
  void gather_state();
  void release_state() { gathered_.clear(); }
  std::map<std::string, std::string> state_metadata() const;
  // Restores from a file holding the above (sharded: this rank's segments of it); checks kind,
  // names and shapes, and leaves the state untouched when anything is wrong.
  void load_state(const SafetensorsFile& f);
  // The state alone in its own safetensors file.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  struct Block {
    int64_t first, n;  // floats of the gradient buffer
  };
  ParamStore& store_;
  OptimConfig cfg_;
  int64_t step_ = 0;
  OptimShard shard_;
  // The floats this optimizer updates ([0, grad_floats) unsharded) and where each range starts
  // in the moment buffers, which hold those ranges one after another.
  std::vector<std::pair<int64_t, int64_t>> ranges_;
  std::vector<int64_t> range_at_;
  int64_t owned_ = 0;
  std::vector<Tensor> own_moments_;  // sharded: the moments of the ranges
  std::vector<Tensor> gathered_;     // sharded, rank 0 after gather_state(): all the moments
  std::vector<Param*> params_;       // trainable, by offset
  std::vector<Block> blocks_;        // the norm's blocks, in summation order
  std::vector<int64_t> my_blocks_;   // the blocks in this optimizer's ranges

  float* moment(int k) const;
  // Updates floats [first, end) of the buffers; m, v: the moments at `first`.
  void update(int64_t first, int64_t end, float* m, float* v);
  std::string state_name(int k, const std::string& param) const;
};

}  // namespace aero
