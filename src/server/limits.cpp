#include "server/limits.h"

#include <algorithm>
#include <cmath>

namespace aero::server {

RateLimiter::Bucket& RateLimiter::refill(const std::string& key, Clock::time_point now) {
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{rpm_, tpm_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double minutes = std::chrono::duration<double>(now - b.at).count() / 60.0;
    b.requests = std::min(rpm_, b.requests + minutes * rpm_);
    b.tokens = std::min(tpm_, b.tokens + minutes * tpm_);
    b.at = now;
  }
  return b;
}

int RateLimiter::admit(const std::string& key, Clock::time_point now) {
  if (rpm_ <= 0 && tpm_ <= 0) return 0;
  std::lock_guard lock(mu_);
  Bucket& b = refill(key, now);
  double wait_s = 0;
  if (rpm_ > 0 && b.requests < 1) wait_s = std::max(wait_s, (1 - b.requests) * 60.0 / rpm_);
  if (tpm_ > 0 && b.tokens <= 0) wait_s = std::max(wait_s, (1 - b.tokens) * 60.0 / tpm_);
  if (wait_s > 0) return std::max(1, int(std::ceil(wait_s)));
  if (rpm_ > 0) b.requests -= 1;
  return 0;
}

void RateLimiter::charge(const std::string& key, double tokens, Clock::time_point now) {
  if (tpm_ <= 0) return;
  std::lock_guard lock(mu_);
  refill(key, now).tokens -= tokens;
}

}  // namespace aero::server
