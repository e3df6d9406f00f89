// aero quickstart: from a fresh machine to a chatting Vietnamese model in one command. Installs
// the Vietnamese corpus from Debian packages, keeps its Vietnamese lines, cleans them, trains a
// SentencePiece tokenizer and a small GPT for a bounded time, compares the model with a unigram
// model of the data, prints samples, writes the charts, fine-tunes the GPT on questions and
// answers made from the same help pages (data/instruct.h) and opens the terminal chat with it.
// Every product goes into one run directory; a re-run reuses what is there (--fresh redoes it).
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/lines.h"
#include "core/threads.h"
#include "data/clean.h"
#include "data/instruct.h"
#include "data/readers.h"
#include "data/shards.h"
#include "data/split.h"
#include "infer/chat.h"
#include "infer/engine.h"
#include "infer/generate.h"
#include "io/atomic_file.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "train/checkpoint.h"
#include "train/plot.h"
#include "train/trainer.h"

namespace aero::cli {

namespace fs = std::filesystem;

namespace {

struct QuickstartArgs {
  std::string dir = "runs/quickstart";
  float minutes = 10;
  float chat_share = 0.2f;  // of the minutes, for the chat fine-tune; the rest trains the base
  int max_docs = 0;         // per source; 0: all
  int vocab_size = 4000;
  int threads = 0;
  bool fresh = false, no_chat = false, no_serve = false;
  int port = 8080;
};

// Where the Vietnamese text of each Debian package lies, and how to read it.
struct CorpusSource {
  std::string package, path;
  bool man;  // gzip-compressed man pages (roff) rather than HTML
};

const std::vector<CorpusSource>& corpus_sources() {
  static const std::vector<CorpusSource> s = {
      {"maint-guide-vi", "/usr/share/doc/maint-guide-vi/html", false},
      {"manpages-vi", "/usr/share/man/vi", true},
      {"libreoffice-help-vi", "/usr/share/libreoffice/help/vi", false},
  };
  return s;
}

void say(const std::string& s) {
  std::printf("quickstart: %s\n", s.c_str());
  std::fflush(stdout);
}

// Installs the packages whose files are missing with apt-get (through sudo unless root).
void install_corpus_packages() {
  std::string missing;
  for (const auto& s : corpus_sources())
    if (!fs::exists(s.path)) missing += " " + s.package;
  if (missing.empty()) return;
  const std::string sudo = ::geteuid() == 0 ? "" : "sudo ";
  const std::string install =
      sudo + "env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends" +
      missing + " > /dev/null";
  say("installing the Vietnamese corpus (Debian packages):" + missing);
  say("running: " + install);
  if (std::system(install.c_str()) != 0) {
    // A fresh machine has no package lists yet.
    say("running: " + sudo + "apt-get update -qq");
    std::system((sudo + "apt-get update -qq").c_str());
    AERO_CHECK(std::system(install.c_str()) == 0, "[quickstart] could not install", missing,
               "; install them with apt-get (as root) and run aero quickstart again");
  }
  for (const auto& s : corpus_sources())
    AERO_CHECK(fs::exists(s.path), "[quickstart] ", s.package, " is installed but ", s.path,
               " is missing");
}

// Regular files under dir, sorted, so the corpus is the same on every machine.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

struct SourceCount {
  uint64_t docs = 0, bytes = 0, vi_bytes = 0;  // text read; of it, in Vietnamese lines
};

// Builds DIR/corpus.txt: the Vietnamese lines of every source, cleaned (NFC, symbols,
// whitespace, short lines, duplicates); documents separated by a blank line.
void build_corpus(const QuickstartArgs& a, const std::string& corpus) {
  std::vector<SourceCount> counts(corpus_sources().size());
  const auto produce = [&](const DocumentFn& sink) {
    for (size_t k = 0; k < corpus_sources().size(); k++) {
      const CorpusSource& src = corpus_sources()[k];
      SourceCount& c = counts[k];
      // Keeps a document's Vietnamese lines; the rest is counted, then dropped.
      const auto keep_vietnamese = [&](Document&& doc) {
        std::string kept;
        for_each_line(doc.text, [&](std::string_view line) {
          c.bytes += line.size();
          // libreoffice-help-vi ends each page with "Title is: <title>", debug output.
          if (!is_vietnamese_line(line) || line.starts_with("Title is:")) return;
          c.vi_bytes += line.size();
          kept.append(line);
          kept += '\n';
        });
        c.docs++;
        if (kept.empty()) return;
        doc.text = std::move(kept);
        sink(std::move(doc));
      };
      ReadStats stats;
      for (const std::string& f : files_under(src.path)) {
        if (a.max_docs > 0 && c.docs >= uint64_t(a.max_docs)) break;
        if (f.ends_with(src.man ? ".gz" : ".html"))
          read_documents(f, {.format = src.man ? "man" : "html"}, keep_vietnamese, stats);
      }
    }
  };
  AtomicFile out(corpus);
  std::string buf;
  uint64_t written = 0;
  const CleanReport report =
      clean_documents(CleanOptions{}, num_threads(), produce, [&](Document&& doc) {
        if (written++) buf += '\n';
        buf += doc.text;
        buf += '\n';
      });
  out.write(buf);
  out.commit();
  uint64_t all = 0, vi = 0;
  for (size_t k = 0; k < counts.size(); k++) {
    const SourceCount& c = counts[k];
    all += c.bytes;
    vi += c.vi_bytes;
    char line[200];
    std::snprintf(
        line, sizeof line, "  %-20s %5llu documents, %6.2f MB of text, %5.1f%% in Vietnamese lines",
        corpus_sources()[k].package.c_str(), static_cast<unsigned long long>(c.docs),
        double(c.bytes) / 1e6, 100.0 * double(c.vi_bytes) / double(std::max<uint64_t>(c.bytes, 1)));
    say(line);
  }
  char line[200];
  std::snprintf(
      line, sizeof line,
      "kept %.2f of %.2f MB (%.1f%%): the Vietnamese lines; after cleaning %.2f MB in %llu "
      "documents -> %s",
      double(vi) / 1e6, double(all) / 1e6, 100.0 * double(vi) / double(std::max<uint64_t>(all, 1)),
      double(buf.size()) / 1e6, static_cast<unsigned long long>(report.docs_out), corpus.c_str());
  say(line);
  AERO_CHECK(report.docs_out >= 10, "[quickstart] the corpus holds only ", report.docs_out,
             " documents; raise --max-docs");
}

// Cross-entropy (nats per token) of a unigram model fitted on the training tokens (add-one
// smoothing, so no token has probability 0) on the validation tokens.
double unigram_entropy(const std::string& train_shard, const std::string& val_shard) {
  Shard train(train_shard), val(val_shard);
  std::vector<double> count(train.vocab_size(), 1.0);
  for (uint64_t i = 0; i < train.size(); i++) count[size_t(train[i])] += 1.0;
  const double total = double(train.size()) + double(train.vocab_size());
  double nll = 0;
  for (uint64_t i = 0; i < val.size(); i++) nll -= std::log(count[size_t(val[i])] / total);
  return nll / double(std::max<uint64_t>(val.size(), 1));
}

// The model quickstart trains: seed 001's shape (RoPE, pre-LN, no biases) at 4 layers, 128 wide,
// context 128 -- about 1.3 M weights besides the embeddings, which 2 cores train at roughly
// 20,000 tokens/s: 10 minutes see the corpus a few times over.
RunConfig quickstart_config(const QuickstartArgs& a, int vocab, const std::string& dir) {
  RunConfig c;
  // The corpus is small (about 0.5 M tokens): 10 minutes are many epochs, so dropout, and the
  // best checkpoint (early stop after 3 evaluations without progress) is the one kept.
  c.model = ModelConfig::from_json({{"arch", "gpt"},
                                    {"vocab_size", vocab},
                                    {"block_size", 128},
                                    {"n_layer", 4},
                                    {"n_head", 4},
                                    {"n_embd", 128},
                                    {"ffn_hidden", 512},
                                    {"dropout_emb", 0.1},
                                    {"dropout_attn", 0.1},
                                    {"dropout_resid", 0.1}});
  c.train.early_stop = 3;
  c.train.batch_size = 16;
  c.train.optim.lr = 2e-3f;
  c.train.min_lr = 1e-4f;
  c.train.optim.weight_decay = 0.1f;
  c.train.eval_batches = 20;
  c.train.log_every = 10;
  c.train.keep_last = 1;
  c.train.threads = a.threads;
  c.train.max_minutes = a.minutes;
  c.train.out_dir = dir + "/model";
  c.data.train = dir + "/shards/train.bin";
  c.data.val = dir + "/shards/val.bin";
  c.data.test = "";
  c.data.tokenizer = dir + "/tokenizer.model";
  return c;
}

// Steps that fit in the time limit, so the cosine schedule ends when the time does: 12 steps
// timed in a scratch directory, the first 4 (warm-up of caches and threads) left out.
int steps_for_minutes(RunConfig c, float minutes) {
  const std::string scratch = c.train.out_dir + ".calibrate";
  fs::remove_all(scratch);
  c.train.out_dir = scratch;
  c.train.max_steps = 12;
  c.train.warmup_steps = 0;
  c.train.eval_every = 0;
  c.train.max_minutes = 0;
  c.train.log_every = 4;
  {
    Trainer t(c);
    t.run();
  }
  std::vector<double> elapsed;  // at steps 4, 8, 12
  std::ifstream in(scratch + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("elapsed_s")) elapsed.push_back(j["elapsed_s"].get<double>());
  }
  fs::remove_all(scratch);
  AERO_CHECK(elapsed.size() == 3, "[quickstart] timing run wrote ", elapsed.size(),
             " metrics lines, expected 3");
  const double per_step = (elapsed[2] - elapsed[0]) / 8.0;
  // 10% for evaluations and checkpoints.
  return std::max(20, int(double(minutes) * 60.0 * 0.9 / std::max(per_step, 1e-6)));
}

// The chat fine-tune's rows: the prompt exactly as `aero chat` and `aero serve` lay out a first
// turn (build_chat_prompt, no system prompt), the answer as the reply that follows it.
constexpr int kChatMaxInput = 56, kChatMaxTarget = 73;  // tokens; together the context + 1

struct InstructFiles {
  size_t train = 0, val = 0;
};

// Builds DIR/instruct/{train,val}.jsonl from every help page and man page of the corpus
// packages: questions from headings and NAME lines, answers from the paragraphs under them
// (data/instruct.h), held out by page. Pairs whose prompt or answer does not fit the context
// are left out.
InstructFiles build_instruct_files(const Tokenizer& tok, const std::string& dir) {
  std::vector<InstructPair> pairs;
  for (const CorpusSource& src : corpus_sources()) {
    for (const std::string& f : files_under(src.path)) {
      // Named by the path inside the package, so the held-out pages are the same everywhere.
      const std::string source = src.package + ":" + fs::relative(f, src.path).string();
      std::vector<InstructPair> page;
      if (src.man && f.ends_with(".gz"))
        page = man_instruct_pairs(read_gzip(f), source);
      else if (!src.man && f.ends_with(".html"))
        page = html_instruct_pairs(read_file(f), source);
      for (InstructPair& p : page) pairs.push_back(std::move(p));
    }
  }
  const InstructSet set = build_instruct_set(pairs);
  say(cat("instruction set: ", pairs.size(), " question/answer pairs from ", set.pages, " pages; ",
          set.generic, " dropped as generic headings (on more than 3 pages), ", set.duplicates,
          " as repeated questions"));
  fs::create_directories(dir + "/instruct");
  InstructFiles n;
  size_t too_long = 0;
  for (const bool val : {false, true}) {
    const std::string path = dir + "/instruct/" + (val ? "val" : "train") + ".jsonl";
    std::string out;
    for (const InstructPair& p : val ? set.val : set.train) {
      const ChatMessage turn{"user", p.question};
      const std::string prompt = build_chat_prompt(tok, "", {&turn, 1}, 1 << 20).text;
      if (int(tok.encode(prompt).size()) > kChatMaxInput ||
          int(tok.encode(p.answer).size()) + 1 > kChatMaxTarget) {
        too_long++;
        continue;
      }
      out += nlohmann::json{{"input_text", prompt},
                            {"target_text", p.answer},
                            {"question", p.question},
                            {"source", p.source}}
                 .dump() +
             "\n";
      (val ? n.val : n.train)++;
    }
    AtomicFile file(path);
    file.write(out);
    file.commit();
  }
  say(cat("instruction set: ", n.train, " train / ", n.val, " held-out pairs (", set.val_pages,
          " of ", set.pages, " pages held out; ", too_long, " left out as longer than ",
          kChatMaxInput, " + ", kChatMaxTarget, " tokens) -> ", dir, "/instruct/"));
  return n;
}

// The fine-tune: every weight of the base (for a model this small, full fine-tuning gave lower
// held-out answer loss than LoRA in the same time: docs/quickstart.md), prompt ++ answer rows
// with the loss on the answer and its EOS.
RunConfig chat_config(const RunConfig& base, const ModelConfig& model, const std::string& init,
                      const std::string& dir, float minutes) {
  RunConfig c = base;
  c.model = model;
  c.lora = LoraConfig{};
  c.train.init_from = init;
  c.train.optim.lr = 5e-4f;
  c.train.min_lr = 5e-5f;
  c.train.max_minutes = minutes;
  c.train.out_dir = dir + "/chat";
  c.train.eval_batches = 100;  // of 16 pairs: the whole held-out set
  c.data.mode = DataMode::pairs;
  c.data.train = dir + "/instruct/train.jsonl";
  c.data.val = dir + "/instruct/val.jsonl";
  c.data.test = "";
  c.data.max_input = kChatMaxInput;
  c.data.max_target = kChatMaxTarget;
  c.data.pad_multiple = 8;
  return c;
}

// Mean loss per answer token (its EOS included) of a model on the held-out pairs.
double held_out_answer_loss(const std::string& ckpt, const RunConfig& chat) {
  LoadedModel m = load_model(ckpt);
  Tape tape;
  EvalOptions eo;
  eo.batch_size = 16;
  eo.pairs = true;
  eo.pair = pair_options(chat.data);
  return evaluate_shard(*m.model, m.cfg, tape, chat.data.val, eo).loss;
}

// The base model's best checkpoint (the last one unless it overfitted).
std::string best_checkpoint(const std::string& run_dir) {
  std::string best;
  std::ifstream(run_dir + "/best") >> best;
  return best.empty() ? run_dir : run_dir + "/" + best;
}

// Fine-tunes the base on the instruction set in `minutes` (reused when DIR/chat holds a model),
// prints the held-out answer loss before and after and a few held-out answers; returns the chat
// model, or "" when the help pages gave too few pairs (the chat then uses the base).
std::string train_chat_model(const RunConfig& base_cfg, const LoadedModel& base,
                             const std::string& base_ckpt, const Tokenizer& tok,
                             const std::string& dir, float minutes) {
  const std::string train = dir + "/instruct/train.jsonl", val = dir + "/instruct/val.jsonl";
  if (fs::exists(train) && fs::exists(val)) {
    say("reusing the instruction set " + dir + "/instruct/ (--fresh to redo)");
  } else {
    build_instruct_files(tok, dir);
  }
  size_t n_train = 0, n_val = 0;
  for (const auto& [path, n] : {std::pair{train, &n_train}, std::pair{val, &n_val}}) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) *n += !line.empty();
  }
  if (n_train < 50 || n_val < 5) {
    say(cat("only ", n_train, " train / ", n_val,
            " held-out pairs (50 / 5 needed): no chat fine-tune; the chat uses the base model"));
    return "";
  }
  RunConfig cfg = chat_config(base_cfg, base.cfg, base_ckpt, dir, minutes);
  const std::string chat_dir = cfg.train.out_dir;
  const double before = held_out_answer_loss(base_ckpt, cfg);
  if (fs::is_directory(chat_dir) && !find_checkpoint(chat_dir).empty()) {
    say("reusing the chat model in " + chat_dir + " (--fresh to train again)");
  } else {
    fs::remove_all(chat_dir);
    cfg.train.max_steps = steps_for_minutes(cfg, minutes);
    cfg.train.eval_every = std::max(10, cfg.train.max_steps / 8);
    cfg.train.warmup_steps = std::min(20, cfg.train.max_steps / 10);
    say(cat("fine-tuning every weight on ", n_train, " pairs: ", cfg.train.max_steps, " steps of ",
            cfg.train.batch_size, " pairs in about ", minutes,
            " minutes; loss on the answers only"));
    Trainer(cfg).run();
  }
  const std::string ckpt = best_checkpoint(chat_dir);
  const double after = held_out_answer_loss(ckpt, cfg);
  std::printf(
      "quickstart: held-out answer loss %.4f -> %.4f nats/token (base -> chat model, %zu "
      "held-out pairs from pages never trained on)\n",
      before, after, n_val);
  // Three held-out questions, spread over the set (man pages, guide, LibreOffice help),
  // answered by the chat model.
  const LoadedModel chat = load_model(ckpt);
  const InferenceModel im(chat.cfg, *chat.store, WeightFormat::f32);
  GenerateOpts go;
  go.max_new = kChatMaxTarget;
  go.sampler.temperature = 0.7f;
  go.sampler.top_p = 0.9f;
  go.stop = chat_stop_strings();
  std::ifstream in(val);
  std::string line;
  for (size_t i = 0, k = 0; k < 3 && std::getline(in, line); i++) {
    if (i != k * n_val / 3) continue;
    const auto j = nlohmann::json::parse(line);
    go.sampler.seed = ++k;
    const GenerateResult g = generate(im, tok, j["input_text"].get<std::string>(), go);
    const size_t start = std::min(g.text.find_first_not_of(' '), g.text.size());
    std::printf("  hỏi:      %s\n  đáp:      %s\n  sách nói: %s\n",
                j["question"].get<std::string>().c_str(),
                start < g.text.size() ? g.text.c_str() + start : "(nothing: it ended at once)",
                j["target_text"].get<std::string>().c_str());
  }
  return chat.dir;
}

// Runs this same program with `args` as a child; returns its pid.
pid_t spawn_self(std::vector<std::string> args, const std::string& log_file) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  AERO_CHECK(pid >= 0, "[quickstart] fork failed: ", std::strerror(errno));
  if (pid == 0) {
    std::signal(SIGINT, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the quickstart (closed terminal, kill)
    if (!log_file.empty()) {
      FILE* log = std::fopen(log_file.c_str(), "a");
      if (log) {
        ::dup2(::fileno(log), 1);
        ::dup2(::fileno(log), 2);
      }
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "aero: could not start %s: %s\n", args[1].c_str(), std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

// The end of the quickstart: the trained model served (web chat page, OpenAI-compatible API)
// by `aero serve` in the background, and the terminal chat (`aero chat`) in the foreground.
// When the chat ends, the server keeps serving until Ctrl-C. Replies are kept to `max_new`
// tokens so the 128-token context keeps room for the question.
void chat_and_serve(const std::string& ckpt, const std::string& dir, int port, bool serve,
                    bool chat_model) {
  const std::string max_new = chat_model ? "64" : "48";
  pid_t server = -1;
  if (serve) {
    const std::string log = dir + "/serve.log";
    server = spawn_self({"aero", "serve", "-m", ckpt, "--port", std::to_string(port), "--sessions",
                         dir + "/sessions.db", "--max-tokens", max_new,
                         // No system prompt: the chat model's prompts had none in training.
                         "--system-prompt", ""},
                        log);
    say("serving the model at http://127.0.0.1:" + std::to_string(port) +
        "/ (web chat; OpenAI-compatible API at /v1; log " + log + ")");
  }
  say("opening the chat: aero chat -m " + ckpt + " --max-new " + max_new +
      (chat_model ? " (a small model fine-tuned on single questions about LibreOffice, Debian "
                    "packaging and shell commands: ask one thing at a time, /reset between "
                    "topics; /quit or Ctrl-D ends it)"
                  : " (a model of documentation text, not a dialogue model; /quit or Ctrl-D "
                    "ends it)"));
  // Ctrl-C goes to the whole process group: the chat and the server handle it themselves.
  std::signal(SIGINT, SIG_IGN);
  int status = 0;
  const pid_t chat = spawn_self({"aero", "chat", "-m", ckpt, "--max-new", max_new}, "");
  ::waitpid(chat, &status, 0);
  if (server <= 0) return;
  if (::waitpid(server, &status, WNOHANG) == server) {
    say("the server has stopped (see " + dir + "/serve.log)");
    return;
  }
  say("chat closed; still serving at http://127.0.0.1:" + std::to_string(port) +
      "/ — Ctrl-C stops it");
  ::waitpid(server, &status, 0);
}

}  // namespace

void add_quickstart(CLI::App& app) {
  auto a = std::make_shared<QuickstartArgs>();
  auto* cmd = app.add_subcommand(
      "quickstart",
      "Install a Vietnamese corpus, train a tokenizer and a small GPT, fine-tune it on questions "
      "from the help pages, then chat with it");
  cmd->add_option("--dir", a->dir,
                  "Run directory: corpus, tokenizer, shards, model, charts, instruct, chat")
      ->capture_default_str();
  cmd->add_option("--minutes", a->minutes,
                  "Training time in all: 80% for the base GPT, 20% for the chat fine-tune")
      ->capture_default_str();
  cmd->add_option("--vocab-size", a->vocab_size, "SentencePiece vocabulary")->capture_default_str();
  cmd->add_option("--max-docs", a->max_docs,
                  "Read at most this many documents of each package for the corpus (0: all; for a "
                  "quick try; the instruction set reads every page)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->add_flag("--fresh", a->fresh, "Redo everything instead of reusing the run directory");
  cmd->add_flag(
      "--no-chat", a->no_chat,
      "End after the chat fine-tune (also when stdin is no terminal): no chat, no server");
  cmd->add_flag("--no-serve", a->no_serve, "Chat in the terminal only, without aero serve");
  cmd->add_option("--port", a->port, "Port of the web chat and API")->capture_default_str();
  cmd->callback([a] {
    AERO_CHECK(a->minutes > 0 && a->vocab_size > 0 && a->max_docs >= 0,
               "[quickstart] --minutes and --vocab-size must be > 0");
    if (a->threads > 0) set_num_threads(a->threads);
    const std::string& dir = a->dir;
    if (a->fresh && fs::exists(dir)) {
      say("--fresh: removing " + dir);
      fs::remove_all(dir);
    }
    fs::create_directories(dir);
    const auto reuse = [&](const std::string& path, const std::string& what) {
      if (!fs::exists(path)) return false;
      say("reusing " + what + " " + path + " (--fresh to redo)");
      return true;
    };

    say("[1/7] Vietnamese corpus");
    const std::string corpus = dir + "/corpus.txt";
    if (!reuse(corpus, "the corpus")) {
      install_corpus_packages();
      build_corpus(*a, corpus);
    }

    say("[2/7] split and SentencePiece tokenizer");
    const std::string tok_path = dir + "/tokenizer.model";
    if (!reuse(tok_path, "the tokenizer")) {
      SplitOptions so;
      const SplitResult sr = split_documents(corpus, dir + "/split", so);
      say(cat("split: ", sr.documents[0], " / ", sr.documents[1], " / ", sr.documents[2],
              " documents (train / val / test)"));
      SpTrainOptions to;
      to.inputs = {sr.paths[0]};
      to.model_path = tok_path;
      to.vocab_size = a->vocab_size;
      to.num_threads = num_threads();
      train_sentencepiece(to);
      fs::remove_all(dir + "/shards");  // made with another tokenizer
    }
    auto tok = load_tokenizer(tok_path);
    say(cat("tokenizer: ", tok_path, ", ", tok->vocab_size(), " tokens (BPE)"));

    say("[3/7] token shards");
    fs::create_directories(dir + "/shards");
    for (const char* part : {"train", "val", "test"}) {
      const std::string shard = dir + "/shards/" + part + ".bin";
      if (fs::exists(shard)) continue;
      const PrepareStats st =
          prepare_shard(*tok, dir + "/split/" + part + ".txt", shard, num_threads());
      say(cat(shard, ": ", st.tokens, " tokens"));
    }

    const float base_minutes = a->minutes * (1 - a->chat_share);
    const float chat_minutes = a->minutes * a->chat_share;
    say(cat("[4/7] training the base GPT (", base_minutes, " of the ", a->minutes, " minutes; ",
            chat_minutes, " are kept for the chat fine-tune)"));
    RunConfig cfg = quickstart_config(*a, tok->vocab_size(), dir);
    cfg.train.max_minutes = base_minutes;
    const std::string model_dir = cfg.train.out_dir;
    if (fs::is_directory(model_dir) && !find_checkpoint(model_dir).empty()) {
      say("reusing the model in " + model_dir + " (--fresh to train again)");
    } else {
      fs::remove_all(model_dir);
      say(cat("timing 12 steps to fit the learning-rate schedule into ", base_minutes, " minutes"));
      cfg.train.max_steps = steps_for_minutes(cfg, base_minutes);
      cfg.train.eval_every = std::max(10, cfg.train.max_steps / 12);
      cfg.train.warmup_steps = std::min(50, cfg.train.max_steps / 10);
      const nlohmann::json mj = cfg.model.to_json();
      say(cat("GPT: ", mj["n_layer"].get<int>(), " layers, ", mj["n_embd"].get<int>(),
              " wide, context ", cfg.model.context(), "; ", cfg.train.max_steps, " steps of ",
              cfg.train.batch_size, " x ", cfg.model.context(), " tokens in about ", base_minutes,
              " minutes"));
      Trainer trainer(cfg);
      trainer.on_eval = [](const std::string& run_dir) {
        try {
          write_run_charts(run_dir);
        } catch (const Error&) {
          // charts are redrawn at the end
        }
      };
      trainer.run();
    }

    say("[5/7] validation loss vs a unigram model");
    const std::string ckpt = best_checkpoint(model_dir);
    LoadedModel m = load_model(ckpt);
    say("model: " + m.dir);
    Tape tape;
    EvalOptions eo;
    eo.batch_size = 16;
    eo.batches = 100;
    const EvalResult ev = evaluate_shard(*m.model, m.cfg, tape, cfg.data.val, eo);
    const double uni = unigram_entropy(cfg.data.train, cfg.data.val);
    std::printf(
        "quickstart: val loss %.4f nats/token (perplexity %.1f) on %lld tokens\n"
        "quickstart: unigram entropy %.4f nats/token (perplexity %.1f): a model that ignores "
        "context\n"
        "quickstart: the GPT is %s the unigram model by %.3f nats/token\n",
        ev.loss, ev.ppl, static_cast<long long>(ev.tokens), uni, std::exp(uni),
        ev.loss < uni ? "better than" : "NOT better than", std::abs(uni - ev.loss));

    say("[6/7] samples (temperature 0.8, top-p 0.95)");
    GenerateOpts go;
    go.max_new = 60;
    go.sampler.temperature = 0.8f;
    go.sampler.top_p = 0.95f;
    const InferenceModel im(m.cfg, *m.store, WeightFormat::f32);
    int k = 0;
    for (const char* prompt : {"Để cài đặt", "Trong Debian,", "Nhấn vào"}) {
      go.sampler.seed = uint64_t(++k);
      const GenerateResult g = generate(im, *tok, prompt, go);
      // Decoded with the prompt, so the space between the two is kept (a text's first piece
      // loses its leading space when decoded on its own).
      std::vector<int> ids = tok->encode(prompt);
      ids.insert(ids.end(), g.tokens.begin(), g.tokens.end());
      std::printf("  %s\n", tok->decode(ids).c_str());
    }
    for (const std::string& chart : write_run_charts(model_dir)) say("chart: " + chart);

    say(cat("[7/7] chat fine-tune: questions and answers from the help pages (", chat_minutes,
            " minutes)"));
    const std::string chat = train_chat_model(cfg, m, m.dir, *tok, dir, chat_minutes);
    const std::string serve = chat.empty() ? m.dir : chat;
    const char* max_new = chat.empty() ? "48" : "64";
    if (a->no_chat || !::isatty(0)) {
      say(cat("done. Chat with it: aero chat -m ", serve, " --max-new ", max_new,
              "; serve it: aero serve -m ", serve, " --max-tokens ", max_new,
              chat.empty() ? "" : " --system-prompt ''"));
      return;
    }
    chat_and_serve(serve, dir, a->port, !a->no_serve, !chat.empty());
  });
}

}  // namespace aero::cli
