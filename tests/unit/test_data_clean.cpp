#include <gtest/gtest.h>

#include "core/error.h"
#include "data/clean.h"

using namespace aero;

namespace {

// Only the named rule on, so each test sees that rule alone.
CleanOptions only(const std::string& rule) {
  CleanOptions o;
  o.nfc = rule == "nfc";
  o.strip_sources = rule == "sources";
  o.strip_symbols = rule == "symbols";
  o.collapse_whitespace = rule == "whitespace";
  o.min_line_chars = rule == "short" ? 3 : 0;
  o.dedup = rule == "dedup";
  return o;
}

std::string clean1(Cleaner& c, std::string line) { return c.clean_line(line) ? line : "<dropped>"; }

}  // namespace

TEST(data_clean, nfc_composes_tone_marks) {
  Cleaner c(only("nfc"));
  EXPECT_EQ(clean1(c, "Tie\xCC\x82\xCC\x81ng Vie\xCC\xA3\xCC\x82t"), "Tiếng Việt");  // NFD in
  EXPECT_EQ(c.report().nfc.lines, 1u);
  EXPECT_EQ(clean1(c, "Tiếng Việt đã ổn"), "Tiếng Việt đã ổn");
  EXPECT_EQ(clean1(c, "plain ascii"), "plain ascii");
  EXPECT_EQ(c.report().nfc.lines, 1u);
}

TEST(data_clean, source_tags_and_bylines_removed) {
  Cleaner c(only("sources"));
  EXPECT_EQ(clean1(c, "(Dân trí) - Sáng nay trời mưa."), "Sáng nay trời mưa.");
  EXPECT_EQ(clean1(c, "TTO - Giá xăng tăng."), "Giá xăng tăng.");
  EXPECT_EQ(clean1(c, "VOV.VN - Hội nghị khai mạc."), "Hội nghị khai mạc.");
  EXPECT_EQ(clean1(c, "(Baonghean) – Lúa chín."), "Lúa chín.");
  EXPECT_EQ(clean1(c, "Đội tuyển thắng 2-0 (Theo VnExpress)"), "Đội tuyển thắng 2-0");
  EXPECT_EQ(clean1(c, "Theo Dân trí"), "<dropped>");
  EXPECT_EQ(clean1(c, "Ảnh: Hoàng Hà"), "<dropped>");
  EXPECT_EQ(c.report().sources.lines, 7u);
}

TEST(data_clean, source_rules_leave_prose_alone) {
  Cleaner c(only("sources"));
  for (const std::string s :
       {"Theo tôi, đây là bài học quan trọng.",
        "Theo Nguyễn Du, Truyện Kiều viết về số phận con người.", "Ảnh hưởng của bão rất lớn.",
        "(1) Hà Nội là thủ đô.", "Tuổi Trẻ là tờ báo lớn.", "Giá (đã gồm thuế) - 200 nghìn đồng",
        "Nguồn nước sạch đang cạn."})
    EXPECT_EQ(clean1(c, s), s);
  EXPECT_EQ(c.report().sources.lines, 0u);
}

TEST(data_clean, user_source_rules_extend_the_defaults) {
  CleanOptions o = only("sources");
  o.extra_source_rules = {"^\\s*\\[[A-Z]+\\]\\s*"};
  Cleaner c(o);
  EXPECT_EQ(clean1(c, "[AFP] Tin thế giới"), "Tin thế giới");
  EXPECT_EQ(clean1(c, "TTO - Tin trong nước"), "Tin trong nước");
  o.extra_source_rules = {"(unclosed"};
  EXPECT_THROW(Cleaner bad(o), Error);
}

TEST(data_clean, symbols_removed_but_never_diacritics) {
  Cleaner c(only("symbols"));
  EXPECT_EQ(clean1(c, "Tuyệt vời 😍😍 quá!"), "Tuyệt vời  quá!");
  EXPECT_EQ(clean1(c, "Giá ★★★ 100₫"), "Giá  100₫");
  EXPECT_EQ(clean1(c, "Xin chào 你好 мир"), "Xin chào  ");
  const std::string all =
      "àáảãạ ằắẳẵặ ầấẩẫậ èéẻẽẹ ềếểễệ ìíỉĩị òóỏõọ ồốổỗộ ờớởỡợ ùúủũụ ừứửữự "
      "ỳýỷỹỵ ăâêôơư đĐ ÀÁẢÃẠ ỲÝỶỸỴ";
  EXPECT_EQ(clean1(c, all), all);
  // Decomposed tone marks stay with their Latin letter.
  const std::string nfd = "Tie\xCC\x82\xCC\x81ng Vie\xCC\xA3\xCC\x82t";
  EXPECT_EQ(clean1(c, nfd), nfd);
  for (const std::string s : {"Số 1.234,5 - \"trích dẫn\" (ngoặc) [a] {b} 50% a+b=c @user #tag",
                              "Café naïve façade – “ngoặc kép” … — «guillemets»"})
    EXPECT_EQ(clean1(c, s), s);
  EXPECT_EQ(c.report().symbols.lines, 3u);
}

TEST(data_clean, keep_chars_is_configurable) {
  CleanOptions o = only("symbols");
  o.keep_chars = "★";
  Cleaner c(o);
  EXPECT_EQ(clean1(c, "Giá ★★★ 100₫"), "Giá ★★★ 100");
}

TEST(data_clean, whitespace_collapsed) {
  Cleaner c(only("whitespace"));
  EXPECT_EQ(clean1(c,
                   "  a \t b\xC2\xA0\xC2\xA0"
                   "c  "),
            "a b c");  // tabs, no-break spaces
  EXPECT_EQ(clean1(c, "a b c"), "a b c");
  EXPECT_EQ(c.report().whitespace.lines, 1u);
}

TEST(data_clean, empty_and_short_lines_dropped) {
  Cleaner c(only("short"));
  EXPECT_EQ(clean1(c, ""), "<dropped>");
  EXPECT_EQ(clean1(c, "   "), "<dropped>");
  EXPECT_EQ(clean1(c, "ừ"), "<dropped>");
  EXPECT_EQ(clean1(c, "Ừ ạ"), "Ừ ạ");  // three characters, six bytes
  EXPECT_EQ(c.report().empty_lines.lines, 2u);
  EXPECT_EQ(c.report().short_lines.lines, 1u);
}

TEST(data_clean, exact_duplicate_documents_dropped) {
  Cleaner c(only("dedup"));
  Document a{"Một\nHai", "x"}, b{"Một\nHai", "y"}, d{"Một\nBa", "z"};
  EXPECT_TRUE(c.clean(a));
  EXPECT_FALSE(c.clean(b));
  EXPECT_TRUE(c.clean(d));
  EXPECT_EQ(c.report().duplicate_docs, 1u);
  EXPECT_EQ(c.report().docs_out, 2u);
}

TEST(data_clean, all_rules_together_on_a_document) {
  Cleaner c{CleanOptions{}};
  Document doc{"(Dân trí) -  Hôm nay   trời đẹp 😀\n\n.\nTheo Dân trí", "x"};
  ASSERT_TRUE(c.clean(doc));
  EXPECT_EQ(doc.text, "Hôm nay trời đẹp");
  const std::string json = c.report().to_json();
  EXPECT_NE(json.find("\"sources\""), std::string::npos);
}

TEST(data_clean, threads_give_the_same_output_and_report) {
  std::vector<std::string> docs;
  for (int i = 0; i < 3000; ++i)
    docs.push_back(i % 5 == 0 ? "(Dân trí) - Tin số " + std::to_string(i % 40) + " 😀"
                              : "Tie\xCC\x82\xCC\x81ng  Việt " + std::to_string(i) + "\n\nok\n.");
  const auto run = [&](int threads) {
    std::vector<std::string> out;
    const CleanReport r = clean_documents(
        CleanOptions{}, threads,
        [&](const DocumentFn& sink) {
          for (const auto& d : docs) sink(Document{d, "x"});
        },
        [&](Document&& d) { out.push_back(std::move(d.text)); });
    return std::make_pair(out, r.to_json());
  };
  Cleaner serial{CleanOptions{}};
  std::vector<std::string> expect;
  for (const auto& d : docs) {
    Document doc{d, "x"};
    if (serial.clean(doc)) expect.push_back(doc.text);
  }
  for (int threads : {1, 3}) {
    const auto [out, json] = run(threads);
    EXPECT_EQ(out, expect) << threads;
    EXPECT_EQ(json, serial.report().to_json()) << threads;
  }
  EXPECT_EQ(serial.report().duplicate_docs, 592u);  // 600 tagged, 8 distinct
}

TEST(data_clean, vietnamese_lines_are_told_from_english_ones) {
  EXPECT_TRUE(is_vietnamese_line("Nhấn vào nút OK"));
  EXPECT_TRUE(is_vietnamese_line("Chọn Công cụ - Tùy chọn - LibreOffice Writer"));
  EXPECT_TRUE(is_vietnamese_line("ĐƯỜNG DẪN"));
  EXPECT_FALSE(is_vietnamese_line("Click the OK button"));
  EXPECT_FALSE(is_vietnamese_line("Choose Tools - Options - LibreOffice Writer"));
  EXPECT_FALSE(is_vietnamese_line(""));
  EXPECT_FALSE(is_vietnamese_line("1234 5678"));
  // One marked word in five is enough; one in six is not.
  EXPECT_TRUE(is_vietnamese_line("một a b c d"));
  EXPECT_FALSE(is_vietnamese_line("một a b c d e"));
  // French and German letters are Latin but not Vietnamese-only.
  EXPECT_FALSE(is_vietnamese_line("Über die Straße, garçon"));
  EXPECT_FALSE(is_vietnamese_line("\xff\xfe broken bytes"));
}
