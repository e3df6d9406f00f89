#include "op_test.h"

#include "autograd/op_table.h"

namespace aero::test {

std::set<std::string>& tested_ops() {
  static std::set<std::string> s;
  return s;
}

Tensor random_tensor(const Shape& s, uint64_t seed, float lo, float hi) {
  Tensor t = Tensor::empty(s);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] = float(lo + (hi - lo) * rng.uniform());
  return t;
}

Tensor random_ids(const Shape& s, int32_t vocab, uint64_t seed) {
  Tensor t = Tensor::empty(s, DType::i32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); i++) t.i32()[i] = int32_t(rng.below(uint64_t(vocab)));
  return t;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::function<void()>& fn, const std::string& prefix,
                  const std::string& part) {
  std::string m = error_of(fn);
  EXPECT_EQ(m.rfind(prefix, 0), 0u)
      << "expected an error starting with " << prefix << ", got '" << m << "'";
  EXPECT_NE(m.find(part), std::string::npos) << m;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  Tensor ac = a.contiguous_copy(), bc = b.contiguous_copy();
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < ac.numel(); i++) {
    // Not std::max, which would drop a NaN: an element a kernel failed to write stays NaN.
    const double d = std::fabs(double(ac.f32()[i]) - bc.f32()[i]);
    if (!(d <= diff)) diff = d;
    scale = std::max(scale, std::fabs(double(bc.f32()[i])));
  }
  return diff / std::max(scale, 1e-30);
}

// Every op in the table (but leaf) has at least one OP_TEST.
TEST(op_table, every_op_has_a_test) {
  for (size_t i = 0; i < kOpCount; i++) {
    std::string name = op_name(static_cast<Op>(i));
    if (name == "leaf") continue;
    EXPECT_TRUE(tested_ops().count(name)) << "op '" << name << "' has no OP_TEST";
  }
}

}  // namespace aero::test
