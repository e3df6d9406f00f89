// The public API (include/aero/aero.h) from inside the build: the tokenizer round trip, errors
// as std::runtime_error with the module in brackets. The installed package, loading a model,
// generating and training are exercised by install.example_builds_against_installed_package.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

#include "aero/aero.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"

using aero::test::ScratchDir;

TEST(api, version_is_the_library_version) { EXPECT_STREQ(aero::api::version(), AERO_VERSION); }

TEST(api, tokenizer_round_trips_vietnamese) {
  ScratchDir d("api_tok");
  const std::string text = "Xin chào, thế giới! Tiếng Việt có dấu: ữ ặ ỹ đ";
  std::set<char32_t> chars;
  aero::collect_chars(text, chars);
  aero::CharTokenizer::from_chars(chars).save(d.file("chars.json"));
  aero::api::Tokenizer tok = aero::api::Tokenizer::load(d.file("chars.json"));
  std::vector<int> ids = tok.encode(text);
  EXPECT_EQ(ids.size(), 46u);  // one id per code point
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(tok.vocab_size(), int(chars.size()) + 4);  // + <pad> <unk> <bos> <eos>
  EXPECT_EQ(tok.eos_id(), aero::CharTokenizer::kEos);
}

TEST(api, errors_are_runtime_errors_that_name_the_module) {
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no error";
  };
  std::string missing = message([] { aero::api::Model::load("/nonexistent/aero-run"); });
  EXPECT_EQ(missing.substr(0, 1), "[") << missing;
  EXPECT_NE(missing.find("/nonexistent/aero-run"), std::string::npos) << missing;
  EXPECT_EQ(message([] { aero::api::train_json("{not json"); }),
            "[api] the training config is not valid JSON");
  std::string unknown = message([] { aero::api::train_json(R"({"train": {"lrr": 1}})"); });
  EXPECT_NE(unknown.find("lrr"), std::string::npos) << unknown;
  EXPECT_THROW(aero::api::Tokenizer::load("/nonexistent/tok.json"), std::runtime_error);
}
