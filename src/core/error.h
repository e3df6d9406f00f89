// Errors: aero::Error for anything a user can cause (input, files, configs, bad calls).
// Messages start with the module or op name in brackets: "[matmul] shapes (2, 3) and (4, 5)".
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace aero {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// cat("a", 1, 'b') -> "a1b"
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

}  // namespace aero

// AERO_CHECK(cond, "[op] message ", value, ...) throws aero::Error when cond is false.
#define AERO_CHECK(cond, ...)               \
  do {                                      \
    if (!(cond)) ::aero::fail(__VA_ARGS__); \
  } while (0)

// Kernel invariants: cheap, always on, never for user input.
#define AERO_ASSERT(cond)                                                \
  do {                                                                   \
    if (!(cond)) ::aero::detail::assert_fail(#cond, __FILE__, __LINE__); \
  } while (0)

namespace aero::detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line);
}
