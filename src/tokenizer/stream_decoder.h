// Streaming detokenizer for generation: ids in, text out, never half a UTF-8 character.
#pragma once
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace aero {

class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  // Text that became complete with this id; may be empty (a byte piece waiting for the rest).
  std::string push(int id);
  std::string finish() { return utf8_.flush(); }

 private:
  const Tokenizer& tok_;
  Utf8StreamDecoder utf8_;
  bool first_ = true;
};

}  // namespace aero
