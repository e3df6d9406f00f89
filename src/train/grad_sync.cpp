#include "train/grad_sync.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

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

GradSync::GradSync(ParamStore& store, ProcessGroup& group, int64_t bucket_floats)
    : group_(group), grads_(store.grads_data()), floats_(store.grad_floats()) {
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
  for (const auto& [b, e] : range_) group_.add_bucket(grads_ + b, e - b);
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

void GradSync::arm(Tape& tape) {
  std::fill(leaves_left_.begin(), leaves_left_.end(), 0);
  for (size_t id = 0; id < tape.size(); id++) {
    const Node& n = tape.node(int32_t(id));
    if (n.op != Op::leaf || !n.requires_grad || !n.grad.defined()) continue;
    const int b = bucket_of(n.grad.f32());
    if (b >= 0) leaves_left_[size_t(b)]++;
  }
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
  group_.wait_sums();
  next_ = 0;
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  steps_++;
}

}  // namespace aero
