#include "infer/chat.h"

#include "core/error.h"

namespace aero {

namespace {

std::string turn(const ChatMessage& m) {
  if (m.role == "user") return "User: " + m.content + "\n";
  if (m.role == "assistant") return "Assistant: " + m.content + "\n";
  fail("[chat] unknown role \"", m.role, "\" (expected user, assistant or system)");
}

}  // namespace

ChatPrompt build_chat_prompt(const Tokenizer& tok, const std::string& system,
                             std::span<const ChatMessage> history, int budget_tokens) {
  AERO_CHECK(budget_tokens > 0, "[chat] token budget must be > 0, got ", budget_tokens);
  std::string head = system;
  std::vector<const ChatMessage*> turns;
  for (const ChatMessage& m : history) {
    if (m.role == "system") {
      head += head.empty() ? m.content : "\n" + m.content;
    } else {
      turn(m);  // validates the role
      turns.push_back(&m);
    }
  }
  AERO_CHECK(!turns.empty(), "[chat] no user message");
  if (!head.empty()) head += "\n";
  const std::string tail = "Assistant:";

  ChatPrompt best;
  std::string body;
  for (size_t k = 1; k <= turns.size(); k++) {
    body = turn(*turns[turns.size() - k]) + body;
    std::string text = head + body + tail;
    std::vector<int> ids = tok.encode(text);
    if (static_cast<int>(ids.size()) > budget_tokens) break;
    best.text = std::move(text);
    best.ids = std::move(ids);
    best.dropped = static_cast<int>(turns.size() - k);
  }
  if (best.ids.empty()) {  // the newest message alone does not fit: keep its newest tokens
    std::vector<int> ids = tok.encode(head + turn(*turns.back()) + tail);
    best.ids.assign(ids.end() - budget_tokens, ids.end());
    best.text = tok.decode(best.ids);
    best.dropped = -1;
  }
  return best;
}

ChatPrompt build_seq2seq_chat_prompt(const Tokenizer& tok, std::span<const ChatMessage> history,
                                     int budget_tokens) {
  AERO_CHECK(budget_tokens > 0, "[chat] token budget must be > 0, got ", budget_tokens);
  const ChatMessage* newest = nullptr;
  for (const ChatMessage& m : history) {
    if (m.role == "system") continue;
    turn(m);  // validates the role
    if (m.role == "user") newest = &m;
  }
  AERO_CHECK(newest != nullptr && &history.back() == newest,
             "[chat] the conversation must end with a user message");
  ChatPrompt p;
  p.text = newest->content;
  p.ids = tok.encode(p.text);
  p.dropped = 0;
  if (int(p.ids.size()) > budget_tokens) {
    p.ids.resize(size_t(budget_tokens));
    p.text = tok.decode(p.ids);
    p.dropped = -1;
  }
  return p;
}

std::vector<std::string> chat_stop_strings() { return {"\nUser:"}; }

}  // namespace aero
