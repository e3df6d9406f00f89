#include <gtest/gtest.h>

#include <set>

#include "data/instruct.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"
#include "train/batches.h"

using namespace aero;
using namespace aero::test;

TEST(data_instruct, question_follows_the_heading_form) {
  EXPECT_EQ(question_from_heading("Chèn công thức"), "Làm thế nào để chèn công thức?");
  EXPECT_EQ(question_from_heading("Để chèn cước chú hay kết chú :"),
            "Làm thế nào để chèn cước chú hay kết chú?");
  EXPECT_EQ(question_from_heading("Cách  tạo   mục lục"), "Làm thế nào để tạo mục lục?");
  EXPECT_EQ(question_from_heading("Thay đổi Thứ tự Ảnh chiếu"),
            "Làm thế nào để thay đổi Thứ tự Ảnh chiếu?");
  EXPECT_EQ(question_from_heading("Trợ lý trộn thư"), "Trợ lý trộn thư là gì?");
  EXPECT_EQ(question_from_heading("Chương 2. Bắt đầu theo đúng cách"),
            "Bắt đầu theo đúng cách là gì?");
  EXPECT_EQ(question_from_heading("4.1.2. Tệp tin điều khiển"), "Tệp tin điều khiển là gì?");
  EXPECT_EQ(question_from_heading("A.1.\u00a0Các thư viện được chia sẻ"),
            "Các thư viện được chia sẻ là gì?");
  EXPECT_EQ(question_from_heading("Phụ lục A.\u00a0Đóng gói nâng cao"),
            "Làm thế nào để đóng gói nâng cao?");
  EXPECT_EQ(question_from_heading("Có nên dùng mẫu không?"), "Có nên dùng mẫu không?");
  // "Inserting" starts no Vietnamese how-to; English headings ask nothing.
  EXPECT_EQ(question_from_heading("Inserting Objects"), "");
  EXPECT_EQ(question_from_heading("  :  "), "");
  // "In" (print) is a verb; "Inch" only starts with its letters.
  EXPECT_EQ(question_from_heading("In tài liệu"), "Làm thế nào để in tài liệu?");
  EXPECT_EQ(question_from_heading("Đơn vị đo"), "Đơn vị đo là gì?");
  EXPECT_EQ(question_from_heading("Giới thiệu về LibreOffice"), "LibreOffice là gì?");
  EXPECT_EQ(question_from_heading("Về Bộ lọc XML"), "Bộ lọc XML là gì?");
}

TEST(data_instruct, answers_are_vietnamese_and_bounded) {
  EXPECT_EQ(answer_from_paragraph("  Nhấn vào   nút\n OK để lưu tài liệu.  "),
            "Nhấn vào nút OK để lưu tài liệu.");
  EXPECT_EQ(answer_from_paragraph("Thí dụ:"), "");  // too short
  EXPECT_EQ(answer_from_paragraph("Click the OK button to save the document."), "");
  InstructOptions o;
  o.max_answer_bytes = 60;
  // Cut after the last sentence that fits.
  EXPECT_EQ(answer_from_paragraph("Chọn một ô trong bảng. Sau đó nhấn phím Enter để sửa nội "
                                  "dung của ô đang chọn.",
                                  o),
            "Chọn một ô trong bảng.");
  // No sentence end: cut at a word, marked with an ellipsis, valid UTF-8.
  const std::string a = answer_from_paragraph(
      "Trình đơn này chứa các lệnh dùng để sửa đổi nội dung của tài liệu hiện thời nhé", o);
  EXPECT_LE(a.size(), 60u);
  EXPECT_TRUE(a.ends_with("…")) << a;
  EXPECT_EQ(a.find(" …"), std::string::npos) << a;
  EXPECT_TRUE(a.starts_with("Trình đơn này chứa các lệnh")) << a;
}

TEST(data_instruct, html_headings_take_the_first_real_paragraph) {
  const std::string html = R"(<html><head><title>Chèn công thức</title>
<script>var x = "<h1>no</h1>";</script></head><body>
<h1 id="a">Chèn <span class="literal">công thức</span></h1>
<p>Thí dụ:</p>
<p id="p1">Chọn <b>Chèn - Đối tượng - Công thức</b> để mở trình soạn công thức.</p>
<p>Đoạn thứ hai không phải là câu trả lời.</p>
<h2>Trợ lý trộn thư</h2>
<div><p>Trợ lý này giúp bạn tạo thư mẫu gửi cho nhiều người nhận.</p></div>
<h2>Cột</h2>
<p>This paragraph was never translated into Vietnamese.</p>
<h2>Hàng</h2>
<h3>Không có đoạn nào</h3>
</body></html>)";
  const auto pairs = html_instruct_pairs(html, "page.html");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].question, "Làm thế nào để chèn công thức?");
  EXPECT_EQ(pairs[0].answer, "Chọn Chèn - Đối tượng - Công thức để mở trình soạn công thức.");
  EXPECT_EQ(pairs[0].source, "page.html");
  EXPECT_EQ(pairs[1].question, "Trợ lý trộn thư là gì?");
  EXPECT_EQ(pairs[1].answer, "Trợ lý này giúp bạn tạo thư mẫu gửi cho nhiều người nhận.");
  EXPECT_TRUE(
      html_instruct_pairs("<html><body><p>Chỉ có đoạn văn thôi nhé bạn ơi.</p></body>", "x.html")
          .empty());
}

TEST(data_instruct, man_name_line_asks_about_the_command) {
  const std::string vi_name =
      ".TH STAT 1\n.SH TÊN\nstat \\- hiển thị trạng thái của tập tin\n"
      ".SH \"TÓM TẮT\"\n\\fBstat\\fP [\\fITÙY_CHỌN\\fP]\n"
      ".SH \"MÔ TẢ\"\n.\\\" comment\n.PP\nHiển thị trạng thái tập tin "
      "hay hệ thống tập tin.\n.TP\n\\fB\\-L\\fP\ntheo liên kết\n";
  auto p = man_instruct_pairs(vi_name, "stat.1.gz");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].question, "Lệnh stat dùng để làm gì?");
  EXPECT_EQ(p[0].answer,
            "Hiển thị trạng thái của tập tin. Hiển thị trạng thái tập tin hay hệ thống tập tin.");
  // An English NAME line: the answer is the description section's first Vietnamese paragraph.
  const std::string en_name =
      ".SH TÊN\ntest, [ \\- check file types and compare values\n"
      ".SH \"MÔ TẢ\"\n.PP\nshort\n.PP\nThoát với trạng thái xác định bởi "
      "BIỂU_THỨC.\n.SH \"XEM THÊM\"\nNhấn vào đây để xem thêm nhé.\n";
  p = man_instruct_pairs(en_name, "test.1.gz");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].question, "Lệnh test dùng để làm gì?");
  EXPECT_EQ(p[0].answer, "Thoát với trạng thái xác định bởi BIỂU_THỨC.");
  // Nothing Vietnamese to answer with, or no NAME line: no pair.
  EXPECT_TRUE(man_instruct_pairs(".SH NAME\nls \\- list directory contents\n.SH DESCRIPTION\n"
                                 "List information about the FILEs.\n",
                                 "ls.1")
                  .empty());
  EXPECT_TRUE(
      man_instruct_pairs(".SH \"MÔ TẢ\"\nHiển thị trạng thái tập tin nhé.\n", "x.1").empty());
}

TEST(data_instruct, set_is_deduplicated_and_split_by_page) {
  std::vector<InstructPair> pairs;
  // 40 pages of 3 pairs each; "Cú pháp" is on every page (a generic section name); page 7 asks
  // page 3's first question again.
  for (int page = 0; page < 40; page++) {
    const std::string src = "text/page" + std::to_string(page) + ".html";
    for (int k = 0; k < 2; k++)
      pairs.push_back({"Câu hỏi số " + std::to_string(page * 10 + k) + " là gì?",
                       "Câu trả lời cho trang " + std::to_string(page), src});
    pairs.push_back({"Cú pháp là gì?", "Cú pháp của trang " + std::to_string(page), src});
  }
  pairs.push_back({"Câu hỏi số 30 là gì?", "một câu trả lời khác", "text/page7.html"});
  const InstructSet set = build_instruct_set(pairs);
  EXPECT_EQ(set.generic, 40u);
  EXPECT_EQ(set.duplicates, 1u);
  EXPECT_EQ(set.pages, 40u);
  EXPECT_EQ(set.train.size() + set.val.size(), 80u);
  EXPECT_GT(set.val_pages, 0u);
  EXPECT_LT(set.val_pages, 12u);  // about 10% of 40 pages
  // No page on both sides; the same input gives the same split.
  std::set<std::string> train_pages;
  for (const auto& p : set.train) train_pages.insert(p.source);
  for (const auto& p : set.val) EXPECT_EQ(train_pages.count(p.source), 0u) << p.source;
  const InstructSet again = build_instruct_set(pairs);
  ASSERT_EQ(again.val.size(), set.val.size());
  for (size_t i = 0; i < set.val.size(); i++) EXPECT_EQ(again.val[i].question, set.val[i].question);
  // Two pages: one on each side, whatever the hash says.
  const InstructSet two = build_instruct_set({{"A là gì?", "a", "p1"}, {"B là gì?", "b", "p2"}});
  EXPECT_EQ(two.train.size(), 1u);
  EXPECT_EQ(two.val.size(), 1u);
}

// data.mode = pairs on a decoder-only model: one row per pair, prompt ++ answer ++ EOS, the
// targets counted on the answer and its EOS only.
TEST(data_instruct, causal_pairs_count_the_answer_only) {
  ScratchDir d("instruct_causal");
  std::set<char32_t> chars = {U':', U' '};
  for (char32_t c = U'a'; c <= U'z'; c++) chars.insert(c);
  CharTokenizer::from_chars(chars).save(d.file("chars.json"));
  d.write("p.jsonl",
          "{\"input_text\": \"q: ab\", \"target_text\": \"xyz\"}\n"
          "{\"input_text\": \"q: abcd\", \"target_text\": \"w\"}\n");
  BatchOptions o;
  o.batch_size = 2;
  o.block_size = 16;
  o.pairs = true;
  o.pair.tokenizer = d.file("chars.json");
  o.pair.max_input = 8;
  o.pair.max_target = 8;
  o.pair.multiple = 0;
  o.pair.causal = true;
  auto src = open_train_batches(d.file("p.jsonl"), o);
  const TrainBatch& b = src->get(0, 0);
  EXPECT_EQ(b.src, nullptr);
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.targets, 4 + 2);  // "xyz" + EOS, "w" + EOS
  const int eos = CharTokenizer::kEos;
  for (int64_t r = 0; r < b.rows; r++) {
    // Row r: the targets after the prompt are the answer then EOS, and x is y shifted.
    std::vector<int32_t> counted;
    for (int64_t t = 0; t < b.cols; t++) {
      const int32_t y = b.y[r * b.cols + t];
      if (y != kIgnoreIndex) counted.push_back(y);
      if (t > 0 && y != kIgnoreIndex && b.y[r * b.cols + t - 1] != kIgnoreIndex) {
        EXPECT_EQ(b.x[r * b.cols + t], b.y[r * b.cols + t - 1]);
      }
    }
    ASSERT_FALSE(counted.empty());
    EXPECT_EQ(counted.back(), eos);
    EXPECT_TRUE(counted.size() == 4 || counted.size() == 2);
  }
}
