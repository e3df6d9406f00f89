// checkpoint: the block's gradients against finite differences, and the very same bits as the
// block run without checkpointing (dropout included); whole models in test_models.cpp.
#include <cstring>

#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

// x + dropout(gelu(x·Wᵀ)) · s, with s an optional third input: a block with randomness and a
// residual, so the input's gradient has two paths.
struct SmallBlock : Recompute {
  float p = 0.0f;
  Var run(Tape&, const Var* in, int n) const override {
    Var h = gelu(linear(in[0], in[1]));
    if (p > 0) h = dropout(h, p);
    if (n > 2) h = mul(h, in[2]);
    return add(in[0], h);
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.f32(), b.f32(), size_t(a.numel()) * sizeof(float)) == 0;
}

}  // namespace

OP_TEST(checkpoint, gradient) {
  SmallBlock blk;
  blk.p = 0.25f;
  std::vector<Tensor> in = {random_tensor({2, 3, 8}, 1), random_tensor({8, 8}, 2),
                            random_tensor({2, 3, 8}, 3)};
  EXPECT_GRAD_OK(
      [&](Tape&, const std::vector<Var>& v) {
        Var y = checkpoint(blk, {v[0], v[1], v[2]});
        return checkpoint(blk,
                          {y, v[1]});  // two in a row: the second's input is the first's output
      },
      in);
}

OP_TEST(checkpoint, same_bits_as_without) {
  SmallBlock blk;
  blk.p = 0.3f;
  const Tensor x = random_tensor({4, 5, 16}, 4), w = random_tensor({16, 16}, 5);
  const Tensor r = random_tensor({4, 5, 16}, 6);
  Tensor grads[2][2], outs[2];
  for (int ckpt = 0; ckpt < 2; ckpt++) {
    Tape tape(99);
    Var xv = tape.leaf(x, true), wv = tape.leaf(w, true);
    Var y = xv;
    for (int l = 0; l < 3; l++) {
      const Var in[2] = {y, wv};
      y = ckpt ? checkpoint(blk, {y, wv}) : blk.run(tape, in, 2);
    }
    Var loss = sum(mul(y, tape.constant(r)));
    outs[ckpt] = y.value().contiguous_copy();
    // A random op after the blocks draws the same seed only if the blocks advanced the tape's
    // random state as they would have without checkpointing.
    EXPECT_EQ(tape.next_seed(), [&] {
      Tape ref(99);
      for (int l = 0; l < 3; l++) (void)ref.next_seed();
      return ref.next_seed();
    }());
    tape.backward(loss);
    grads[ckpt][0] = xv.grad().contiguous_copy();
    grads[ckpt][1] = wv.grad().contiguous_copy();
  }
  EXPECT_TRUE(same_bits(outs[0], outs[1]));
  EXPECT_TRUE(same_bits(grads[0][0], grads[1][0]));
  EXPECT_TRUE(same_bits(grads[0][1], grads[1][1]));
}

OP_TEST(checkpoint, keeps_only_the_output) {
  SmallBlock blk;
  const Tensor x = random_tensor({8, 64, 64}, 7), w = random_tensor({64, 64}, 8);
  size_t used[2];
  for (int ckpt = 0; ckpt < 2; ckpt++) {
    Tape tape;
    Var xv = tape.leaf(x, true), wv = tape.leaf(w, true);
    Var y = xv;
    for (int l = 0; l < 6; l++) {
      const Var in[2] = {y, wv};
      y = ckpt ? checkpoint(blk, {y, wv}) : blk.run(tape, in, 2);
    }
    used[ckpt] = tape.activation_bytes();
  }
  // Six blocks of three (B, T, C) activations each (product, GELU, sum) against six outputs.
  EXPECT_EQ(used[1], 6 * x.nbytes());
  EXPECT_EQ(used[0], 18 * x.nbytes());
}

OP_TEST(checkpoint, plain_run_without_recording) {
  SmallBlock blk;
  Tape tape;
  NoGrad ng(tape);
  Var xv = tape.leaf(random_tensor({2, 4}, 1), true),
      wv = tape.leaf(random_tensor({4, 4}, 2), true);
  const size_t before = tape.size();
  Var y = checkpoint(blk, {xv, wv});
  EXPECT_GT(tape.size(), before + 1);  // the block's own ops, no checkpoint node
  EXPECT_NE(tape.node(y).op, Op::checkpoint);
}
