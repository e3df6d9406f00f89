#include <gtest/gtest.h>

#include "core/error.h"
#include "infer/chat.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;

namespace {

CharTokenizer ascii_tokenizer() {
  std::set<char32_t> chars;
  collect_chars("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ :\n.?!", chars);
  return CharTokenizer::from_chars(chars);
}

}  // namespace

TEST(chat, prompt_lays_out_system_and_turns) {
  CharTokenizer tok = ascii_tokenizer();
  std::vector<ChatMessage> h = {{"user", "hi"}, {"assistant", "hello"}, {"user", "how are you?"}};
  ChatPrompt p = build_chat_prompt(tok, "Be brief.", h, 1000);
  EXPECT_EQ(p.text, "Be brief.\nUser: hi\nAssistant: hello\nUser: how are you?\nAssistant:");
  EXPECT_EQ(p.dropped, 0);
  EXPECT_EQ(p.ids, tok.encode(p.text));
}

TEST(chat, oldest_turns_are_dropped_to_fit_the_budget) {
  CharTokenizer tok = ascii_tokenizer();
  std::vector<ChatMessage> h = {
      {"user", "first question"}, {"assistant", "first answer"}, {"user", "second"}};
  const std::string newest = "S\nUser: second\nAssistant:";
  // Exactly the newest turn fits: both older ones go.
  ChatPrompt p = build_chat_prompt(tok, "S", h, static_cast<int>(newest.size()));
  EXPECT_EQ(p.text, newest);
  EXPECT_EQ(p.dropped, 2);
  // One more turn fits when the budget grows by its length.
  const int with_answer =
      static_cast<int>(newest.size() + std::string("Assistant: first answer\n").size());
  p = build_chat_prompt(tok, "S", h, with_answer);
  EXPECT_EQ(p.dropped, 1);
  EXPECT_EQ(p.text, "S\nAssistant: first answer\nUser: second\nAssistant:");
  EXPECT_LE(static_cast<int>(p.ids.size()), with_answer);
}

TEST(chat, an_overlong_message_keeps_its_newest_tokens) {
  CharTokenizer tok = ascii_tokenizer();
  std::vector<ChatMessage> h = {{"user", std::string(200, 'a') + "END"}};
  ChatPrompt p = build_chat_prompt(tok, "", h, 20);
  EXPECT_EQ(p.dropped, -1);
  EXPECT_EQ(p.ids.size(), 20u);
  EXPECT_EQ(p.text, "aaaaaaEND\nAssistant:");
}

TEST(chat, system_messages_join_the_system_prompt_and_bad_roles_fail) {
  CharTokenizer tok = ascii_tokenizer();
  std::vector<ChatMessage> h = {{"system", "Answer in one line."}, {"user", "hi"}};
  EXPECT_EQ(build_chat_prompt(tok, "You are aero.", h, 100).text,
            "You are aero.\nAnswer in one line.\nUser: hi\nAssistant:");
  std::vector<ChatMessage> bad = {{"robot", "x"}};
  EXPECT_THROW(build_chat_prompt(tok, "", bad, 100), Error);
  std::vector<ChatMessage> none = {{"system", "x"}};
  EXPECT_THROW(build_chat_prompt(tok, "", none, 100), Error);
  EXPECT_THROW(build_chat_prompt(tok, "", h, 0), Error);
}
