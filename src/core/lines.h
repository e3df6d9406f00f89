// The lines of a text, one at a time.
#pragma once
#include <cstddef>
#include <string_view>

namespace aero {

// fn(line) for each '\n'-separated line of text, without its '\n' (a '\r' before it stays). A
// text that ends in '\n' has no empty line after it.
template <typename F>
void for_each_line(std::string_view text, F&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    fn(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
}

}  // namespace aero
