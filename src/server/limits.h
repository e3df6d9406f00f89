// Per-key limits on requests and tokens per minute, as token buckets: a bucket holds up to one
// minute's allowance and refills continuously, so a client that hits the limit waits seconds,
// not the rest of a minute. Thread-safe. This is the in-process state of one replica; the
// shared one (store/postgres.h) keeps the same buckets in PostgreSQL.
#pragma once
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/store/store.h"

namespace aero::server {

class RateLimiter : public RateLimits {
 public:
  using Clock = std::chrono::steady_clock;
  // 0 turns a limit off.
  RateLimiter(double requests_per_min, double tokens_per_min)
      : rpm_(requests_per_min), tpm_(tokens_per_min) {}

  // Takes one request from key's bucket. Returns 0 when admitted, else the seconds to wait
  // (the Retry-After value, >= 1) and takes nothing.
  int admit(const std::string& key, Clock::time_point now);
  int admit(const std::string& key) override { return admit(key, Clock::now()); }
  // Charges tokens used by a finished request (the bucket may go below zero: the next request
  // waits until it refills).
  void charge(const std::string& key, double tokens, Clock::time_point now);
  void charge(const std::string& key, double tokens) override { charge(key, tokens, Clock::now()); }

 private:
  struct Bucket {
    double requests, tokens;
    Clock::time_point at;
  };
  Bucket& refill(const std::string& key, Clock::time_point now);
  double rpm_, tpm_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace aero::server
