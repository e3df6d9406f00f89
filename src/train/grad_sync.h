// Gradient buckets of a data-parallel run over processes (train/dist.h): the trainable
// parameters' gradient buffer cut at parameter boundaries into buckets of about
// AERO_DIST_BUCKET_MB (default 25 MB, as PyTorch DDP), last parameters first, since backward
// finishes them first. With count() and arm(), a bucket's sum over the ranks starts as soon as
// backward has passed every leaf of its parameters (their gradients are then final), so
// communication overlaps the rest of backward; buckets start in one fixed order on every rank.
//
// Each bucket is cut into one segment per rank, at parameter or gradient-norm block boundaries
// (kNormBlock, train/optimizer.h), the pieces handed to the ranks in an order that turns with the
// bucket so that buckets too small to split still spread over the ranks. Sharded (ZeRO-1), a
// rank keeps only its segments' sums (a reduce-scatter) and the optimizer updates them alone.
#pragma once
#include <cstdint>
#include <vector>

#include "autograd/tape.h"
#include "nn/params.h"
#include "train/dist.h"
#include "train/optimizer.h"

namespace aero {

class GradSync {
 public:
  GradSync(ParamStore& store, ProcessGroup& group, int64_t bucket_floats, bool shard = false);

  // Before `tape`'s forward: counts each bucket's parameter leaves as forward records them, on
  // the tape and on the recompute tapes of checkpointed blocks. Only for the tape that writes
  // the store's own gradients, and only on the step's last forward and backward.
  void count(Tape& tape);
  // Between that forward and its backward: hooks backward so that buckets start as they become
  // final (every leaf of their parameters passed, checkpointed blocks' included).
  void arm(Tape& tape);
  // After backward: starts the buckets not started yet, in order, and waits for every sum.
  void finish();

  int buckets() const { return int(range_.size()); }
  bool sharded() const { return shard_; }
  // This rank's share of the optimizer: the buckets and its segment of each.
  OptimShard optim_shard() const;
  // Seconds finish() waited for sums, and steps, since the last take_wait().
  double wait_s() const { return wait_s_; }
  int64_t steps() const { return steps_; }
  void take_wait() { wait_s_ = 0, steps_ = 0; }

 private:
  int bucket_of(const float* grad) const;  // -1 when not in the store's gradients
  void on_leaf(const Node& n);

  ProcessGroup& group_;
  float* grads_;
  int64_t floats_;
  bool shard_;
  std::vector<std::pair<int64_t, int64_t>> range_;  // [begin, end) floats of bucket b
  std::vector<std::pair<int64_t, int64_t>> mine_;   // this rank's segment of bucket b
  std::vector<int> leaves_left_;                    // this step's unpassed leaves per bucket
  int next_ = 0;                                    // buckets [0, next_) started
  Tape* armed_ = nullptr;
  double wait_s_ = 0;
  int64_t steps_ = 0;
};

// AERO_DIST_BUCKET_MB (default 25) in floats; an error names the variable when it is not a
// positive number.
int64_t bucket_floats_from_env();

}  // namespace aero
