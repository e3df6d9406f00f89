#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "core/error.h"
#include "data/split.h"
#include "io/atomic_file.h"
#include "test_data_util.h"

using namespace aero;
using namespace aero::test;

TEST(data_split, exact_seeded_proportions) {
  const auto a = split_assignment(1000, {8, 1, 1}, 42);
  EXPECT_EQ(std::count(a.begin(), a.end(), 0), 800);
  EXPECT_EQ(std::count(a.begin(), a.end(), 1), 100);
  EXPECT_EQ(std::count(a.begin(), a.end(), 2), 100);
  EXPECT_EQ(a, split_assignment(1000, {8, 1, 1}, 42));
  EXPECT_NE(a, split_assignment(1000, {8, 1, 1}, 43));
  EXPECT_THROW(split_assignment(10, {0, 0, 0}, 1), Error);
}

TEST(data_split, documents_stay_whole_and_every_one_lands_once) {
  ScratchDir d("split_docs");
  std::string text;
  for (int i = 0; i < 100; ++i) text += "tài liệu " + std::to_string(i) + "\ndòng hai\n\n";
  SplitOptions opt;
  const auto r = split_documents(d.write("all.txt", text), d.file("out"), opt);
  EXPECT_EQ(r.documents[0], 80u);
  EXPECT_EQ(r.documents[1], 10u);
  EXPECT_EQ(r.documents[2], 10u);
  std::multiset<std::string> seen;
  for (const auto& p : r.paths) {
    ReadStats st;
    read_documents(
        p, {},
        [&](Document&& doc) {
          EXPECT_TRUE(doc.text.ends_with("\ndòng hai")) << doc.text;
          seen.insert(doc.text);
        },
        st);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 100u);
}

TEST(data_split, csv_keeps_header_and_quoting) {
  ScratchDir d("split_csv");
  std::string csv = "input_text,target_text\n";
  for (int i = 0; i < 20; ++i)
    csv += "\"câu " + std::to_string(i) + ", có phẩy\",\"đáp\nhai dòng\"\n";
  SplitOptions opt;
  const auto r = split_documents(d.write("pairs.csv", csv), d.file("out"), opt);
  uint64_t total = 0;
  for (const auto& p : r.paths) {
    EXPECT_TRUE(p.ends_with(".csv"));
    ReadStats st;
    read_csv(
        p, {"input_text", "target_text"},
        [&](CsvRow&& row) {
          EXPECT_EQ(row.fields[1], "đáp\nhai dòng");
          ++total;
        },
        st);
  }
  EXPECT_EQ(total, 20u);
}

TEST(data_split, atomic_file_leaves_nothing_on_failure) {
  ScratchDir d("atomic");
  const std::string target = d.write("keep.txt", "old");
  {
    AtomicFile f(target);
    f.write("new but unfinished");
  }  // no commit: the old content stays and no temp file is left
  EXPECT_EQ(read_file(target), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(d.path), {}), 1);
  write_file_atomic(target, "new");
  EXPECT_EQ(read_file(target), "new");
  EXPECT_THROW(AtomicFile("/dev/null"), Error);
}
