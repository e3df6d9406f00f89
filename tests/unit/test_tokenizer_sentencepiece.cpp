#include <gtest/gtest.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <map>

#include "core/error.h"
#include "test_data_util.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"

using namespace aero;
using namespace aero::test;

namespace {

std::string normalize(const std::string& s, bool compose) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n =
      compose ? icu::Normalizer2::getNFCInstance(err) : icu::Normalizer2::getNFDInstance(err);
  std::string out;
  n->normalize(icu::UnicodeString::fromUTF8(s), err).toUTF8String(out);
  return out;
}

// One model per type for the whole suite: training is the slow part.
const std::string& model(const std::string& type) {
  static ScratchDir dir("sp_models");
  static std::map<std::string, std::string> paths;
  auto it = paths.find(type);
  if (it != paths.end()) return it->second;
  SpTrainOptions opt;
  opt.inputs = {dir.write("corpus.txt", join_lines(vietnamese_lines(3000)))};
  opt.model_path = dir.file(type + ".model");
  opt.model_type = type;
  opt.vocab_size = 560;
  opt.user_defined_symbols = {"<SEP>"};
  train_sentencepiece(opt);
  return paths[type] = opt.model_path;
}

std::vector<std::string> edge_strings() {
  std::vector<std::string> s = {
      "",
      "a",
      "😀",
      "Xin chào 👋🏽 thế giới 🇻🇳",
      kVietnameseLetters,
      "Tiếng Việt, 中文, русский, العربية, ελληνικά, 日本語 and English 123.",
      "tab\there",
      "<SEP> giữa <SEP>",
  };
  return s;
}

class SpRoundTrip : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(SpRoundTrip, edge_strings_round_trip) {
  SentencePieceTokenizer tok(model(GetParam()));
  for (const auto& s : edge_strings()) {
    const auto ids = tok.encode(s);
    std::string expect = s;
    // The model's normalizer maps a tab to a space, like every whitespace run.
    for (auto& c : expect)
      if (c == '\t') c = ' ';
    EXPECT_EQ(tok.decode(ids), expect) << s;
    for (int id : ids) EXPECT_NE(id, 1) << "unknown piece in: " << s;  // byte fallback
  }
}

TEST_P(SpRoundTrip, combining_tone_marks_decode_to_precomposed) {
  SentencePieceTokenizer tok(model(GetParam()));
  const std::string nfd = normalize(kVietnameseLetters, false);
  ASSERT_NE(nfd, kVietnameseLetters);  // the decomposed form really differs
  EXPECT_EQ(tok.decode(tok.encode(nfd)), kVietnameseLetters);
  EXPECT_EQ(tok.encode(nfd), tok.encode(kVietnameseLetters));
}

TEST_P(SpRoundTrip, streaming_decode_matches_decode_and_never_splits_a_character) {
  SentencePieceTokenizer tok(model(GetParam()));
  for (const auto& s : edge_strings()) {
    const auto ids = tok.encode(s);
    TokenStreamDecoder stream(tok);
    std::string all;
    for (int id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_EQ(utf8_invalid_offset(piece), std::string::npos) << "half a character: " << s;
      all += piece;
    }
    all += stream.finish();
    EXPECT_EQ(all, tok.decode(ids)) << s;
  }
}

TEST_P(SpRoundTrip, word_cache_gives_the_same_ids) {
  SentencePieceTokenizer tok(model(GetParam()));
  EncodeCache cache;
  for (const auto& line : vietnamese_lines(500, 3))
    EXPECT_EQ(tok.encode(line, &cache), tok.encode(line));
  for (const auto& s : edge_strings()) EXPECT_EQ(tok.encode(s, &cache), tok.encode(s));
}

INSTANTIATE_TEST_SUITE_P(tokenizer_sp, SpRoundTrip, ::testing::Values("bpe", "unigram"));

TEST(tokenizer_sp, identity_normalization_round_trips_combining_marks_byte_for_byte) {
  ScratchDir dir("sp_identity");
  SpTrainOptions opt;
  opt.inputs = {dir.write("c.txt", join_lines(vietnamese_lines(1500)))};
  opt.model_path = dir.file("id.model");
  opt.vocab_size = 500;
  opt.normalization = "identity";
  train_sentencepiece(opt);
  SentencePieceTokenizer tok(opt.model_path);
  const std::string nfd = normalize(kVietnameseLetters, false);
  EXPECT_EQ(tok.decode(tok.encode(nfd)), nfd);
  EXPECT_EQ(tok.decode(tok.encode(kVietnameseLetters)), kVietnameseLetters);
  opt.normalization = "nfc";
  EXPECT_THROW(train_sentencepiece(opt), Error);
}

TEST(tokenizer_sp, user_defined_symbols_are_single_pieces) {
  SentencePieceTokenizer tok(model("bpe"));
  const int sep = tok.token_to_id("<SEP>");
  ASSERT_GE(sep, 0);
  const auto ids = tok.encode("a<SEP>b");
  EXPECT_NE(std::find(ids.begin(), ids.end(), sep), ids.end());
}

TEST(tokenizer_sp, fixed_special_ids) {
  SentencePieceTokenizer tok(model("bpe"));
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 3);
  EXPECT_EQ(tok.vocab_size(), 560);
}

TEST(tokenizer_sp, bad_model_file_is_a_clear_error) {
  ScratchDir dir("sp_bad");
  const std::string path = dir.write("bad.model", "not a model");
  try {
    SentencePieceTokenizer tok(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.model"), std::string::npos) << e.what();
  }
}

TEST(tokenizer_sp, training_rejects_bad_options) {
  SpTrainOptions opt;
  opt.inputs = {"/nonexistent/corpus.txt"};
  opt.model_path = "/tmp/x.model";
  EXPECT_THROW(train_sentencepiece(opt), Error);
}
