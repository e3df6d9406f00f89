#include "server/audit.h"

#include <chrono>
#include <ctime>

#include "core/error.h"

namespace aero::server {

AuditLog::AuditLog(const std::string& path) {
  if (path.empty()) return;
  f_ = std::fopen(path.c_str(), "a");
  AERO_CHECK(f_, "[server] cannot open the audit log ", path, " for appending");
}

AuditLog::~AuditLog() {
  if (f_) std::fclose(f_);
}

void AuditLog::write(nlohmann::json entry) {
  if (!f_) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = int(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  nlohmann::json line = {{"time", buf}};
  line.update(entry);
  const std::string s = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  std::fputs(s.c_str(), f_);
  std::fflush(f_);
}

}  // namespace aero::server
