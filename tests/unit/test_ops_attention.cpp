#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/rope.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

struct AttnCase {
  int64_t B, Tq, Tk, NH, HS;
};

bool all_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); i++)
    if (!std::isfinite(t.f32()[i])) return false;
  return true;
}

// 1 = attend, 0 = pad; batch 0 of a mask with `pad_all_first` is fully padded.
Tensor random_key_mask(int64_t B, int64_t Tk, uint64_t seed, bool pad_all_first = false) {
  Tensor m = random_ids({B, Tk}, 4, seed);
  for (int64_t i = 0; i < m.numel(); i++) m.i32()[i] = m.i32()[i] != 0;  // 3/4 attend
  if (pad_all_first)
    for (int64_t j = 0; j < Tk; j++) m.i32()[j] = 0;
  return m;
}

// max |(a - a0) - (b - b0)| / max(max |b - b0|, 0.01): increments from a0 = b0 compared, with a
// floor for gradients that are exactly zero in the reference (a single key, say).
double increment_diff(const Tensor& a, const Tensor& b, const Tensor& a0) {
  double diff = 0, scale = 0.01;
  for (int64_t i = 0; i < a.numel(); i++) {
    double da = double(a.f32()[i]) - a0.f32()[i], db = double(b.f32()[i]) - a0.f32()[i];
    const double d = std::fabs(da - db);
    if (!(d <= diff)) diff = d;  // not std::max, which drops a NaN
    scale = std::max(scale, std::fabs(db));
  }
  return diff / scale;
}

std::string describe(const AttnCase& c, const AttentionArgs& a) {
  return cat("B ", c.B, " Tq ", c.Tq, " Tk ", c.Tk, " NH ", c.NH, " HS ", c.HS, " causal ",
             a.causal, " mask ", a.key_mask != nullptr, " bias ", a.bias != nullptr, " scale ",
             a.scale, " dropout ", a.dropout, " saved weights ", a.weights != nullptr);
}

// save_weights: forward keeps the weights in a buffer (AttentionArgs::weights), which backward
// then reads instead of recomputing them.
void check_against_reference(const AttnCase& c, AttentionArgs a, uint64_t seed, bool save_weights) {
  const int64_t C = c.NH * c.HS;
  a.B = c.B, a.Tq = c.Tq, a.Tk = c.Tk, a.NH = c.NH, a.HS = c.HS;
  Tensor weights = Tensor::full({c.B, c.NH, c.Tq, attention_weights_ld(c.Tk)}, std::nanf(""));
  a.weights = save_weights ? weights.f32() : nullptr;
  Tensor q = random_tensor({c.B, c.Tq, C}, seed, -2, 2),
         k = random_tensor({c.B, c.Tk, C}, seed + 1, -2, 2);
  Tensor v = random_tensor({c.B, c.Tk, C}, seed + 2);
  Tensor out = Tensor::empty(q.shape()), out_ref = Tensor::empty(q.shape());
  Tensor lse = Tensor::empty({c.B, c.NH, c.Tq});
  attention_forward(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), a);
  attention_forward_ref(out_ref.f32(), q.f32(), k.f32(), v.f32(), a);
  EXPECT_TRUE(all_finite(out)) << describe(c, a);
  EXPECT_LT(max_rel_diff(out, out_ref), 2e-5) << describe(c, a);

  // Gradients start non-zero (both kernels must accumulate) and are compared as increments,
  // so that the starting values do not hide a small error.
  const Shape shapes[4] = {q.shape(), k.shape(), k.shape(), {c.NH, c.Tq, c.Tk}};
  const char* names[4] = {"dq", "dk", "dv", "dbias"};
  Tensor init[4], fast[4], ref[4];
  for (int g = 0; g < 4; g++) {
    init[g] = random_tensor(shapes[g], seed + 4 + g);
    fast[g] = init[g].contiguous_copy();
    ref[g] = init[g].contiguous_copy();
  }
  Tensor dout = random_tensor(q.shape(), seed + 3);
  attention_backward(fast[0].f32(), fast[1].f32(), fast[2].f32(), a.bias ? fast[3].f32() : nullptr,
                     dout.f32(), out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), a);
  attention_backward_ref(ref[0].f32(), ref[1].f32(), ref[2].f32(), a.bias ? ref[3].f32() : nullptr,
                         dout.f32(), q.f32(), k.f32(), v.f32(), a);
  for (int g = 0; g < (a.bias ? 4 : 3); g++) {
    EXPECT_TRUE(all_finite(fast[g])) << names[g] << " " << describe(c, a);
    EXPECT_LT(increment_diff(fast[g], ref[g], init[g]), 2e-5) << names[g] << " " << describe(c, a);
  }

  // overwrite: dq, dk and dv start as NaN and must come out as the increments alone.
  for (int g = 0; g < 3; g++) fast[g] = Tensor::full(shapes[g], std::nanf(""));
  attention_backward(fast[0].f32(), fast[1].f32(), fast[2].f32(), nullptr, dout.f32(), out.f32(),
                     lse.f32(), q.f32(), k.f32(), v.f32(), a, /*overwrite=*/true);
  for (int g = 0; g < 3; g++) {
    for (int64_t i = 0; i < fast[g].numel(); i++) fast[g].f32()[i] += init[g].f32()[i];
    EXPECT_LT(increment_diff(fast[g], ref[g], init[g]), 2e-5)
        << names[g] << " overwrite " << describe(c, a);
  }
}

Var attn_of(const std::vector<Var>& v, const AttentionOpts& o) {
  return attention(v[0], v[1], v[2], o, v.size() > 3 ? v[3] : Var{});
}

}  // namespace

TEST(kernels, attention_matches_reference) {
  const std::vector<AttnCase> shapes = {
      {1, 1, 1, 1, 1},     {2, 3, 3, 2, 5},    {3, 17, 17, 1, 16}, {1, 64, 64, 4, 64},
      {2, 17, 17, 3, 7},   {1, 3, 17, 2, 8},   {2, 17, 3, 2, 4},   {1, 1, 17, 4, 64},
      {3, 64, 64, 1, 3},   {1, 33, 64, 2, 32}, {1, 70, 5, 2, 8},   {1, 256, 256, 2, 32},
      {2, 130, 200, 1, 16}};
  uint64_t seed = 1;
  for (const AttnCase& c : shapes)
    for (int flags = 0; flags < 8; flags++) {
      const bool causal = flags & 1, masked = flags & 2, biased = flags & 4;
      Tensor km = random_key_mask(c.B, c.Tk, seed + 100, /*pad_all_first=*/flags == 2);
      Tensor bias = random_tensor({c.NH, c.Tq, c.Tk}, seed + 101, -3, 3);
      AttentionArgs a;
      a.causal = causal;
      a.key_mask = masked ? km.i32() : nullptr;
      a.bias = biased ? bias.f32() : nullptr;
      a.scale = flags % 3 == 0 ? 1.0f : 1.0f / std::sqrt(float(c.HS));
      a.dropout = flags == 5 || flags == 6 ? 0.3f : 0.0f;
      a.seed = seed * 7919;
      check_against_reference(c, a, seed, /*save_weights=*/false);
      check_against_reference(c, a, seed, /*save_weights=*/true);
      seed += 10;
    }
}

// attention_row_forward (the decoding kernel: one query over a cache) against the reference
// with Tq = 1, with and without a per-head bias (T5's relative positions), on 1 and 2 threads
// (a long cache splits the heads over the threads).
TEST(kernels, attention_row_matches_reference) {
  const std::vector<AttnCase> shapes = {
      {1, 1, 1, 1, 1}, {1, 1, 7, 4, 8}, {1, 1, 33, 3, 5}, {1, 1, 64, 12, 64}, {1, 1, 300, 12, 64}};
  uint64_t seed = 7;
  const int prev = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (const AttnCase& c : shapes)
      for (bool biased : {false, true}) {
        const int64_t C = c.NH * c.HS;
        Tensor q = random_tensor({1, 1, C}, seed, -2, 2), k = random_tensor({1, c.Tk, C}, seed + 1);
        Tensor v = random_tensor({1, c.Tk, C}, seed + 2);
        Tensor bias = random_tensor({c.NH, 1, c.Tk}, seed + 3, -3, 3);
        AttentionArgs a;
        a.Tk = c.Tk, a.NH = c.NH, a.HS = c.HS, a.scale = biased ? 1.0f : 0.125f;
        a.bias = biased ? bias.f32() : nullptr;
        Tensor out = Tensor::full({1, 1, C}, std::nanf("")), ref = Tensor::empty({1, 1, C});
        attention_row_forward(out.f32(), q.f32(), k.f32(), v.f32(), int(c.Tk), int(c.NH), int(c.HS),
                              a.scale, a.bias);
        attention_forward_ref(ref.f32(), q.f32(), k.f32(), v.f32(), a);
        EXPECT_TRUE(all_finite(out)) << describe(c, a) << " threads " << threads;
        EXPECT_LT(max_rel_diff(out, ref), 2e-5) << describe(c, a) << " threads " << threads;
        seed += 10;
      }
  }
  omp_set_num_threads(prev);
}

TEST(kernels, attention_does_not_depend_on_thread_count) {
  AttentionArgs a;
  a.B = 2, a.Tq = 40, a.Tk = 40, a.NH = 3, a.HS = 16, a.causal = true, a.scale = 0.25f;
  a.dropout = 0.4f, a.seed = 99;
  const int64_t C = a.NH * a.HS;
  Tensor q = random_tensor({a.B, a.Tq, C}, 1), k = random_tensor({a.B, a.Tk, C}, 2);
  Tensor v = random_tensor({a.B, a.Tk, C}, 3);
  Tensor o1 = Tensor::empty(q.shape()), o2 = Tensor::empty(q.shape());
  int prev = omp_get_max_threads();
  omp_set_num_threads(1);
  attention_forward(o1.f32(), nullptr, q.f32(), k.f32(), v.f32(), a);
  omp_set_num_threads(2);
  attention_forward(o2.f32(), nullptr, q.f32(), k.f32(), v.f32(), a);
  omp_set_num_threads(prev);
  EXPECT_LT(max_rel_diff(o1, o2), 1e-6);  // a different dropout mask would differ by O(1)
}

OP_TEST(attention, gradient) {
  const int64_t B = 2, T = 4, NH = 2, HS = 3, C = NH * HS;
  std::vector<Tensor> in = {random_tensor({B, T, C}, 1), random_tensor({B, T, C}, 2),
                            random_tensor({B, T, C}, 3), random_tensor({NH, T, T}, 4)};
  Tensor km = random_key_mask(B, T, 5);
  km.i32()[T] = 1;  // batch 1 keeps at least one key
  for (int flags = 0; flags < 4; flags++) {
    AttentionOpts o;
    o.n_head = int(NH);
    o.causal = flags & 1;
    if (flags & 2) o.key_mask = km;
    EXPECT_GRAD_OK([o](Tape&, const std::vector<Var>& v) { return attn_of(v, o); },
                   {in[0], in[1], in[2]});
    EXPECT_GRAD_OK([o](Tape&, const std::vector<Var>& v) { return attn_of(v, o); }, in);
  }
}

// Head size 8 with up to 16 keys: the op keeps the weights for backward (Tk <= 2·HS after
// padding to 16), with and without dropout, causal, masked.
OP_TEST(attention, gradient_with_saved_weights) {
  const int64_t B = 2, T = 6, NH = 2, HS = 8, C = NH * HS;
  std::vector<Tensor> in = {random_tensor({B, T, C}, 1), random_tensor({B, T, C}, 2),
                            random_tensor({B, T, C}, 3)};
  Tensor km = random_key_mask(B, T, 5);
  km.i32()[T] = 1;  // batch 1 keeps at least one key
  for (int flags = 0; flags < 4; flags++) {
    AttentionOpts o;
    o.n_head = int(NH);
    o.causal = true;
    o.dropout = flags & 1 ? 0.3f : 0.0f;
    if (flags & 2) o.key_mask = km;
    EXPECT_GRAD_OK([o](Tape&, const std::vector<Var>& v) { return attn_of(v, o); }, in);
  }
}

OP_TEST(attention, gradient_with_dropout_and_cross_attention) {
  const int64_t B = 2, Tq = 3, Tk = 5, NH = 2, HS = 4, C = NH * HS;
  AttentionOpts o;
  o.n_head = int(NH);
  o.dropout = 0.3f;
  o.scale = 0.7f;
  std::vector<Tensor> in = {random_tensor({B, Tq, C}, 1), random_tensor({B, Tk, C}, 2),
                            random_tensor({B, Tk, C}, 3), random_tensor({NH, Tq, Tk}, 4)};
  EXPECT_GRAD_OK([o](Tape&, const std::vector<Var>& v) { return attn_of(v, o); }, in);
  o.causal = true;  // aligned to the end: query i sees keys j <= i + 2
  EXPECT_GRAD_OK([o](Tape&, const std::vector<Var>& v) { return attn_of(v, o); }, in);
}

OP_TEST(attention, fully_masked_rows_give_zeros) {
  const int64_t B = 2, T = 5, NH = 2, C = 8;
  Tape tape;
  Var q = tape.leaf(random_tensor({B, T, C}, 1), true),
      k = tape.leaf(random_tensor({B, T, C}, 2), true);
  Var v = tape.leaf(random_tensor({B, T, C}, 3), true);
  AttentionOpts o;
  o.n_head = int(NH);
  o.key_mask = Tensor::zeros({B, T}, DType::i32);
  for (int64_t j = 0; j < T; j++) o.key_mask.i32()[T + j] = 1;  // batch 0 all padding
  Var y = attention(q, k, v, o);
  tape.backward_from(y, random_tensor({B, T, C}, 4));
  for (int64_t i = 0; i < T * C; i++) {
    EXPECT_EQ(y.value().f32()[i], 0.0f);
    EXPECT_EQ(q.grad().f32()[i], 0.0f);
    EXPECT_EQ(v.grad().f32()[i], 0.0f);
  }
  EXPECT_TRUE(all_finite(y.value()) && all_finite(q.grad()) && all_finite(k.grad()));
  EXPECT_NE(y.value().f32()[T * C], 0.0f);  // batch 1 attends
}

OP_TEST(attention, dropout_statistics_and_eval_identity) {
  // q = 0 gives uniform weights 1/Tk and v = 1 sums them, so each output is
  // (kept keys / Tk) / (1 - p): its mean over many rows must be 1.
  const int64_t Tq = 64, Tk = 1024;
  const float p = 0.25f;
  Tape tape(7);
  Var q = tape.constant(Tensor::zeros({1, Tq, 1})), k = tape.constant(random_tensor({1, Tk, 1}, 1));
  Var v = tape.constant(Tensor::full({1, Tk, 1}, 1.0f));
  AttentionOpts o;
  o.dropout = p;
  Var y = attention(q, k, v, o);
  double mean = 0;
  int distinct = 0;
  for (int64_t i = 0; i < Tq; i++) {
    float yi = y.value().f32()[i];
    double kept = double(yi) * (1 - p) * Tk;
    EXPECT_NEAR(kept, std::round(kept), 1e-2) << "row " << i << " is not a whole number of keys";
    mean += yi / double(Tq);
    distinct += std::fabs(yi - y.value().f32()[0]) > 1e-6f;
  }
  EXPECT_NEAR(mean, 1.0, 0.01);
  EXPECT_GT(distinct, Tq / 2);     // rows draw different masks
  Var y2 = attention(q, k, v, o);  // a fresh seed per call
  EXPECT_GT(max_rel_diff(y2.value(), y.value()), 1e-3);

  tape.training = false;  // evaluation: no dropout at all
  Tensor qv = random_tensor({2, 9, 8}, 2), kv = random_tensor({2, 9, 8}, 3),
         vv = random_tensor({2, 9, 8}, 4);
  AttentionOpts e;
  e.n_head = 2;
  e.causal = true;
  Var plain = attention(tape.constant(qv), tape.constant(kv), tape.constant(vv), e);
  e.dropout = 0.5f;
  Var dropped = attention(tape.constant(qv), tape.constant(kv), tape.constant(vv), e);
  EXPECT_EQ(max_rel_diff(dropped.value(), plain.value()), 0.0);
}

OP_TEST(attention, causal_mask_aligns_queries_to_the_last_keys) {
  // With a KV cache, the last query rows attend over all cached keys: the same rows as in the
  // full causal attention.
  const int64_t T = 17, C = 12, n = 3;
  Tape tape;
  Tensor qv = random_tensor({2, T, C}, 1), kv = random_tensor({2, T, C}, 2),
         vv = random_tensor({2, T, C}, 3);
  AttentionOpts o;
  o.n_head = 3;
  o.causal = true;
  Var full = attention(tape.constant(qv), tape.constant(kv), tape.constant(vv), o);
  Tensor q_tail = qv.slice(1, T - n, n).contiguous_copy();
  Var tail = attention(tape.constant(q_tail), tape.constant(kv), tape.constant(vv), o);
  EXPECT_LT(max_rel_diff(tail.value(), full.value().slice(1, T - n, n)), 1e-6);
}

OP_TEST(attention, errors_name_the_op_and_shapes) {
  Tape tape;
  auto leaf = [&](const Shape& s) { return tape.leaf(Tensor::zeros(s), true); };
  AttentionOpts o;
  o.n_head = 2;
  EXPECT_NE(error_of([&] {
              attention(leaf({2, 3, 8}), leaf({2, 4, 6}), leaf({2, 4, 6}), o);
            }).find("[attention] q (2, 3, 8) k (2, 4, 6) v (2, 4, 6) do not match"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              attention(leaf({2, 3, 8}), leaf({2, 4, 8}), leaf({2, 5, 8}), o);
            }).find("[attention] q (2, 3, 8) k (2, 4, 8) v (2, 5, 8)"),
            std::string::npos);
  o.n_head = 3;
  EXPECT_NE(error_of([&] {
              attention(leaf({2, 3, 8}), leaf({2, 4, 8}), leaf({2, 4, 8}), o);
            }).find("[attention] 8 channels do not split into n_head 3 heads"),
            std::string::npos);
  o.n_head = 2;
  o.key_mask = Tensor::zeros({2, 4});  // f32, not i32
  EXPECT_NE(error_of([&] {
              attention(leaf({2, 3, 8}), leaf({2, 4, 8}), leaf({2, 4, 8}), o);
            }).find("[attention] key_mask must be (B, Tk) = (2, 4) i32, got f32 (2, 4)"),
            std::string::npos);
  o.key_mask = Tensor();
  EXPECT_NE(error_of([&] {
              attention(leaf({2, 3, 8}), leaf({2, 4, 8}), leaf({2, 4, 8}), o, leaf({2, 4, 3}));
            }).find("[attention] bias must be (NH, Tq, Tk) = (2, 3, 4) f32, got f32 (2, 4, 3)"),
            std::string::npos);
  Var qi = tape.constant(Tensor::zeros({2, 3, 8}, DType::i32));
  EXPECT_NE(error_of([&] {
              attention(qi, leaf({2, 4, 8}), leaf({2, 4, 8}), o);
            }).find("[attention] q, k, v must be contiguous f32, got i32 (2, 3, 8)"),
            std::string::npos);
  o.dropout = 1.0f;
  EXPECT_NE(error_of([&] {
              attention(leaf({2, 3, 8}), leaf({2, 4, 8}), leaf({2, 4, 8}), o);
            }).find("[attention] dropout must be in [0, 1)"),
            std::string::npos);
}

TEST(kernels, rope_matches_reference) {
  struct RopeCase {
    int64_t B, T, NH, HS, pos;
    float theta;
  };
  for (const RopeCase& c : {RopeCase{1, 1, 1, 2, 0, 10000.0f},
                            {2, 3, 2, 4, 5, 10000.0f},
                            {3, 17, 4, 64, 0, 500000.0f},
                            // The same HS and theta from short to far and back: the kept table
                            // of angles grows, then serves positions it already holds.
                            {1, 5, 3, 10, 2, 10000.0f},
                            {1, 64, 3, 10, 1000, 10000.0f},
                            {2, 3, 3, 10, 7, 10000.0f}}) {
    const int64_t C = c.NH * c.HS;
    Tensor x = random_tensor({c.B, c.T, C}, 1), y = Tensor::empty(x.shape()),
           y_ref = Tensor::empty(x.shape());
    rope_forward(y.f32(), x.f32(), c.B, c.T, c.NH, c.HS, c.theta, c.pos);
    rope_forward_ref(y_ref.f32(), x.f32(), c.B, c.T, c.NH, c.HS, c.theta, c.pos);
    EXPECT_LT(max_rel_diff(y, y_ref), 1e-6) << c.T << " " << c.HS;
    Tensor dx = random_tensor(x.shape(), 2), dx_ref = dx.contiguous_copy();
    rope_backward(dx.f32(), y.f32(), c.B, c.T, c.NH, c.HS, c.theta, c.pos);
    rope_backward_ref(dx_ref.f32(), y.f32(), c.B, c.T, c.NH, c.HS, c.theta, c.pos);
    EXPECT_LT(max_rel_diff(dx, dx_ref), 1e-6);
    // Backward is the inverse rotation: starting from zero it gives x back.
    Tensor back = Tensor::zeros(x.shape());
    rope_backward(back.f32(), y.f32(), c.B, c.T, c.NH, c.HS, c.theta, c.pos);
    EXPECT_LT(max_rel_diff(back, x), 1e-6);
  }
}

OP_TEST(rope, gradient) {
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return rope(v[0], 2, 10000.0f, 3); },
                 {random_tensor({2, 5, 12}, 1)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return rope(v[0], 1, 100.0f); },
                 {random_tensor({1, 3, 2}, 2)});
}

OP_TEST(rope, hand_computed_value) {
  // HS 4, theta 100: inv_freq (1, 0.1); position 1 rotates (x0, x2) by 1 rad and (x1, x3) by
  // 0.1 rad: y0 = 1 cos 1 - 3 sin 1, y1 = 2 cos .1 - 4 sin .1, y2 = 3 cos 1 + 1 sin 1, y3 = ...
  Tape tape;
  Tensor x = Tensor::empty({1, 1, 4});
  for (int i = 0; i < 4; i++) x.f32()[i] = float(i + 1);
  Var y = rope(tape.constant(x), 1, 100.0f, 1);
  const float expect[4] = {-1.9841108f, 1.5906747f, 2.4623778f, 4.1796834f};
  for (int i = 0; i < 4; i++) EXPECT_NEAR(y.value().f32()[i], expect[i], 2e-6) << i;
}

OP_TEST(rope, offset_matches_the_same_rows_of_a_longer_sequence) {
  Tape tape;
  Tensor x = random_tensor({2, 9, 16}, 1);
  Var full = rope(tape.constant(x), 2);
  Tensor tail = x.slice(1, 6, 3).contiguous_copy();
  Var part = rope(tape.constant(tail), 2, 10000.0f, 6);
  EXPECT_LT(max_rel_diff(part.value(), full.value().slice(1, 6, 3)), 1e-7);
}

OP_TEST(rope, errors_name_the_op_and_shapes) {
  Tape tape;
  Var x = tape.leaf(Tensor::zeros({2, 3, 6}), true);
  EXPECT_NE(
      error_of([&] { rope(x, 2); }).find("[rope] head size 3 must be even (x (2, 3, 6), n_head 2)"),
      std::string::npos);
  EXPECT_NE(error_of([&] { rope(x, 4); }).find("[rope] 6 channels do not split into n_head 4"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { rope(tape.leaf(Tensor::zeros({6}), true), 1); }).find("[rope] x must be"),
      std::string::npos);
}
