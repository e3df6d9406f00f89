// Helpers for op tests: random tensors, comparisons, and the registry behind the check that
// every op in the table has a test.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/rng.h"

namespace aero::test {

std::set<std::string>& tested_ops();
inline bool register_op_test(const char* op) {
  tested_ops().insert(op);
  return true;
}

// Uniform in [lo, hi).
Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
Tensor random_ids(const Shape& s, int32_t vocab, uint64_t seed);
// The message of the aero::Error that fn throws ("" if none).
std::string error_of(const std::function<void()>& fn);
// fn must throw an aero::Error whose message starts with prefix and contains part.
void expect_error(const std::function<void()>& fn, const std::string& prefix,
                  const std::string& part);

// max |a - b| / max(max |b|, tiny): one number per tensor; NaN when either holds a NaN.
double max_rel_diff(const Tensor& a, const Tensor& b);

}  // namespace aero::test

// OP_TEST(op, case) registers a test of an op in the table (names must match op_table.h).
#define OP_TEST(op, name)                                                                   \
  static const bool op_test_registered_##op##_##name = ::aero::test::register_op_test(#op); \
  TEST(op_##op, name)

// Runs a gradient check and fails the test with its report.
#define EXPECT_GRAD_OK(...)                            \
  do {                                                 \
    auto gc_result_ = ::aero::grad_check(__VA_ARGS__); \
    EXPECT_TRUE(gc_result_.ok) << gc_result_.report;   \
  } while (0)
