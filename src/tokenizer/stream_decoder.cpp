#include "tokenizer/stream_decoder.h"

namespace aero {

std::string TokenStreamDecoder::push(int id) {
  const std::string bytes = tok_.token_bytes(id, first_);
  if (!bytes.empty()) first_ = false;
  return utf8_.push(bytes);
}

}  // namespace aero
