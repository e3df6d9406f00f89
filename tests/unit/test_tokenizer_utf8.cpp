#include <gtest/gtest.h>

#include "tokenizer/utf8.h"

using namespace aero;

TEST(tokenizer_utf8, stream_holds_partial_characters) {
  Utf8StreamDecoder d;
  const std::string e = "ế";  // E1 BA BF
  EXPECT_EQ(d.push(e.substr(0, 1)), "");
  EXPECT_EQ(d.push(e.substr(1, 1)), "");
  EXPECT_EQ(d.push(e.substr(2, 1) + "a"), "ếa");
  const std::string emoji = "😀";
  EXPECT_EQ(d.push(emoji.substr(0, 3)), "");
  EXPECT_EQ(d.push(emoji.substr(3)), emoji);
  EXPECT_EQ(d.flush(), "");
}

TEST(tokenizer_utf8, invalid_bytes_become_replacement) {
  Utf8StreamDecoder d;
  EXPECT_EQ(d.push("a\xFF"
                   "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(d.push("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(d.push("\xE1\xBA"), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // cut off at the end
}

TEST(tokenizer_utf8, invalid_offset) {
  EXPECT_EQ(utf8_invalid_offset("Tiếng Việt"), std::string::npos);
  EXPECT_EQ(utf8_invalid_offset("ab\xE1\xBA"), 2u);
  EXPECT_EQ(utf8_invalid_offset("ab\xED\xA0\x80"), 2u);  // surrogate
  std::string out;
  utf8_append(out, U'ế');
  utf8_append(out, U'😀');
  EXPECT_EQ(out, "ế😀");
}
