#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace aero {
namespace {

LogLevel initial_level() {
  const char* env = std::getenv("AERO_LOG");
  if (!env) return LogLevel::info;
  if (!std::strcmp(env, "debug")) return LogLevel::debug;
  if (!std::strcmp(env, "warn")) return LogLevel::warn;
  if (!std::strcmp(env, "error")) return LogLevel::error;
  if (!std::strcmp(env, "quiet")) return LogLevel::quiet;
  return LogLevel::info;
}

std::atomic<LogLevel> g_level{initial_level()};
std::mutex g_mutex;

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_write(LogLevel level, const std::string& msg) {
  static const char* names[] = {"debug", "info", "warn", "error", ""};
  std::lock_guard<std::mutex> lock(g_mutex);
  if (level == LogLevel::info)
    std::fprintf(stderr, "%s\n", msg.c_str());
  else
    std::fprintf(stderr, "aero %s: %s\n", names[static_cast<int>(level)], msg.c_str());
}

}  // namespace aero
