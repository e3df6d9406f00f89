#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "data/shards.h"
#include "op_test.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

using namespace aero;
using namespace aero::test;

TEST(data_shards, header_layout_and_widths) {
  ScratchDir d("shard_hdr");
  EXPECT_EQ(shard_token_width(65536), 2u);
  EXPECT_EQ(shard_token_width(65537), 4u);
  for (uint32_t vocab : {1000u, 250112u}) {
    const std::string path = d.file("s" + std::to_string(vocab) + ".bin");
    ShardWriter w(path, vocab, 3);
    const std::vector<int32_t> toks = {5, 3, 999, 0};
    w.append(toks);
    w.commit();
    const std::string bytes = read_file(path);
    const uint32_t width = vocab > 65536 ? 4 : 2;
    ASSERT_EQ(bytes.size(), 32 + 4 * width);
    EXPECT_EQ(bytes.substr(0, 8), std::string("AEROTOK\0", 8));
    EXPECT_EQ(static_cast<uint8_t>(bytes[8]), 1);       // version
    EXPECT_EQ(static_cast<uint8_t>(bytes[12]), width);  // token width
    EXPECT_EQ(static_cast<uint8_t>(bytes[24]), 4);      // count
    Shard s(path);
    EXPECT_EQ(s.size(), 4u);
    EXPECT_EQ(s.vocab_size(), vocab);
    EXPECT_EQ(s.eot_id(), 3u);
    EXPECT_EQ(s[2], 999);
  }
  ShardWriter w(d.file("bad.bin"), 10, 3);
  EXPECT_THROW(w.append(std::vector<int32_t>{10}), Error);
}

TEST(data_shards, wrong_magic_and_short_files_are_clear_errors) {
  ScratchDir d("shard_bad");
  std::string msg = error_of([&] { Shard s(d.write("tiny.bin", "AERO")); });
  EXPECT_NE(msg.find("tiny.bin: 4 bytes is shorter than the 32-byte shard header"),
            std::string::npos)
      << msg;
  msg = error_of([&] { Shard s(d.write("magic.bin", std::string(40, 'x'))); });
  EXPECT_NE(msg.find("magic.bin: wrong magic at offset 0"), std::string::npos) << msg;
  ShardWriter w(d.file("cut.bin"), 100, 3);
  w.append(std::vector<int32_t>(50, 7));
  w.commit();
  const std::string whole = read_file(d.file("cut.bin"));
  d.write("cut.bin", whole.substr(0, whole.size() - 3));
  msg = error_of([&] { Shard s(d.file("cut.bin")); });
  EXPECT_NE(msg.find("cut.bin: header promises 50 tokens"), std::string::npos) << msg;
}

TEST(data_shards, prepare_matches_encode_and_is_thread_count_independent) {
  ScratchDir d("shard_prep");
  SpTrainOptions opt;
  opt.inputs = {d.write("c.txt", join_lines(vietnamese_lines(1000)))};
  opt.model_path = d.file("m.model");
  opt.vocab_size = 500;
  train_sentencepiece(opt);
  SentencePieceTokenizer tok(opt.model_path);
  // Documents separated by blank lines (one run of several), a last document without a newline.
  const auto lines = vietnamese_lines(3000, 99);
  std::string text;
  std::vector<int32_t> expect;
  for (size_t i = 0; i < lines.size(); ++i) {
    text += lines[i] + "\n";
    for (int id : tok.encode(lines[i])) expect.push_back(id);
    if (i % 7 == 6 || i + 1 == lines.size()) {
      text += i % 14 == 13 ? "\n \n" : "\n";
      expect.push_back(tok.eos_id());
    }
  }
  text.pop_back();  // no trailing blank line at the end
  const std::string in = d.write("train.txt", text);
  for (int threads : {1, 2, 3}) {
    const std::string out = d.file("t" + std::to_string(threads) + ".bin");
    const auto st = prepare_shard(tok, in, out, threads);
    EXPECT_EQ(st.documents, 429u);
    Shard s(out);
    ASSERT_EQ(s.size(), expect.size()) << threads;
    std::vector<int32_t> got(s.size());
    s.read(0, got.size(), got.data());
    EXPECT_EQ(got, expect) << threads;
  }
}

TEST(data_shards, prepare_reports_invalid_utf8_with_its_line_and_leaves_no_file) {
  ScratchDir d("shard_utf8");
  auto tok = CharTokenizer::from_chars({U'a'});
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "aaaa\n";  // several blocks before the bad line
  text += "a\xFF\n";
  const std::string msg =
      error_of([&] { prepare_shard(tok, d.write("bad.txt", text), d.file("bad.bin"), 2); });
  EXPECT_NE(msg.find("bad.txt:200001: invalid UTF-8"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(d.file("bad.bin")));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(d.path), {}), 1);
}

TEST(data_shards, char_tokenizer_keeps_newlines_inside_documents) {
  ScratchDir d("shard_char");
  auto tok = CharTokenizer::from_chars({U'a', U'b', U'\n'});
  const auto st = prepare_shard(tok, d.write("x.txt", "ab\nb\n\na\n"), d.file("x.bin"), 2);
  EXPECT_EQ(st.documents, 2u);
  Shard s(d.file("x.bin"));
  std::vector<int32_t> got(s.size());
  s.read(0, got.size(), got.data());
  const int a = tok.token_to_id("a"), b = tok.token_to_id("b"), nl = tok.newline_id();
  EXPECT_EQ(got, (std::vector<int32_t>{a, b, nl, b, CharTokenizer::kEos, a, CharTokenizer::kEos}));
}
