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

TEST(grad_sync, buckets_start_during_backward_once_their_gradients_are_final) {
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
    const int64_t B = 3, T = 8;
    std::vector<int32_t> x(B * T), y(B * T);
    for (int64_t i = 0; i < B * T; i++)
      x[size_t(i)] = int32_t((i * 5 + step) % 19), y[size_t(i)] = int32_t((i * 3 + 1) % 19);
    CrossEntropyOpts o;
    o.divisor = float(B * T);
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
