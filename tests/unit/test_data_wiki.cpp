#include <bzlib.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/readers.h"
#include "test_data_util.h"

using namespace aero;
using namespace aero::test;

namespace {

std::string page(const std::string& title, int ns, const std::string& text, bool redirect = false) {
  return "  <page>\n    <title>" + title + "</title>\n    <ns>" + std::to_string(ns) +
         "</ns>\n    <id>1</id>\n" + (redirect ? "    <redirect title=\"Hà Nội\" />\n" : "") +
         "    <revision>\n      <id>2</id>\n      <text bytes=\"1\" xml:space=\"preserve\">" +
         text + "</text>\n    </revision>\n  </page>\n";
}

// A dump with templates, references, nested links, a table, a file, a redirect and a talk page.
std::string small_dump() {
  const std::string article =
      "{{Thông tin thành phố\n| tên = Hà Nội\n| dân số = {{formatnum:8053663}}\n}}\n"
      "'''Hà Nội''' là [[thủ đô]] của [[Việt Nam|nước Việt Nam]].&lt;ref name=\"a\"&gt;"
      "{{chú thích web|url=http://x.vn}}&lt;/ref&gt; Thành phố nằm bên [[sông Hồng]]"
      "&lt;ref&gt;Nguồn khác&lt;/ref&gt;.&lt;ref name=\"a\" /&gt;\n\n"
      "[[Tập tin:HaNoi.jpg|nhỏ|Hồ Gươm, nhìn từ [[phố Đinh Tiên Hoàng|phố]] ven hồ]]\n"
      "== Lịch sử ==\n"
      "Năm 1010, [[Lý Thái Tổ]] dời đô về ''Thăng Long''.&lt;!-- ghi chú ẩn --&gt;\n"
      "{| class=\"wikitable\"\n|-\n! Năm !! Dân số\n|-\n| 2019 || 8 triệu\n|}\n"
      "* Xem [http://hanoi.gov.vn trang chính thức] và [[Hà Nội#Địa lý]].\n"
      "[[Thể loại:Thủ đô]]\n[[en:Hanoi]]";
  return "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\" xml:lang=\"vi\">\n"
         "  <siteinfo><sitename>Wikipedia</sitename></siteinfo>\n" +
         page("Hà Nội", 0, article) + page("Ha Noi", 0, "#ĐỔI [[Hà Nội]]", true) +
         page("Thảo luận:Hà Nội", 1, "Bàn về bài viết") +
         page("Huế", 0, "#REDIRECT [[Thừa Thiên Huế]]") + "</mediawiki>\n";
}

const char* kExpected =
    "Hà Nội là thủ đô của nước Việt Nam. Thành phố nằm bên sông Hồng.\n"
    "Lịch sử\n"
    "Năm 1010, Lý Thái Tổ dời đô về Thăng Long.\n"
    "Xem trang chính thức và Hà Nội.";

std::string bzip2(const std::string& s) {
  std::string out(s.size() + s.size() / 50 + 1024, '\0');
  auto n = static_cast<unsigned>(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(out.data(), &n, const_cast<char*>(s.data()),
                                     static_cast<unsigned>(s.size()), 9, 0, 0),
            BZ_OK);
  out.resize(n);
  return out;
}

std::vector<Document> read_dump(const std::string& path, ReadStats& st) {
  std::vector<Document> docs;
  read_documents(
      path, {}, [&](Document&& d) { docs.push_back(std::move(d)); }, st);
  return docs;
}

}  // namespace

TEST(data_wiki, markup_reduced_to_article_text) {
  ScratchDir d("wiki_plain");
  ReadStats st;
  const auto docs = read_dump(d.write("viwiki.xml", small_dump()), st);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, kExpected);
  EXPECT_NE(docs[0].source.find("Hà Nội"), std::string::npos);
  EXPECT_EQ(st.skipped_pages, 3u);  // two redirects and a talk page
}

TEST(data_wiki, bz2_dump_streams_the_same_text) {
  ScratchDir d("wiki_bz2");
  ReadStats st;
  const auto docs = read_dump(d.write("viwiki.xml.bz2", bzip2(small_dump())), st);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, kExpected);
}

TEST(data_wiki, multistream_bz2_reads_every_stream) {
  ScratchDir d("wiki_multi");
  const std::string dump = small_dump();
  const size_t half = dump.size() / 2;  // streams split mid-element, like any byte boundary
  ReadStats st;
  const auto docs = read_dump(
      d.write("multi.xml.bz2", bzip2(dump.substr(0, half)) + bzip2(dump.substr(half))), st);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, kExpected);
}

TEST(data_wiki, truncated_bz2_is_a_clear_error) {
  ScratchDir d("wiki_trunc");
  std::string dump;
  for (int i = 0; i < 50; ++i) dump += small_dump();
  const std::string z = bzip2(dump);
  const std::string path = d.write("cut.xml.bz2", z.substr(0, z.size() / 2));
  ReadStats st;
  try {
    read_dump(path, st);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cut.xml.bz2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("truncated bzip2"), std::string::npos) << msg;
  }
}

TEST(data_wiki, broken_xml_names_line) {
  ScratchDir d("wiki_badxml");
  ReadStats st;
  const std::string path = d.write("bad.xml", "<mediawiki>\n<page><title>x</titl></page>\n");
  try {
    read_dump(path, st);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.xml:2:"), std::string::npos) << e.what();
  }
}

TEST(data_wiki, strip_markup_cases) {
  EXPECT_EQ(strip_wiki_markup("a {{x|{{y}}}} b"), "a  b");
  EXPECT_EQ(strip_wiki_markup("[[A|[[B]] c]]"), "B c");
  EXPECT_EQ(strip_wiki_markup("x<ref>[[y]]</ref>z"), "xz");
  EXPECT_EQ(strip_wiki_markup("=== Tiêu đề ==="), "Tiêu đề");
  EXPECT_EQ(strip_wiki_markup("a<br/>b <small>nhỏ</small>"), "ab nhỏ");
  EXPECT_EQ(strip_wiki_markup("5 < 6 và __TOC__ x"), "5 < 6 và  x");
  EXPECT_EQ(strip_wiki_markup("Bình thường."), "Bình thường.");
  EXPECT_EQ(strip_wiki_markup("xem [[:Thể loại:Sông|các sông]] và [[:en:Hanoi]]"),
            "xem các sông và en:Hanoi");
  EXPECT_EQ(strip_wiki_markup("[[Thể loại:Sông]][[Hình:a.png|nhỏ|x]]còn lại"), "còn lại");
}
