#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "test_data_util.h"
#include "tokenizer/gpt2_bpe.h"

using namespace aero;
using namespace aero::test;

namespace {

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view p : gpt2_pretokenize(text)) out.emplace_back(p);
  return out;
}

using V = std::vector<std::string>;

}  // namespace

// Worked examples of GPT-2's pattern, each checked by hand against the regex's alternatives.
TEST(tokenizer_gpt2, pretokenize_follows_the_gpt2_pattern) {
  EXPECT_EQ(pieces(""), V{});
  EXPECT_EQ(pieces("Hello world!!"), (V{"Hello", " world", "!!"}));
  EXPECT_EQ(pieces("I'm here  now"), (V{"I", "'m", " here", " ", " now"}));
  EXPECT_EQ(pieces("don't 'S"), (V{"don", "'t", " '", "S"}));
  EXPECT_EQ(pieces("a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(pieces("x   "), (V{"x", "   "}));
  EXPECT_EQ(pieces("3.14 x2"), (V{"3", ".", "14", " x", "2"}));
  EXPECT_EQ(pieces("Tiếng Việt, đẹp quá"), (V{"Tiếng", " Việt", ",", " đẹp", " quá"}));
  EXPECT_EQ(pieces("\t tab"), (V{"\t", " tab"}));
  EXPECT_EQ(pieces("a\xff b"), (V{"a", "\xff", " b"}));  // an invalid byte is an "other"
}

TEST(tokenizer_gpt2, byte_symbols_are_gpt2s) {
  EXPECT_EQ(gpt2_byte_symbol('A'), "A");
  EXPECT_EQ(gpt2_byte_symbol(' '), "Ġ");
  EXPECT_EQ(gpt2_byte_symbol('\n'), "Ċ");
  EXPECT_EQ(gpt2_byte_symbol(0xAD), "Ń");
  EXPECT_EQ(gpt2_byte_symbol(0xFF), "ÿ");
}

TEST(tokenizer_gpt2, merges_by_rank_and_round_trips) {
  ScratchDir dir("gpt2_bpe");
  // Every byte symbol, then the merges' results, then <|endoftext|>.
  std::string vocab = "{";
  int id = 0;
  auto entry = [&](const std::string& token) {
    vocab.append("\"").append(token).append("\": ").append(std::to_string(id++)).append(", ");
  };
  for (int b = 0; b < 256; b++) {
    const std::string& s = gpt2_byte_symbol(uint8_t(b));
    entry(s == "\"" || s == "\\" ? std::string("\\").append(s) : s);
  }
  for (const char* t : {"lo", "low", "Ġlow", "er", "Ġlower"}) entry(t);
  vocab.append("\"<|endoftext|>\": ").append(std::to_string(id)).append("}");
  dir.write("vocab.json", vocab);
  dir.write("merges.txt", "#version: 0.2\nl o\nlo w\nĠ low\ne r\nĠlow er\n");
  const auto tok = load_tokenizer(dir.path.string());
  EXPECT_EQ(tok->kind(), "gpt2-bpe");
  EXPECT_EQ(tok->vocab_size(), 262);
  EXPECT_EQ(tok->eos_id(), 261);
  EXPECT_EQ(tok->newline_id(), tok->token_to_id("Ċ"));
  // "lower lower": "lower" -> lo, low, then "er" -> [low, er]; " lower" -> Ġlow then Ġlower.
  EXPECT_EQ(tok->encode("lower lower"), (std::vector<int>{257, 259, 260}));
  EXPECT_EQ(tok->encode("low<|endoftext|>"), (std::vector<int>{257, 261}));
  for (const char* text : {"lower lower", "Tiếng Việt 😀\n\tx", "", "<|endoftext|>a"})
    EXPECT_EQ(tok->decode(tok->encode(text)), text);
  dir.write("merges.txt", "l o\nlo x\n");
  try {
    load_tokenizer(dir.file("vocab.json"));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merges.txt:2: the merge of 'lo' and 'x' is not in"),
              std::string::npos)
        << e.what();
  }
}
