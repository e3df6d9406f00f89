// UTF-8 helpers and a streaming decoder that never emits half a character.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace aero {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid or cut short.
size_t utf8_seq_len(std::string_view s, size_t i);

// Offset of the first invalid byte, or npos when s is valid UTF-8.
size_t utf8_invalid_offset(std::string_view s);

// Unicode NFC in place, the normalisation `aero data clean` applies: "a" + U+0323 -> "ạ",
// "e" + U+0323 + U+0302 -> "ệ". Returns false when s was already NFC. s must be valid UTF-8.
bool utf8_nfc(std::string& s);

// Text a person typed or gave in a file, as a model should see it: valid UTF-8 (otherwise an
// aero::Error naming `source`, the line and the byte offset of the first bad byte) in NFC.
std::string user_text(std::string_view s, std::string_view source);

// Appends code point cp as UTF-8.
void utf8_append(std::string& out, char32_t cp);

// Bytes in, whole characters out: "\xE1\xBA" then "\xBF" -> "" then "ế". Invalid bytes become
// U+FFFD, so the output is always valid UTF-8.
class Utf8StreamDecoder {
 public:
  std::string push(std::string_view bytes);
  // End of stream: a cut-off tail becomes U+FFFD.
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace aero
