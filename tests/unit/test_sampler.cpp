#include <gtest/gtest.h>

#include <map>

#include "infer/sampler.h"
#include "op_test.h"

using namespace aero;

namespace {
// logits whose softmax is p (up to a constant): log p.
std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> z;
  for (double x : p) z.push_back(float(std::log(x)));
  return z;
}
}  // namespace

TEST(sampler, greedy_is_argmax) {
  Sampler s({.temperature = 0.0f});
  std::vector<float> z = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(s.sample(z), 1);  // ties go to the lower id
}

TEST(sampler, filters_never_emit_outside_their_set) {
  std::vector<float> z = logits_of({0.05, 0.4, 0.02, 0.3, 0.2, 0.03});  // order: 1 3 4 0 5 2
  struct Case {
    SamplerOpts opts;
    std::vector<int32_t> allowed;
  };
  std::vector<Case> cases = {
      {{.top_k = 2}, {1, 3}},
      {{.top_p = 0.65f}, {1, 3}},    // 0.4 + 0.3 = 0.7 >= 0.65
      {{.top_p = 0.9f}, {1, 3, 4}},  // 0.9 reached with the third
      {{.min_p = 0.6f}, {1, 3}},     // floor 0.24
      {{.min_p = 0.4f}, {1, 3, 4}},  // floor 0.16
      {{.top_k = 5, .top_p = 0.5f}, {1, 3}},
      {{.top_p = 0.01f}, {1}},  // always keeps the top token
  };
  for (auto& c : cases) {
    c.opts.seed = 7;
    Sampler s(c.opts);
    std::map<int32_t, int> counts;
    for (int i = 0; i < 3000; i++) counts[s.sample(z)]++;
    for (auto [tok, n] : counts)
      EXPECT_NE(std::find(c.allowed.begin(), c.allowed.end(), tok), c.allowed.end())
          << "token " << tok << " drawn " << n << " times, top_k " << c.opts.top_k << " top_p "
          << c.opts.top_p << " min_p " << c.opts.min_p;
    EXPECT_EQ(counts.size(), c.allowed.size());  // and everything allowed shows up
  }
}

TEST(sampler, frequencies_follow_the_distribution) {
  std::vector<float> z = logits_of({0.5, 0.3, 0.2});
  Sampler s({.temperature = 1.0f, .seed = 3});
  int n = 20000, c0 = 0;
  for (int i = 0; i < n; i++) c0 += s.sample(z) == 0;
  EXPECT_NEAR(double(c0) / n, 0.5, 0.015);
  // Temperature 0.5 squares the odds: 0.25 : 0.09 : 0.04.
  Sampler cold({.temperature = 0.5f});
  EXPECT_NEAR(cold.distribution(z)[0], 0.25 / 0.38, 1e-5);
}

TEST(sampler, same_seed_same_tokens) {
  std::vector<float> z = logits_of({0.2, 0.2, 0.2, 0.2, 0.2});
  Sampler a({.seed = 11}), b({.seed = 11}), c({.seed = 12});
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 50; i++) {
    ta.push_back(a.sample(z));
    tb.push_back(b.sample(z));
    tc.push_back(c.sample(z));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(sampler, repetition_penalty_discourages_context_tokens) {
  std::vector<float> z = {2.0f, 2.0f, -1.0f};
  Sampler s({.repetition_penalty = 2.0f});
  std::vector<int32_t> ctx = {0, 0, 2};
  auto q = s.distribution(z, ctx);
  // token 0: 2 / 2 = 1; token 2: -1 * 2 = -2; token 1 untouched. Applied once per token.
  double e0 = std::exp(1.0), e1 = std::exp(2.0), e2 = std::exp(-2.0);
  EXPECT_NEAR(q[0], e0 / (e0 + e1 + e2), 1e-6);
  EXPECT_NEAR(q[2], e2 / (e0 + e1 + e2), 1e-6);
}

TEST(sampler, bad_options_name_the_field) {
  test::expect_error([] { Sampler s({.top_p = 1.5f}); }, "[sampler]", "top_p must be in (0, 1]");
  test::expect_error([] { Sampler s({.temperature = -1.0f}); }, "[sampler]", "temperature");
  test::expect_error([] { Sampler s({.top_k = -3}); }, "[sampler]", "top_k");
  test::expect_error([] { Sampler s({.repetition_penalty = 0.0f}); }, "[sampler]",
                     "repetition_penalty");
}
