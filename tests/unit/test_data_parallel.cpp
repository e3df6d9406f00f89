// Data-parallel passes (train/data_parallel.h): the parts of a batch, each on its own tape and
// gradient replica, must give the gradient of the whole batch, the same way every time.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "models/gpt.h"
#include "train/data_parallel.h"

using namespace aero;

namespace {

GptConfig tiny_model() {
  GptConfig c;
  c.vocab_size = 17;
  c.block_size = 12;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  c.ffn_hidden = 40;
  c.pos = PosKind::learned;
  c.bias = true;
  return c;
}

struct Batch {
  int64_t B = 5, T = 12;
  std::vector<int32_t> x, y;
  Batch() {
    for (int64_t i = 0; i < B * T; i++) {
      x.push_back(int32_t((i * 7 + 3) % 17));
      y.push_back(int32_t((i * 5 + 1) % 17));
    }
  }
};

// Loss and gradients of the whole batch with `parts` parts (1: one tape, threaded kernels).
std::vector<float> gradients(int parts, double* loss) {
  ParamStore store;
  Gpt model(tiny_model(), store);
  store.finalize(5);
  DataParallel dp(store, parts);
  Batch b;
  std::vector<double> part_loss(static_cast<size_t>(parts), 0.0);
  dp.run([&](int k, Tape& tape) {
    const int64_t r0 = dp.begin(k, b.B), r1 = dp.begin(k + 1, b.B);
    Tensor ids = Tensor::wrap(b.x.data() + r0 * b.T, {r1 - r0, b.T}, DType::i32);
    Tensor tgt = Tensor::wrap(b.y.data() + r0 * b.T, {r1 - r0, b.T}, DType::i32);
    CrossEntropyOpts o;
    o.divisor = float(b.B * b.T);
    Var l = cross_entropy(model.forward(tape, ids), tgt, o);
    part_loss[size_t(k)] = l.value().f32()[0];
    tape.backward(l);
  });
  *loss = 0;
  for (double l : part_loss) *loss += l;
  return std::vector<float>(store.grads_data(), store.grads_data() + store.grad_floats());
}

}  // namespace

TEST(data_parallel, rows_are_cut_evenly) {
  ParamStore store;
  store.declare("w", {2}, Init::ones);
  store.finalize();
  DataParallel dp(store, 3);
  EXPECT_EQ(dp.begin(0, 7), 0);
  EXPECT_EQ(dp.begin(1, 7), 3);
  EXPECT_EQ(dp.begin(2, 7), 5);
  EXPECT_EQ(dp.begin(3, 7), 7);
  EXPECT_EQ(dp.begin(1, 2), 1);
  EXPECT_EQ(dp.begin(2, 2), 2);  // a part may be empty
}

TEST(data_parallel, parts_give_the_whole_batch_gradient) {
  double whole_loss = 0;
  const std::vector<float> whole = gradients(1, &whole_loss);
  for (int parts : {2, 3, 5}) {
    double loss = 0;
    const std::vector<float> g = gradients(parts, &loss);
    EXPECT_NEAR(loss, whole_loss, 1e-6 * whole_loss) << parts << " parts";
    double diff = 0, norm = 0;
    for (size_t i = 0; i < g.size(); i++) {
      diff = std::max(diff, double(std::fabs(g[i] - whole[i])));
      norm = std::max(norm, double(std::fabs(whole[i])));
    }
    EXPECT_GT(norm, 1e-3);
    EXPECT_LT(diff, 1e-5 * norm) << parts << " parts";
  }
}

TEST(data_parallel, same_parts_same_bits_whatever_the_timing_or_threads) {
  const int saved = num_threads();
  double l1 = 0, l2 = 0, l3 = 0;
  const std::vector<float> a = gradients(2, &l1), b = gradients(2, &l2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(l1, l2);
  set_num_threads(1);  // both parts on one thread, one after the other
  const std::vector<float> c = gradients(2, &l3);
  set_num_threads(saved);
  EXPECT_EQ(a, c);
  EXPECT_EQ(l1, l3);
}

TEST(data_parallel, an_error_in_a_part_reaches_the_caller) {
  ParamStore store;
  store.declare("w", {2}, Init::ones);
  store.finalize();
  DataParallel dp(store, 2);
  std::atomic<int> ran = 0;
  auto part = [&](int k, Tape&) {
    ran++;
    if (k == 1) fail("[test] part 1 fails");
  };
  EXPECT_THROW(dp.run(part), Error);
  EXPECT_EQ(ran, 2);
  EXPECT_THROW(DataParallel(store, 0), Error);
}
