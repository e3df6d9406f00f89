// user_text and utf8_nfc: what chat and generate do to typed and file prompts before tokenizing.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "data/clean.h"
#include "tokenizer/utf8.h"

using namespace aero;

namespace {

// The message of the aero::Error that f throws, or "" when it throws none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(user_text, composes_combining_marks) {
  EXPECT_EQ(user_text("a\u0323", "x"), "ạ");
  // Both orders of the two marks of ệ compose to one letter (canonical reordering).
  EXPECT_EQ(user_text("Vie\u0323\u0302t", "x"), "Việt");
  EXPECT_EQ(user_text("Vie\u0302\u0323t", "x"), "Việt");
  // D + tilde has no precomposed form: the mark stays combining.
  EXPECT_EQ(user_text("D\u0303a\u0306\u0301", "x"), "D\u0303ắ");
  EXPECT_EQ(user_text("Xin chào, bạn là ai?", "x"), "Xin chào, bạn là ai?");
  EXPECT_EQ(user_text("", "x"), "");
}

TEST(user_text, every_vietnamese_letter_survives_unchanged) {
  const std::string letters =
      "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
      "AÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬEÈÉẺẼẸÊỀẾỂỄỆIÌÍỈĨỊOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢUÙÚỦŨỤƯỪỨỬỮỰYỲÝỶỸỴĐ";
  std::string s = letters;
  EXPECT_FALSE(utf8_nfc(s));
  EXPECT_EQ(user_text(letters, "x"), letters);
}

TEST(user_text, same_normalisation_as_data_clean) {
  CleanOptions opt;
  opt.min_line_chars = 0;
  Cleaner c(opt);
  const std::string typed = "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u";
  std::string line = typed;
  ASSERT_TRUE(c.clean_line(line));
  EXPECT_EQ(line, user_text(typed, "x"));
  EXPECT_EQ(line, "Tiếng Việt có dấu");
}

TEST(user_text, invalid_utf8_names_byte_offset_and_line) {
  // "Vi\xEA t" is Latin-1 ê: byte 2.
  std::string m = error_of([] { user_text("Vi\xEAt", "prompt.txt"); });
  EXPECT_NE(m.find("[utf8] prompt.txt is not valid UTF-8: byte 0xEA at byte offset 2; "),
            std::string::npos)
      << m;
  // In text of several lines: the offset counts bytes from the start, the line is named too.
  m = error_of([] { user_text("ạ\nb\xC3(", "f"); });
  EXPECT_NE(m.find("byte 0xC3 at byte offset 5 (line 2)"), std::string::npos) << m;
  // A character cut off at the end, a surrogate and an overlong form.
  m = error_of([] { user_text("ab\xE1\xBA", "f"); });
  EXPECT_NE(m.find("byte 0xE1 at byte offset 2"), std::string::npos) << m;
  m = error_of([] { user_text("\xED\xA0\x80", "f"); });
  EXPECT_NE(m.find("byte 0xED at byte offset 0"), std::string::npos) << m;
  m = error_of([] { user_text("x\xC0\xAF", "f"); });
  EXPECT_NE(m.find("byte 0xC0 at byte offset 1"), std::string::npos) << m;
}
