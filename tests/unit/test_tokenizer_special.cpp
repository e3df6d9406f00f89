#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/stream_decoder.h"

using namespace aero;
using namespace aero::test;

TEST(tokenizer_special, added_tokens_never_split_and_persist) {
  ScratchDir dir("tok_special");
  SpTrainOptions opt;
  opt.inputs = {dir.write("c.txt", join_lines(vietnamese_lines(800)))};
  opt.model_path = dir.file("m.model");
  opt.vocab_size = 500;
  train_sentencepiece(opt);

  const std::vector<std::string> tokens = {"<TIKTOK>", "<FACEBOOK>", "<YOUTUBE>", "<COMMENT>"};
  std::vector<int> ids;
  {
    auto tok = load_tokenizer(opt.model_path);
    ids = tok->add_special_tokens(tokens);
    EXPECT_EQ(ids, (std::vector<int>{500, 501, 502, 503}));
    EXPECT_EQ(tok->vocab_size(), 504);
    tok->save_added(opt.model_path);
  }
  auto tok = load_tokenizer(opt.model_path);
  EXPECT_EQ(tok->vocab_size(), 504);
  // SentencePiece starts every piece of text with a space marker, so text after a special token
  // decodes with a leading space; this input already has one and round-trips exactly.
  const auto enc = tok->encode("<COMMENT> Phim hay quá<TIKTOK><YOUTUBE>");
  ASSERT_GE(enc.size(), 4u);
  EXPECT_EQ(enc.front(), 503);
  EXPECT_EQ(enc[enc.size() - 2], 500);
  EXPECT_EQ(enc.back(), 502);
  EXPECT_EQ(tok->decode(enc), "<COMMENT> Phim hay quá<TIKTOK><YOUTUBE>");
  // Adding again is idempotent.
  EXPECT_EQ(tok->add_special_tokens({"<COMMENT>"}), std::vector<int>{503});
  EXPECT_EQ(tok->vocab_size(), 504);
}

TEST(tokenizer_special, stale_added_file_is_rejected) {
  ScratchDir dir("tok_stale");
  auto a = CharTokenizer::from_chars({U'a', U'b'});
  a.save(dir.file("t.json"));
  a.add_special_tokens({"<X>"});
  a.save_added(dir.file("t.json"));
  CharTokenizer::from_chars({U'a', U'b', U'c'}).save(dir.file("t.json"));
  EXPECT_THROW(load_tokenizer(dir.file("t.json")), Error);
}

TEST(tokenizer_char, vocabulary_from_corpus_round_trips) {
  ScratchDir dir("tok_char");
  std::set<char32_t> chars;
  const std::string text = join_lines(vietnamese_lines(200));
  collect_chars(text, chars);
  auto tok = CharTokenizer::from_chars(chars);
  tok.save(dir.file("c.json"));
  auto loaded = load_tokenizer(dir.file("c.json"));
  EXPECT_EQ(loaded->kind(), "char");
  EXPECT_EQ(loaded->vocab_size(), tok.vocab_size());
  const auto ids = loaded->encode(text);
  EXPECT_EQ(loaded->decode(ids), text);
  EXPECT_EQ(
      ids.size(), 0u + [&] {
        size_t n = 0;
        for (unsigned char c : text) n += (c & 0xC0) != 0x80;
        return n;
      }());
  EXPECT_GE(loaded->newline_id(), 4);
  // Unknown characters map to <unk>; specials in text are never split.
  EXPECT_EQ(loaded->encode("😀"), std::vector<int>{CharTokenizer::kUnk});
  EXPECT_EQ(loaded->encode("<eos>"), std::vector<int>{CharTokenizer::kEos});
}

TEST(tokenizer_char, corrupt_json_names_the_file) {
  ScratchDir dir("tok_char_bad");
  const std::string path = dir.write("broken.json", "{\"format\": ");
  try {
    load_tokenizer(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos);
  }
}

// An empty special token would match at every position, so encoding never advanced (found by the
// char_tokenizer fuzzer): the file is refused, naming it and the token.
TEST(tokenizer_char, empty_special_token_is_refused) {
  ScratchDir dir("tok_char_empty");
  const std::string path =
      dir.write("empty.json",
                R"({"format": "aero-char-tokenizer", "version": 1, "chars": ["a", "b"],
                    "specials": ["<pad>", "<unk>", "", "<eos>"]})");
  try {
    load_tokenizer(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.json: special token 2 is empty"), std::string::npos)
        << e.what();
  }
}

TEST(tokenizer_special, stream_decoder_with_char_and_added_tokens) {
  auto tok = CharTokenizer::from_chars({U'a', U'ế', U' '});
  tok.add_special_tokens({"<COMMENT>"});
  const std::string text = "aế <COMMENT>ế a";
  const auto ids = tok.encode(text);
  TokenStreamDecoder stream(tok);
  std::string out;
  for (int id : ids) out += stream.push(id);
  out += stream.finish();
  EXPECT_EQ(out, text);
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(tokenizer_special, out_of_range_ids_are_clear_errors) {
  auto tok = CharTokenizer::from_chars({U'a'});
  try {
    tok.decode(std::vector<int>{4, -100});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("id -100 out of range"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok.decode(std::vector<int>{5}), Error);
}

TEST(tokenizer_special, continuation_keeps_the_space_before_the_first_generated_word) {
  ScratchDir dir("tok_continuation");
  SpTrainOptions opt;
  opt.inputs = {dir.write("c.txt", join_lines(vietnamese_lines(800)))};
  opt.model_path = dir.file("m.model");
  opt.vocab_size = 500;
  train_sentencepiece(opt);
  auto tok = load_tokenizer(opt.model_path);
  const std::string prompt = "Xin chào", reply = " các bạn";
  const std::vector<int> all = tok->encode(prompt + reply), head = tok->encode(prompt);
  ASSERT_EQ(std::vector<int>(all.begin(), all.begin() + head.size()), head);
  // Generation streams the ids after the prompt: their text must start with the space.
  TokenStreamDecoder cont(*tok, /*continuation=*/true), fresh(*tok);
  std::string a, b;
  for (size_t i = head.size(); i < all.size(); i++) {
    a += cont.push(all[i]);
    b += fresh.push(all[i]);
  }
  EXPECT_EQ(a + cont.finish(), reply);
  EXPECT_EQ(b + fresh.finish(), "các bạn");  // a text of its own drops the dummy prefix
}
