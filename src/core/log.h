// One small logging facility: levels, stderr, printf-free.
#pragma once
#include <string>

#include "core/error.h"

namespace aero {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, quiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_write(LogLevel level, const std::string& msg);

template <typename... Args>
void log_debug(const Args&... a) {
  if (log_level() <= LogLevel::debug) log_write(LogLevel::debug, cat(a...));
}
template <typename... Args>
void log_info(const Args&... a) {
  if (log_level() <= LogLevel::info) log_write(LogLevel::info, cat(a...));
}
template <typename... Args>
void log_warn(const Args&... a) {
  if (log_level() <= LogLevel::warn) log_write(LogLevel::warn, cat(a...));
}
template <typename... Args>
void log_error(const Args&... a) {
  if (log_level() <= LogLevel::error) log_write(LogLevel::error, cat(a...));
}

}  // namespace aero
