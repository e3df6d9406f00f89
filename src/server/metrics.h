// Server metrics in Prometheus text format (GET /metrics): request and error counts by
// endpoint and status, token counters, generation speed, time-to-first-token and latency
// histograms, queue depth, active sequences and resident memory. Thread-safe.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace aero::server {

class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,  30};
  void observe(double seconds);
  void write(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // last: +Inf
  double sum_ = 0;
  uint64_t n_ = 0;
};

class Metrics {
 public:
  void request(const std::string& endpoint, int status);
  void tokens(int prompt, int generated);
  void ttft(double seconds);
  void latency(const std::string& endpoint, double seconds);
  // Gauges read when rendering.
  std::atomic<int> queue_depth{0};
  std::atomic<int> active_sequences{0};
  std::atomic<int> open_streams{0};

  // Every series gets replica="name" (empty: no label), so one Prometheus sees the replicas
  // apart behind a load balancer. Set once, before serving.
  void set_replica(const std::string& name);
  std::string render();

 private:
  // {a="b"} with the replica label added; "" when there is no label at all.
  std::string labels(const std::string& inner) const;
  std::string replica_;  // `replica="name"`, or empty
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  // (time, generated tokens) of the last 10 s, for the tokens/s gauge.
  std::deque<std::pair<std::chrono::steady_clock::time_point, int>> recent_;
  Histogram ttft_;
  std::map<std::string, Histogram> latency_;
};

// Resident set size of this process in bytes (/proc/self/statm).
size_t resident_bytes();

}  // namespace aero::server
