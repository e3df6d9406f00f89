// Chat prompts. For models trained on plain text: a system prompt and alternating turns laid
// out as lines the model can continue, trimmed from the oldest turn to a token budget.
//
//   <system prompt>\n
//   User: <message>\n
//   Assistant: <reply>\n
//   ...
//   User: <message>\n
//   Assistant:
//
// Generation stops at "\nUser:" (chat_stop_strings), so the model's reply is one turn.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace aero {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

struct ChatPrompt {
  std::string text;
  std::vector<int> ids;  // text encoded
  int dropped = 0;       // oldest messages left out to fit the budget
};

// Builds the prompt from `system` (may be empty; "system" messages in `history` are added to
// it) and `history` (the last message is the user's new one), keeping the newest messages that
// fit in budget_tokens. The newest message is always kept; if it alone is too long, its oldest
// tokens are cut and dropped is -1.
ChatPrompt build_chat_prompt(const Tokenizer& tok, const std::string& system,
                             std::span<const ChatMessage> history, int budget_tokens);

// The encoder input of an encoder-decoder (T5) in a chat: a model fine-tuned on input -> target
// pairs answers one input, so the encoder gets the newest user message alone, as it was sent
// (the system prompt and earlier turns are not part of it; dropped stays 0). A message longer
// than budget_tokens keeps its first tokens, as training truncates inputs (dropped is then -1).
ChatPrompt build_seq2seq_chat_prompt(const Tokenizer& tok, std::span<const ChatMessage> history,
                                     int budget_tokens);

std::vector<std::string> chat_stop_strings();

}  // namespace aero
