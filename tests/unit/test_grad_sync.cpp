// Gradient buckets of data-parallel runs over processes (train/grad_sync.h): they cover the
// gradient buffer at parameter boundaries, and with arm() each bucket's sum starts during
// backward only once its gradients are final (the bits at start equal the bits after
// backward), in one fixed order. The group here is the one-rank ProcessGroup watched from a
// subclass: it records what GradSync asks of it, which is what every rank would be asked.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "autograd/ops.h"
#include "models/gpt.h"
#include "train/grad_sync.h"

using namespace aero;

namespace {

struct WatchedGroup : ProcessGroup {
  struct Bucket {
    float* data;
    int64_t n;
  };
  std::vector<Bucket> buckets;
  std::vector<int> started;                  // start order
  std::vector<std::vector<float>> at_start;  // each bucket's gradients when its sum started
  std::vector<bool> during_backward;
  const bool* in_backward = nullptr;

  int add_bucket(float* data, int64_t n, const std::vector<std::pair<int64_t, int64_t>>& seg,
                 bool scatter) override {
    ProcessGroup::add_bucket(data, n, seg, scatter);
    buckets.push_back({data, n});
    at_start.emplace_back();
    during_backward.push_back(false);
    return int(buckets.size() - 1);
  }
  void start_sum(int b) override {
    started.push_back(b);
    const Bucket& k = buckets[size_t(b)];
    at_start[size_t(b)].assign(k.data, k.data + k.n);
    during_backward[size_t(b)] = *in_backward;
  }
};

GptConfig tied_model() {
  GptConfig c;
  c.vocab_size = 19;
  c.block_size = 8;
  c.n_layer = 3;
  c.n_head = 2;
  c.n_embd = 16;
  c.ffn_hidden = 32;
  c.pos = PosKind::learned;
  c.bias = true;
  c.tie_head = true;  // wte is read first (embedding) and last (head): final only at the end
  return c;
}

}  // namespace

// Without and with activation checkpointing (the blocks' leaves then live on recompute tapes).
class GradSyncOverlap : public ::testing::TestWithParam<int> {};

TEST_P(GradSyncOverlap, buckets_start_during_backward_once_their_gradients_are_final) {
  ParamStore store;
  Gpt model(tied_model(), store);
  store.finalize(3);
  WatchedGroup group;
  bool in_backward = false;
  group.in_backward = &in_backward;
  GradSync sync(store, group, /*bucket_floats=*/600);

  // Buckets: contiguous, last parameters first, every boundary a parameter's start.
  ASSERT_GE(sync.buckets(), 4);
  std::set<int64_t> starts;
  for (const Param& p : store.params()) starts.insert(p.offset);
  int64_t end = store.grad_floats();
  for (const auto& b : group.buckets) {
    const int64_t begin = b.data - store.grads_data();
    EXPECT_EQ(begin + b.n, end);
    EXPECT_TRUE(starts.count(begin)) << "bucket at " << begin << " splits a parameter";
    end = begin;
  }
  EXPECT_EQ(end, 0);

  for (int step = 0; step < 2; step++) {
    group.started.clear();
    Tape tape;
    tape.checkpoint_every = GetParam();
    const int64_t B = 3, T = 8;
    std::vector<int32_t> x(B * T), y(B * T);
    for (int64_t i = 0; i < B * T; i++)
      x[size_t(i)] = int32_t((i * 5 + step) % 19), y[size_t(i)] = int32_t((i * 3 + 1) % 19);
    CrossEntropyOpts o;
    o.divisor = float(B * T);
    sync.count(tape);
    Var loss = cross_entropy(model.forward(tape, Tensor::wrap(x.data(), {B, T}, DType::i32)),
                             Tensor::wrap(y.data(), {B, T}, DType::i32), o);
    sync.arm(tape);
    in_backward = true;
    tape.backward(loss);
    in_backward = false;
    sync.finish();

    std::vector<int> order(size_t(sync.buckets()));
    for (int b = 0; b < sync.buckets(); b++) order[size_t(b)] = b;
    EXPECT_EQ(group.started, order) << "step " << step;
    // Every bucket but the one holding wte (the embedding's leaf is the tape's first) starts
    // while backward still runs: communication overlaps the rest of it.
    for (int b = 0; b + 1 < sync.buckets(); b++)
      EXPECT_TRUE(group.during_backward[size_t(b)]) << "bucket " << b << " step " << step;
    for (int b = 0; b < sync.buckets(); b++) {
      const auto& k = group.buckets[size_t(b)];
      EXPECT_EQ(group.at_start[size_t(b)], std::vector<float>(k.data, k.data + k.n))
          << "bucket " << b << " started before its gradients were final";
    }
    store.zero_grad();
  }
}

INSTANTIATE_TEST_SUITE_P(grad_sync, GradSyncOverlap, ::testing::Values(0, 1), [](const auto& info) {
  return info.param ? "checkpointed_blocks" : "all_activations_kept";
});

namespace {
// The one-rank group told it is rank `rank` of `size`: GradSync plans every rank's segments.
struct RankOf : ProcessGroup {
  int r, n;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> segs;
  std::vector<bool> scatter;
  RankOf(int rank, int size) : r(rank), n(size) {}
  int rank() const override { return r; }
  int size() const override { return n; }
  int add_bucket(float* data, int64_t count, const std::vector<std::pair<int64_t, int64_t>>& seg,
                 bool sc) override {
    segs.push_back(seg);
    scatter.push_back(sc);
    return ProcessGroup::add_bucket(data, count, seg, sc);
  }
};
}  // namespace

// The segments of a bucket cover it, end at parameter starts or norm blocks (so a rank sums whole
// blocks of the gradient norm), split buckets evenly where the blocks allow, and are the same plan
// on every rank; the optimizer's shard is the rank's own segments.
TEST(grad_sync, every_rank_owns_one_segment_of_each_bucket_at_block_boundaries) {
  GptConfig c = tied_model();
  c.n_embd = 64;  // 64 x 256 = 16384 floats: four norm blocks in each MLP matrix
  c.ffn_hidden = 256;
  ParamStore store;
  Gpt model(c, store);
  store.finalize(3);
  std::set<int64_t> cuts{store.grad_floats()};
  for (const Param& p : store.params())
    for (int64_t k = 0; k < p.numel(); k += kNormBlock) cuts.insert(p.offset + k);
  for (int n : {2, 3}) {
    std::vector<OptimShard> shards;
    std::vector<std::vector<std::vector<std::pair<int64_t, int64_t>>>> plans;
    for (int r = 0; r < n; r++) {
      RankOf g(r, n);
      GradSync sync(store, g, /*bucket_floats=*/40000, /*shard=*/true);
      EXPECT_TRUE(sync.sharded());
      EXPECT_EQ(g.scatter, std::vector<bool>(size_t(sync.buckets()), true));
      shards.push_back(sync.optim_shard());
      plans.push_back(g.segs);
    }
    std::vector<int64_t> owned(size_t(n), 0);
    for (int r = 0; r < n; r++) {
      EXPECT_EQ(plans[size_t(r)], plans[0]) << "rank " << r << " plans other segments";
      EXPECT_EQ(shards[size_t(r)].buckets, shards[0].buckets);
      for (size_t b = 0; b < plans[0].size(); b++) {
        const auto [first, end] = shards[size_t(r)].buckets[b];
        const auto seg = plans[0][b][size_t(r)];
        EXPECT_EQ(shards[size_t(r)].segments[b],
                  (std::pair<int64_t, int64_t>{first + seg.first, first + seg.second}));
        EXPECT_TRUE(cuts.count(first + seg.first) && cuts.count(first + seg.second))
            << "bucket " << b << " rank " << r << " cuts a norm block";
        owned[size_t(r)] += seg.second - seg.first;
      }
    }
    for (size_t b = 0; b < plans[0].size(); b++) {  // the segments tile the bucket
      auto segs = plans[0][b];
      std::sort(segs.begin(), segs.end());
      const auto [first, end] = shards[0].buckets[b];
      int64_t at = 0;
      for (const auto& [s, e] : segs) {
        EXPECT_EQ(s, at) << "bucket " << b;
        at = e;
      }
      EXPECT_EQ(at, end - first) << "bucket " << b;
    }
    const int64_t total = store.grad_floats();
    for (int r = 0; r < n; r++)  // within a few blocks of an even share
      EXPECT_NEAR(double(owned[size_t(r)]), double(total) / n, 3.0 * double(kNormBlock))
          << n << " ranks, rank " << r;
  }
}
