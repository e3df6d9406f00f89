// Streaming detokenizer for generation: ids in, text out, never half a UTF-8 character.
#pragma once
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace aero {

class TokenStreamDecoder {
 public:
  // continuation: the ids continue a text already shown (generation after a prompt), so a
  // SentencePiece word boundary at the start is a space, not the text's dropped dummy prefix.
  explicit TokenStreamDecoder(const Tokenizer& tok, bool continuation = false)
      : tok_(tok), first_(!continuation) {}
  // Text that became complete with this id; may be empty (a byte piece waiting for the rest).
  std::string push(int id);
  std::string finish() { return utf8_.flush(); }

 private:
  const Tokenizer& tok_;
  Utf8StreamDecoder utf8_;
  bool first_;
};

}  // namespace aero
