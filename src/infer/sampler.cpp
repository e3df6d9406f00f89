#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace aero {

void SamplerOpts::validate() const {
  AERO_CHECK(temperature >= 0.0f && std::isfinite(temperature),
             "[sampler] temperature must be >= 0, got ", temperature);
  AERO_CHECK(top_k >= 0, "[sampler] top_k must be >= 0, got ", top_k);
  AERO_CHECK(top_p > 0.0f && top_p <= 1.0f, "[sampler] top_p must be in (0, 1], got ", top_p);
  AERO_CHECK(min_p >= 0.0f && min_p <= 1.0f, "[sampler] min_p must be in [0, 1], got ", min_p);
  AERO_CHECK(repetition_penalty > 0.0f && std::isfinite(repetition_penalty),
             "[sampler] repetition_penalty must be > 0, got ", repetition_penalty);
}

Sampler::Sampler(const SamplerOpts& opts) : opts_(opts), rng_(opts.seed) { opts_.validate(); }

std::vector<float> Sampler::distribution(std::span<const float> logits,
                                         std::span<const int32_t> context) const {
  const size_t V = logits.size();
  AERO_CHECK(V > 0, "[sampler] empty logits");
  std::vector<float> z(logits.begin(), logits.end());
  // 1. Repetition penalty, once per distinct token of the context.
  if (opts_.repetition_penalty != 1.0f) {
    std::vector<bool> seen(V, false);
    for (int32_t t : context) {
      if (t < 0 || size_t(t) >= V || seen[size_t(t)]) continue;
      seen[size_t(t)] = true;
      float& l = z[size_t(t)];
      l = l > 0.0f ? l / opts_.repetition_penalty : l * opts_.repetition_penalty;
    }
  }
  std::vector<float> p(V, 0.0f);
  // 2. Greedy: all the mass on the arg-max.
  if (opts_.temperature == 0.0f) {
    p[size_t(std::max_element(z.begin(), z.end()) - z.begin())] = 1.0f;
    return p;
  }
  float zmax = *std::max_element(z.begin(), z.end());
  double total = 0;
  for (size_t i = 0; i < V; i++) total += p[i] = std::exp((z[i] - zmax) / opts_.temperature);
  for (float& x : p) x = float(x / total);
  if (opts_.top_k == 0 && opts_.top_p >= 1.0f && opts_.min_p == 0.0f) return p;  // no filter
  // 3-5. Filters over tokens sorted by probability (ties: lower id first).
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return p[size_t(a)] > p[size_t(b)]; });
  size_t keep = V;
  if (opts_.top_k > 0) keep = std::min(keep, size_t(opts_.top_k));
  if (opts_.top_p < 1.0f) {
    double cum = 0;
    for (size_t r = 0; r < keep; r++) {
      cum += p[size_t(order[r])];
      if (cum >= opts_.top_p) {
        keep = r + 1;
        break;
      }
    }
  }
  if (opts_.min_p > 0.0f) {
    float floor = opts_.min_p * p[size_t(order[0])];
    size_t r = 1;
    while (r < keep && p[size_t(order[r])] >= floor) r++;
    keep = r;
  }
  double kept = 0;
  for (size_t r = 0; r < keep; r++) kept += p[size_t(order[r])];
  std::vector<float> q(V, 0.0f);
  for (size_t r = 0; r < keep; r++) q[size_t(order[r])] = float(p[size_t(order[r])] / kept);
  return q;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> context) {
  std::vector<float> q = distribution(logits, context);
  if (opts_.temperature == 0.0f) return int32_t(std::max_element(q.begin(), q.end()) - q.begin());
  // 6. Inverse CDF; the last kept token absorbs rounding so the draw is always in the set.
  double u = rng_.uniform(), cum = 0;
  int32_t last = 0;
  for (size_t i = 0; i < q.size(); i++) {
    if (q[i] <= 0.0f) continue;
    last = int32_t(i);
    cum += q[i];
    if (u < cum) return last;
  }
  return last;
}

}  // namespace aero
