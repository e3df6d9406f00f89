#include <gtest/gtest.h>

#include <vector>

#include "core/arena.h"
#include "core/rng.h"
#include "core/tensor.h"

using namespace aero;

namespace {
Tensor iota(const Shape& s) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] = float(i);
  return t;
}
}  // namespace

TEST(tensor, shape_basics) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s.str(), "(2, 3, 4)");
  EXPECT_EQ(Shape{}.numel(), 1);  // a scalar
  EXPECT_THROW((Shape{1, 2, 3, 4, 5}), Error);
}

TEST(tensor, views_share_memory) {
  Tensor t = iota({2, 3, 4});
  Tensor r = t.reshape({6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.raw(), t.raw());
  EXPECT_THROW(t.reshape({5, -1}), Error);
  EXPECT_THROW(t.reshape({-1, -1}), Error);

  Tensor tr = t.transpose(1, 2);  // (2, 4, 3)
  EXPECT_FALSE(tr.contiguous());
  EXPECT_EQ(tr.at({1, 3, 2}), t.at({1, 2, 3}));
  EXPECT_THROW(tr.f32(), Error);  // kernels need contiguous data
  EXPECT_THROW(tr.reshape({24}), Error);
  Tensor c = tr.contiguous_copy();
  EXPECT_TRUE(c.contiguous());
  for (int64_t b = 0; b < 2; b++)
    for (int64_t i = 0; i < 4; i++)
      for (int64_t j = 0; j < 3; j++) EXPECT_EQ(c.at({b, i, j}), t.at({b, j, i}));

  Tensor sl = t.slice(1, 1, 2);  // (2, 2, 4), rows 1..2 of each batch
  EXPECT_EQ(sl.at({1, 0, 3}), t.at({1, 1, 3}));
  EXPECT_FALSE(sl.contiguous());
  Tensor sl0 = t.slice(0, 1, 1);
  EXPECT_TRUE(sl0.contiguous());
  EXPECT_EQ(sl0.f32()[0], 12.0f);
  EXPECT_THROW(t.slice(1, 2, 2), Error);
  EXPECT_THROW(t.at({0, 3, 0}), Error);
}

TEST(tensor, dtype_checks) {
  Tensor i = Tensor::zeros({3}, DType::i32);
  EXPECT_THROW(i.f32(), Error);
  EXPECT_NO_THROW(i.i32());
  EXPECT_EQ(Tensor::zeros({3}, DType::bf16).nbytes(), 6u);
  EXPECT_THROW(Tensor::zeros({2}).copy_from(Tensor::zeros({3})), Error);
}

TEST(arena, reset_reuses_the_same_memory) {
  Arena a(1024);
  void* first = a.alloc(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  std::vector<void*> step1;
  for (int i = 0; i < 10; i++) step1.push_back(a.alloc(1000 + 300 * i));  // spills into chunks
  size_t cap = a.capacity();
  a.reset();
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.capacity(), cap);
  // The same step again lands on the same (already touched) addresses and allocates nothing.
  EXPECT_EQ(a.alloc(100), first);
  for (int i = 0; i < 10; i++) EXPECT_EQ(a.alloc(1000 + 300 * i), step1[size_t(i)]);
  EXPECT_EQ(a.capacity(), cap);
  a.reset();
  a.alloc(3000);  // a smaller step fits in what is there
  EXPECT_EQ(a.capacity(), cap);
  Tensor z = a.zeros({5, 7});
  for (int64_t i = 0; i < z.numel(); i++) EXPECT_EQ(z.f32()[i], 0.0f);
}

TEST(rng, counter_based_uniform_is_a_pure_function) {
  EXPECT_EQ(hash_uniform(1, 5), hash_uniform(1, 5));
  EXPECT_NE(hash_uniform(1, 5), hash_uniform(2, 5));
  double mean = 0;
  for (int i = 0; i < 100000; i++) mean += hash_uniform(42, uint64_t(i));
  EXPECT_NEAR(mean / 100000, 0.5, 0.005);
  Rng a(3), b(3);
  for (int i = 0; i < 10; i++) EXPECT_EQ(a.next_u64(), b.next_u64());
}
