// aero chat --model M: a terminal chat with a trained model. Each turn is laid out by
// build_chat_prompt (infer/chat.h) within block_size - max_new tokens, the reply streams until
// "\nUser:" and joins the history. Commands: /reset, /system TEXT, /quit. Line editing with
// libedit on a terminal; plain lines otherwise, so `echo hi | aero chat -m M` works. Every line
// is checked to be UTF-8 and put in NFC (user_text) before it is tokenized; main() gives libedit
// a UTF-8 LC_CTYPE, so it reads and edits Vietnamese by character even under LANG=C.
#include <editline/readline.h>
#include <langinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "infer/chat.h"
#include "infer/engine.h"
#include "tokenizer/utf8.h"

namespace aero::cli {

namespace {

// The next line of input as UTF-8 in NFC, or nothing at the end. Invalid UTF-8 is an error:
// on a terminal it is reported and the line is asked for again; from a pipe it ends the chat.
std::optional<std::string> read_line(bool tty, uint64_t& line_no) {
  for (;;) {
    std::string s;
    if (tty) {
      char* l = readline("> ");
      if (!l) return std::nullopt;
      s = l;
      std::free(l);
    } else {
      if (!std::getline(std::cin, s)) return std::nullopt;
      if (!s.empty() && s.back() == '\r') s.pop_back();
    }
    ++line_no;
    try {
      s = user_text(s, tty ? "the typed line" : cat("standard input line ", line_no));
    } catch (const Error& e) {
      if (!tty) throw;
      std::fprintf(stderr, "%s\n", e.what());
      continue;
    }
    if (tty && !s.empty()) add_history(s.c_str());
    return s;
  }
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

void add_chat(CLI::App& app) {
  struct Args {
    std::string model, system, tokenizer, format, adapter, prompt_log;
    bool unmerged = false;
    int threads = 0;
    GenerateOpts gen;
  };
  auto a = std::make_shared<Args>();
  a->gen.max_new = 0;  // 0: half the context, at most 128
  a->gen.sampler.temperature = 0.8f;
  a->gen.sampler.top_p = 0.95f;
  auto* cmd = app.add_subcommand("chat", "Chat with a trained model in the terminal");
  add_model_options(cmd, a->model, a->format, a->tokenizer, a->adapter);
  add_unmerged_option(cmd, a->unmerged);
  cmd->add_option("--system", a->system, "System prompt (the first line of every prompt)");
  cmd->add_option("--max-new", a->gen.max_new,
                  "Tokens per reply at most (default: half the context, at most 128)");
  add_sampler_options(cmd, a->gen.sampler, "Sampling seed (reply i uses seed + i)");
  add_beam_options(cmd, a->gen.beam);
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->add_option("--prompt-log", a->prompt_log,
                  "Append each turn to FILE as a JSON line: the user's message as the model gets "
                  "it (UTF-8, NFC) and the whole prompt decoded from its tokens (for tests)")
      ->type_name("FILE");
  cmd->callback([a] {
    if (a->threads > 0) set_num_threads(a->threads);
    const LoadedInference loaded =
        load_inference(a->model, a->format, a->tokenizer, a->adapter, a->unmerged);
    const std::unique_ptr<Generator> engine =
        make_generator(loaded, {.max_batch = 1, .context = ContextPolicy::stop});
    const Tokenizer* tok = &engine->tokenizer();
    const int block = engine->context();
    if (a->gen.max_new <= 0) a->gen.max_new = std::min(128, block / 2);
    const int budget = block - a->gen.max_new;
    AERO_CHECK(budget >= 8, "[chat] --max-new ", a->gen.max_new, " leaves ", budget,
               " of the model's ", block,
               " tokens of context for the conversation; lower --max-new");
    const bool tty = ::isatty(STDIN_FILENO);
    std::ofstream log;
    if (!a->prompt_log.empty()) {
      log.open(a->prompt_log, std::ios::app);
      AERO_CHECK(log, "[chat] cannot open --prompt-log ", a->prompt_log);
    }
    if (tty) {
      std::printf(
          "Chat with %s (%s). /reset clears the history, /system TEXT sets the system "
          "prompt, /quit ends.\n",
          a->model.c_str(), weight_format_name(loaded.format()));
      if (std::strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        std::fprintf(stderr,
                     "[chat] no UTF-8 locale is installed (C.UTF-8), so letters outside ASCII "
                     "cannot be typed here; piped input works\n");
    }
    std::vector<ChatMessage> history;
    std::string system = user_text(a->system, "--system");
    // An encoder-decoder answers the newest message alone (build_seq2seq_chat_prompt).
    const bool seq2seq = loaded.model_config().arch().family == ModelFamily::seq2seq;
    GenerateOpts gen = a->gen;
    if (!seq2seq) gen.stop = chat_stop_strings();
    uint64_t line_no = 0;
    for (uint64_t turn = 0;; turn++) {
      std::optional<std::string> line = read_line(tty, line_no);
      if (!line || trim(*line) == "/quit") break;
      std::string msg = trim(*line);
      if (msg.empty()) continue;
      if (msg == "/reset") {
        history.clear();
        std::printf("[history cleared]\n");
        continue;
      }
      if (msg.rfind("/system", 0) == 0 && (msg.size() == 7 || msg[7] == ' ')) {
        system = trim(msg.substr(7));
        std::printf("[system prompt %s]\n", system.empty() ? "cleared" : "set");
        continue;
      }
      history.push_back({"user", msg});
      ChatPrompt p = seq2seq ? build_seq2seq_chat_prompt(*tok, history, budget)
                             : build_chat_prompt(*tok, system, history, budget);
      if (p.dropped != 0)
        std::fprintf(stderr, "[%s left out to fit the context]\n",
                     p.dropped > 0 ? "the oldest messages were"
                     : seq2seq     ? "the end of the message was"
                                   : "the oldest part of the message was");
      if (log.is_open()) {
        const nlohmann::json j{{"turn", turn}, {"message", msg}, {"prompt", tok->decode(p.ids)}};
        log << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
      }
      SeqRequest req;
      req.prompt.assign(p.ids.begin(), p.ids.end());
      req.opts = gen;
      req.opts.sampler.seed = gen.sampler.seed + turn;
      bool started = false;
      req.on_text = [&started](const std::string& t) {
        std::string out = t;
        if (!started) {  // the reply follows "Assistant:"; its leading space is layout
          out.erase(0, out.find_first_not_of(' '));
          started = !out.empty();
        }
        std::fputs(out.c_str(), stdout);
        std::fflush(stdout);
        return true;
      };
      const GenerateResult r = engine->run(std::move(req));
      std::fputs("\n", stdout);
      std::fflush(stdout);
      history.push_back({"assistant", trim(r.text)});
    }
  });
}

}  // namespace aero::cli
