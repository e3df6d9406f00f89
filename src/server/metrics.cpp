#include "server/metrics.h"

#include <unistd.h>

#include <cstdio>

#include "core/error.h"

namespace aero::server {

namespace {

constexpr double kRateWindowS = 10;

std::string num(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

}  // namespace

void Histogram::observe(double s) {
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) i++;
  counts_[i]++;
  sum_ += s;
  n_++;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cum = 0;
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i <= kBounds.size(); i++) {
    cum += counts_[i];
    const std::string le = i < kBounds.size() ? num(kBounds[i]) : "+Inf";
    out += cat(name, "_bucket{", labels, sep, "le=\"", le, "\"} ", cum, "\n");
  }
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  out += cat(name, "_sum", l, " ", num(sum_), "\n", name, "_count", l, " ", n_, "\n");
}

void Metrics::set_replica(const std::string& name) {
  replica_.clear();
  if (name.empty()) return;
  std::string esc;  // Prometheus label values escape backslash, quote and newline
  for (char c : name) {
    if (c == '\\' || c == '"') esc += '\\';
    if (c == '\n')
      esc += "\\n";
    else
      esc += c;
  }
  replica_ = cat("replica=\"", esc, "\"");
}

std::string Metrics::labels(const std::string& inner) const {
  if (inner.empty() && replica_.empty()) return "";
  if (inner.empty()) return "{" + replica_ + "}";
  if (replica_.empty()) return "{" + inner + "}";
  return "{" + replica_ + "," + inner + "}";
}

void Metrics::request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  requests_[{endpoint, status}]++;
}

void Metrics::tokens(int prompt, int generated) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += uint64_t(prompt);
  generated_tokens_ += uint64_t(generated);
  if (generated > 0) recent_.emplace_back(std::chrono::steady_clock::now(), generated);
}

void Metrics::ttft(double s) {
  std::lock_guard lock(mu_);
  ttft_.observe(s);
}

void Metrics::latency(const std::string& endpoint, double s) {
  std::lock_guard lock(mu_);
  latency_[endpoint].observe(s);
}

std::string Metrics::render() {
  std::lock_guard lock(mu_);
  std::string o;
  o += "# HELP aero_requests_total HTTP requests by endpoint and status.\n";
  o += "# TYPE aero_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    o += cat("aero_requests_total",
             labels(cat("endpoint=\"", k.first, "\",status=\"", k.second, "\"")), " ", n, "\n");
  o += "# HELP aero_errors_total Requests answered with a status >= 400, by endpoint and status.\n";
  o += "# TYPE aero_errors_total counter\n";
  for (const auto& [k, n] : requests_)
    if (k.second >= 400)
      o += cat("aero_errors_total",
               labels(cat("endpoint=\"", k.first, "\",status=\"", k.second, "\"")), " ", n, "\n");
  o += "# HELP aero_prompt_tokens_total Prompt tokens prefilled.\n# TYPE aero_prompt_tokens_total "
       "counter\n";
  o += cat("aero_prompt_tokens_total", labels(""), " ", prompt_tokens_, "\n");
  o += "# HELP aero_generated_tokens_total Tokens generated.\n# TYPE aero_generated_tokens_total "
       "counter\n";
  o += cat("aero_generated_tokens_total", labels(""), " ", generated_tokens_, "\n");
  const auto now = std::chrono::steady_clock::now();
  while (!recent_.empty() &&
         std::chrono::duration<double>(now - recent_.front().first).count() > kRateWindowS)
    recent_.pop_front();
  double recent = 0;
  for (const auto& r : recent_) recent += r.second;
  o += "# HELP aero_generated_tokens_per_second Generated tokens per second over the last 10 s.\n";
  o += "# TYPE aero_generated_tokens_per_second gauge\n";
  o += cat("aero_generated_tokens_per_second", labels(""), " ", num(recent / kRateWindowS), "\n");
  o += "# HELP aero_time_to_first_token_seconds Time from request to first streamed text.\n";
  o += "# TYPE aero_time_to_first_token_seconds histogram\n";
  ttft_.write(o, "aero_time_to_first_token_seconds", replica_);
  o += "# HELP aero_request_duration_seconds Time from request to the end of the answer.\n";
  o += "# TYPE aero_request_duration_seconds histogram\n";
  for (const auto& [ep, h] : latency_)
    h.write(o, "aero_request_duration_seconds",
            cat(replica_, replica_.empty() ? "" : ",", "endpoint=\"", ep, "\""));
  o += "# HELP aero_queue_depth Requests waiting for the engine.\n# TYPE aero_queue_depth gauge\n";
  o += cat("aero_queue_depth", labels(""), " ", queue_depth.load(), "\n");
  o +=
      "# HELP aero_active_sequences Sequences in the engine.\n# TYPE aero_active_sequences gauge\n";
  o += cat("aero_active_sequences", labels(""), " ", active_sequences.load(), "\n");
  o += "# HELP aero_open_streams Streaming responses in flight.\n# TYPE aero_open_streams gauge\n";
  o += cat("aero_open_streams", labels(""), " ", open_streams.load(), "\n");
  o += "# HELP aero_resident_memory_bytes Resident set size of the server.\n";
  o += "# TYPE aero_resident_memory_bytes gauge\n";
  o += cat("aero_resident_memory_bytes", labels(""), " ", resident_bytes(), "\n");
  return o;
}

size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, rss = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &rss);
  std::fclose(f);
  return n == 2 ? size_t(rss) * size_t(::sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace aero::server
