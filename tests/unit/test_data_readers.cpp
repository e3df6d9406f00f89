#include <gtest/gtest.h>
#include <zlib.h>

#include "core/error.h"
#include "data/readers.h"
#include "op_test.h"
#include "test_data_util.h"

using namespace aero;
using namespace aero::test;

namespace {

std::vector<Document> read_all(const std::string& path, ReadStats& stats,
                               const ReaderOptions& opt = {}) {
  std::vector<Document> docs;
  read_documents(
      path, opt, [&](Document&& d) { docs.push_back(std::move(d)); }, stats);
  return docs;
}

}  // namespace

TEST(data_readers, text_documents_are_blank_line_separated) {
  ScratchDir d("rd_text");
  ReadStats st;
  const auto docs = read_all(d.write("a.txt", "Một\nhai\r\n\n\nba\n"), st);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "Một\nhai");
  EXPECT_EQ(docs[1].text, "ba");
  EXPECT_NE(docs[1].source.find("a.txt:5"), std::string::npos);
}

TEST(data_readers, jsonl_field_and_missing_rows) {
  ScratchDir d("rd_jsonl");
  ReadStats st;
  const std::string path =
      d.write("a.jsonl",
              "{\"text\": \"Xin chào\"}\n{\"title\": \"x\"}\n\n{\"text\": 5}\n{\"text\": \"\"}\n"
              "{\"text\": \"Tạm biệt\", \"id\": 2}\n");
  const auto docs = read_all(path, st);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1].text, "Tạm biệt");
  EXPECT_EQ(st.missing_field, 3u);
  ReaderOptions opt;
  opt.jsonl_field = "title";
  ReadStats st2;
  EXPECT_EQ(read_all(path, st2, opt).size(), 1u);
}

TEST(data_readers, jsonl_invalid_line_names_file_and_line) {
  ScratchDir d("rd_jsonl_bad");
  const std::string path = d.write("bad.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"\n");
  ReadStats st;
  const std::string msg = error_of([&] { read_all(path, st); });
  EXPECT_NE(msg.find("bad.jsonl:2: invalid JSON"), std::string::npos) << msg;
}

TEST(data_readers, csv_rfc4180_quotes_and_newlines) {
  ScratchDir d("rd_csv");
  const std::string path = d.write("p.csv",
                                   "id,input_text,target_text\r\n"
                                   "1,\"Phim hay, quá\",\"Cảm ơn \"\"bạn\"\"!\"\r\n"
                                   "2,\"dòng một\ndòng hai\",Vâng\n"
                                   "3,,thiếu đầu vào\n"
                                   "4,chỉ có một cột\n"
                                   "5,Chào,Chào bạn");
  ReadStats st;
  std::vector<CsvRow> rows;
  read_csv(
      path, {"input_text", "target_text"}, [&](CsvRow&& r) { rows.push_back(std::move(r)); }, st);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"Phim hay, quá", "Cảm ơn \"bạn\"!"}));
  EXPECT_EQ(rows[1].fields[0], "dòng một\ndòng hai");
  EXPECT_EQ(rows[2].line, 7u);
  EXPECT_EQ(rows[2].fields[1], "Chào bạn");
  EXPECT_EQ(st.missing_field, 2u);
}

TEST(data_readers, csv_errors_name_file_and_line) {
  ScratchDir d("rd_csv_bad");
  ReadStats st;
  const auto rows = [&](const std::string& p) {
    return error_of([&] {
      read_csv(
          p, {"input_text", "target_text"}, [](CsvRow&&) {}, st);
    });
  };
  std::string msg = rows(d.write("q.csv", "input_text,target_text\na,b\n\"never closed,x\ny,z\n"));
  EXPECT_NE(msg.find("q.csv:3: unterminated quote"), std::string::npos) << msg;
  msg = rows(d.write("h.csv", "question,answer\na,b\n"));
  EXPECT_NE(msg.find("h.csv:1: no column 'input_text'"), std::string::npos) << msg;
  msg = rows(d.write("u.csv", "input_text,target_text\na,b\nc,\xC3\x28\n"));
  EXPECT_NE(msg.find("u.csv:3: invalid UTF-8"), std::string::npos) << msg;
}

TEST(data_readers, invalid_utf8_in_text_names_line) {
  ScratchDir d("rd_utf8");
  ReadStats st;
  const std::string msg = error_of([&] { read_all(d.write("x.txt", "tốt\nhỏng \xE1\xBA\n"), st); });
  EXPECT_NE(msg.find("x.txt:2: invalid UTF-8"), std::string::npos) << msg;
}

TEST(data_readers, html_visible_text_only) {
  ScratchDir d("rd_html");
  ReadStats st;
  const auto docs = read_all(
      d.write("p.html",
              "<!DOCTYPE html><html><head><title>Tiêu đề</title><style>p{color:red}</style>"
              "<script>var x = '<p>không</p>';</script></head><body>"
              "<h1>Tin   tức</h1><p>Đoạn <b>một</b> &amp; <i>hai</i><br>dòng mới</p>"
              "<ul><li>mục 1</li><li>mục 2</li></ul><noscript>bật JS</noscript>"
              "<div hidden>ẩn</div><p>unclosed <div>tag soup</body></html>"),
      st);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "Tin tức\nĐoạn một & hai\ndòng mới\nmục 1\nmục 2\nunclosed\ntag soup");
}

TEST(data_readers, html_declared_legacy_charset_is_converted) {
  ScratchDir d("rd_html_latin1");
  ReadStats st;
  // "Café" in ISO-8859-1: the é is one byte, invalid as UTF-8.
  const auto docs = read_all(
      d.write("l.html",
              "<html><head><meta charset=\"iso-8859-1\"></head><body><p>Caf\xE9</p></body></html>"),
      st);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "Café");
  const std::string msg =
      error_of([&] { read_all(d.write("u.html", "<p>ok</p>\n<p>\xE9</p>"), st); });
  EXPECT_NE(msg.find("u.html:2: invalid UTF-8"), std::string::npos) << msg;
}

TEST(data_readers, directories_are_walked_recursively) {
  ScratchDir d("rd_dir");
  std::filesystem::create_directories(d.path / "sub" / "deeper");
  d.write("b.txt", "hai\n");
  d.write("sub/deeper/a.jsonl", "{\"text\": \"một\"}\n");
  d.write("sub/c.html", "<p>ba</p>");
  d.write("sub/notes.bin", "skip me");
  ReadStats st;
  const auto docs = read_all(d.path.string(), st);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].text, "hai");  // sorted paths: b.txt, sub/c.html, sub/deeper/a.jsonl
  EXPECT_EQ(docs[1].text, "ba");
  EXPECT_EQ(docs[2].text, "một");
  EXPECT_EQ(st.skipped_files, 1u);
  EXPECT_EQ(st.files, 3u);
}

TEST(data_readers, man_pages_plain_and_gzip) {
  EXPECT_EQ(detect_format("/usr/share/man/vi/man1/ls.1.gz"), "man");
  EXPECT_EQ(detect_format("perlfunc.3pm"), "man");
  EXPECT_EQ(detect_format("notes.gz"), "");
  EXPECT_EQ(detect_format("v1.2.txt"), "text");
  const std::string roff =
      ".\\\" a comment\n.TH LS 1\n.SH TÊN\nls \\- liệt kê \\fBthư mục\\fP\n.PP\n"
      ".B \\-a\nhiện tất cả \\(aqtệp\\(aq\n\n.IP \\(bu 2\nmục\n.IP \"-l dài\" 4\ndạng dài\n";
  EXPECT_EQ(roff_to_text(roff),
            "TÊN\nls - liệt kê thư mục\n-a hiện tất cả 'tệp'\nmục\n-l dài dạng dài\n");
  ScratchDir d("rd_man");
  std::filesystem::create_directories(d.path / "man1");
  d.write("man1/ls.1", roff);
  gzFile z = ::gzopen(d.file("man1/cp.1.gz").c_str(), "wb");
  ::gzwrite(z, roff.data(), unsigned(roff.size()));
  ::gzclose(z);
  ReadStats st;
  const auto docs = read_all(d.path.string(), st);
  ASSERT_EQ(docs.size(), 2u);  // cp.1.gz, ls.1
  EXPECT_EQ(docs[0].text, roff_to_text(roff));
  EXPECT_EQ(docs[1].text, docs[0].text);
  d.write("bad.1.gz", std::string("\x1f\x8b\x08\x00garbage", 12));
  const std::string msg = error_of([&] { read_all(d.file("bad.1.gz"), st); });
  EXPECT_NE(msg.find("bad.1.gz: corrupt or truncated gzip data"), std::string::npos) << msg;
}
