#include "data/eval.h"

#include <vector>

namespace aero {

void for_each_window(const Shard& s, const std::string& path, int T, int64_t max_windows,
                     const std::function<void(const int32_t* window)>& fn) {
  AERO_CHECK(s.size() > uint64_t(T), "[eval] ", path, " holds ", s.size(),
             " tokens, fewer than block_size + 1 = ", T + 1);
  std::vector<int32_t> window(size_t(T) + 1);
  int64_t done = 0;
  for (uint64_t start = 0; start + uint64_t(T) + 1 <= s.size(); start += uint64_t(T)) {
    if (max_windows > 0 && done++ == max_windows) break;
    s.read(start, window.size(), window.data());
    fn(window.data());
  }
}

}  // namespace aero
