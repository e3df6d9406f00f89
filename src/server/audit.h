// The access and audit log: one JSON object per line and request, written and flushed as the
// request ends: {"time", "key_id", "endpoint", "method", "status", "prompt_tokens",
// "completion_tokens", "latency_ms", "finish", "session_id", "error"}. Never the key itself,
// never the text. Thread-safe.
#pragma once
#include <cstdio>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace aero::server {

class AuditLog {
 public:
  explicit AuditLog(const std::string& path);  // empty: no log
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  void write(nlohmann::json entry);  // adds "time" (UTC, ISO 8601 with milliseconds)

 private:
  std::mutex mu_;
  std::FILE* f_ = nullptr;
};

}  // namespace aero::server
