#include "train/grad_sync.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iterator>

#include "core/error.h"

namespace aero {

int64_t bucket_floats_from_env() {
  double mb = 25;
  if (const char* v = std::getenv("AERO_DIST_BUCKET_MB")) {
    char* end = nullptr;
    mb = std::strtod(v, &end);
    AERO_CHECK(end != v && *end == '\0' && mb > 0,
               "[dist] AERO_DIST_BUCKET_MB must be a size in MB above 0, got '", v, "'");
  }
  return std::max<int64_t>(1, int64_t(mb * 1024 * 1024 / sizeof(float)));
}

GradSync::GradSync(ParamStore& store, ProcessGroup& group, int64_t bucket_floats, bool shard)
    : group_(group), grads_(store.grads_data()), floats_(store.grad_floats()), shard_(shard) {
  // Parameter starts, last first; a bucket closes at a parameter start once it holds enough.
  std::vector<int64_t> starts;
  for (const Param& p : store.params())
    if (p.trainable && p.grad.defined()) starts.push_back(p.offset);
  std::sort(starts.rbegin(), starts.rend());
  int64_t end = floats_;
  for (size_t i = 0; i < starts.size(); i++) {
    const bool last = i + 1 == starts.size();
    if (end - starts[i] >= bucket_floats || last) {
      const int64_t begin = last ? 0 : starts[i];
      range_.emplace_back(begin, end);
      end = begin;
    }
  }
  // Where segments may end: parameter starts and norm blocks inside parameters.
  std::vector<int64_t> cuts;
  for (const Param& p : store.params())
    if (p.trainable && p.grad.defined())
      for (int64_t k = 0; k < p.numel(); k += kNormBlock) cuts.push_back(p.offset + k);
  cuts.push_back(floats_);
  std::sort(cuts.begin(), cuts.end());
  const int N = group_.size();
  for (size_t i = 0; i < range_.size(); i++) {
    const auto [b, e] = range_[i];
    // Piece j ends at the cut nearest to its even share; piece j goes to rank (j + i) mod N.
    std::vector<int64_t> at{b};
    for (int j = 1; j < N; j++) {
      const int64_t want = b + (e - b) * j / N;
      auto it = std::lower_bound(cuts.begin(), cuts.end(), want);
      int64_t c = *it;
      if (it != cuts.begin() && want - *std::prev(it) <= c - want) c = *std::prev(it);
      at.push_back(std::clamp(c, at.back(), e));
    }
    at.push_back(e);
    std::vector<std::pair<int64_t, int64_t>> seg(static_cast<size_t>(N));
    for (int j = 0; j < N; j++)
      seg[size_t((j + int(i)) % N)] = {at[size_t(j)] - b, at[size_t(j) + 1] - b};
    const auto [first, end] = seg[size_t(group_.rank())];
    mine_.emplace_back(b + first, b + end);
    group_.add_bucket(grads_ + b, e - b, seg, shard_);
  }
  leaves_left_.assign(range_.size(), 0);
}

int GradSync::bucket_of(const float* grad) const {
  if (grad < grads_ || grad >= grads_ + floats_) return -1;
  const int64_t off = grad - grads_;
  // range_ is in descending order of offset.
  const auto it = std::lower_bound(range_.begin(), range_.end(), off,
                                   [](const auto& r, int64_t o) { return r.first > o; });
  return int(it - range_.begin());
}

void GradSync::count(Tape& tape) {
  std::fill(leaves_left_.begin(), leaves_left_.end(), 0);
  tape.on_param_leaf = [this](const Tensor& grad) {
    const int b = grad.defined() ? bucket_of(grad.f32()) : -1;
    if (b >= 0) leaves_left_[size_t(b)]++;
  };
}

void GradSync::arm(Tape& tape) {
  // Backward records the checkpointed blocks' leaves again: counted already.
  tape.on_param_leaf = nullptr;
  armed_ = &tape;
  tape.on_leaf_passed = [this](const Node& n) { on_leaf(n); };
}

void GradSync::on_leaf(const Node& n) {
  if (n.grad.defined()) {
    const int b = bucket_of(n.grad.f32());
    if (b >= 0) leaves_left_[size_t(b)]--;
  }
  // In order: a final bucket waits for the ones before it, so every rank starts the same
  // sequence of collectives.
  while (next_ < buckets() && leaves_left_[size_t(next_)] == 0) group_.start_sum(next_++);
  group_.progress();
}

void GradSync::finish() {
  if (armed_) armed_->on_leaf_passed = nullptr;
  armed_ = nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  while (next_ < buckets()) group_.start_sum(next_++);
  group_.wait_all();
  next_ = 0;
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  steps_++;
}

OptimShard GradSync::optim_shard() const {
  if (!shard_) return {};
  return {&group_, range_, mine_};
}

}  // namespace aero
