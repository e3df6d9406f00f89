// aero data clean|split|prepare
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/lines.h"
#include "core/threads.h"
#include "data/clean.h"
#include "data/readers.h"
#include "data/shards.h"
#include "data/split.h"
#include "io/atomic_file.h"
#include "tokenizer/tokenizer.h"

#include <unistd.h>
#include <filesystem>

namespace aero::cli {

namespace {

void add_reader_options(CLI::App* cmd, ReaderOptions& r) {
  cmd->add_option("--format", r.format, "auto | text | jsonl | csv | wiki | html | man")
      ->capture_default_str();
  cmd->add_option("--field", r.jsonl_field, "JSON Lines field holding the text")
      ->capture_default_str();
  cmd->add_option("--columns", r.csv_columns, "CSV columns to read")
      ->delimiter(',')
      ->capture_default_str();
}

// "\r[=========>          ] 45%  12.3 MB/s  ETA 0:12" on a terminal; nothing otherwise.
// Without a known total: "\rclean: 120.3 MB read, 45000 documents, 30.2 MB/s".
class ProgressBar {
 public:
  explicit ProgressBar(std::string label)
      : label_(std::move(label)), tty_(::isatty(2)), t0_(std::chrono::steady_clock::now()) {}
  ~ProgressBar() {
    if (shown_) std::fprintf(stderr, "\n");
  }
  void update(uint64_t done, uint64_t total) {
    if (!due(done >= total) || total == 0) return;
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int width = 30, filled = static_cast<int>(frac * width);
    const double rate = static_cast<double>(done) / std::max(1e-9, seconds());
    const int eta = rate > 0 ? static_cast<int>(static_cast<double>(total - done) / rate) : 0;
    std::fprintf(stderr, "\r%s [%s%s] %3d%%  %.1f MB/s  ETA %d:%02d ", label_.c_str(),
                 std::string(static_cast<size_t>(filled), '=').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(),
                 static_cast<int>(frac * 100), rate / 1e6, eta / 60, eta % 60);
  }
  void count(uint64_t bytes, uint64_t documents) {
    if (!due(false)) return;
    std::fprintf(stderr, "\r%s: %.1f MB read, %llu documents, %.1f MB/s ", label_.c_str(),
                 static_cast<double>(bytes) / 1e6, static_cast<unsigned long long>(documents),
                 static_cast<double>(bytes) / 1e6 / std::max(1e-9, seconds()));
  }

 private:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  // At most five redraws a second, and only on a terminal.
  bool due(bool last) {
    if (!tty_) return false;
    const double now = seconds();
    if (!last && now - last_draw_ < 0.2) return false;
    last_draw_ = now;
    shown_ = true;
    return true;
  }

  std::string label_;
  bool tty_, shown_ = false;
  std::chrono::steady_clock::time_point t0_;
  double last_draw_ = -1;
};

}  // namespace

void add_data(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Read, clean, split and tokenize corpora");
  data->require_subcommand(1);

  struct CleanArgs {
    std::vector<std::string> inputs;
    std::string output, report;
    ReaderOptions reader;
    CleanOptions clean;
    int threads = 0;
    std::string rules_file;
    bool no_nfc = false, no_sources = false, no_default_sources = false, no_symbols = false,
         no_whitespace = false, no_dedup = false;
  };
  auto ca = std::make_shared<CleanArgs>();
  auto* clean = data->add_subcommand("clean",
                                     "Read files or directories, clean them and write one text "
                                     "file (blank line between documents), or a CSV of "
                                     "cleaned rows when the output ends in .csv");
  clean->add_option("--input,-i", ca->inputs, "Files or directories")->required();
  clean->add_option("--output,-o", ca->output, "Cleaned text file")->required();
  clean->add_option("--report", ca->report, "Also write the report as JSON here");
  add_reader_options(clean, ca->reader);
  clean->add_flag("--no-nfc", ca->no_nfc, "Keep the Unicode form as it is");
  clean->add_flag("--no-sources", ca->no_sources, "Keep news source tags and bylines");
  clean->add_flag("--no-default-sources", ca->no_default_sources,
                  "Use only the --source-rule regexes");
  clean->add_option("--source-rule", ca->clean.extra_source_rules,
                    "ICU regex whose matches are removed (repeatable)");
  clean->add_option("--source-rules", ca->rules_file,
                    "File of such regexes, one per line ('#' starts a comment line)");
  clean->add_flag("--no-symbols", ca->no_symbols,
                  "Keep characters outside Latin letters, digits, punctuation");
  clean->add_option("--keep-chars", ca->clean.keep_chars, "Symbols kept besides printable ASCII")
      ->capture_default_str();
  clean->add_flag("--no-whitespace", ca->no_whitespace, "Do not collapse whitespace");
  clean->add_option("--min-chars", ca->clean.min_line_chars, "Drop lines shorter than this")
      ->capture_default_str();
  clean->add_flag("--no-dedup", ca->no_dedup, "Keep exact duplicate documents");
  clean->add_option("--threads", ca->threads, "Cleaning threads (default: all usable CPUs)");
  clean->callback([ca] {
    CleanOptions o = ca->clean;
    if (!ca->rules_file.empty()) {
      for_each_line(read_file(ca->rules_file), [&](std::string_view rule) {
        if (!rule.empty() && rule.back() == '\r') rule.remove_suffix(1);
        if (!rule.empty() && rule[0] != '#') o.extra_source_rules.emplace_back(rule);
      });
    }
    o.nfc = !ca->no_nfc;
    o.strip_sources = !ca->no_sources;
    o.default_source_rules = !ca->no_default_sources;
    o.strip_symbols = !ca->no_symbols;
    o.collapse_whitespace = !ca->no_whitespace;
    o.dedup = !ca->no_dedup;
    Cleaner cleaner(o);
    AtomicFile out(ca->output);
    ReadStats stats;
    const auto t0 = std::chrono::steady_clock::now();
    std::string buf;
    // A .csv output keeps rows: each requested column is cleaned on its own.
    const bool csv_out = ca->output.ends_with(".csv");
    if (csv_out) {
      for (const auto& c : ca->reader.csv_columns) {
        if (!buf.empty()) buf += ',';
        buf += csv_quote(c);
      }
      buf += '\n';
    }
    auto bar = std::make_unique<ProgressBar>("clean");
    const auto flush = [&] {
      bar->count(stats.bytes, stats.documents);
      if (buf.size() > (1 << 20)) {
        out.write(buf);
        buf.clear();
      }
    };
    CleanReport report;
    if (csv_out) {
      for (const auto& in : ca->inputs) {
        AERO_CHECK(detect_format(in) == "csv" || ca->reader.format == "csv", "[data] ", in,
                   ": a .csv output needs CSV inputs");
        ++stats.files;
        read_csv(
            in, ca->reader.csv_columns,
            [&](CsvRow&& row) {
              if (!cleaner.clean(row.fields)) return;
              for (size_t i = 0; i < row.fields.size(); ++i) {
                if (i) buf += ',';
                buf += csv_quote(row.fields[i]);
              }
              buf += '\n';
              flush();
            },
            stats);
      }
      report = cleaner.report();
    } else {
      uint64_t written = 0;
      report = clean_documents(
          o, ca->threads > 0 ? ca->threads : num_threads(),
          [&](const DocumentFn& sink) {
            for (const auto& in : ca->inputs) read_documents(in, ca->reader, sink, stats);
          },
          [&](Document&& doc) {
            if (written++) buf += '\n';
            buf += doc.text;
            buf += '\n';
            flush();
          });
    }
    out.write(buf);
    out.commit();
    bar.reset();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CleanReport& r = report;
    r.missing_field = stats.missing_field;
    std::printf("%s", r.to_text().c_str());
    std::printf("files:     %llu read, %llu skipped; %llu wiki pages skipped\n",
                static_cast<unsigned long long>(stats.files),
                static_cast<unsigned long long>(stats.skipped_files),
                static_cast<unsigned long long>(stats.skipped_pages));
    std::printf("speed:     %.1f MB/s (%.2f s)\n", static_cast<double>(stats.bytes) / 1e6 / secs,
                secs);
    if (!ca->report.empty()) write_file_atomic(ca->report, r.to_json() + "\n");
  });

  struct SplitArgs {
    std::string input, output;
    std::vector<double> ratios = {8, 1, 1};
    SplitOptions opt;
  };
  auto sa = std::make_shared<SplitArgs>();
  auto* split = data->add_subcommand("split", "Split by document into train / val / test files");
  split->add_option("--input,-i", sa->input, "Cleaned text (or CSV) file")->required();
  split->add_option("--output-dir,-o", sa->output, "Directory for train, val, test")->required();
  split->add_option("--ratios", sa->ratios, "train,val,test")
      ->delimiter(',')
      ->expected(3)
      ->capture_default_str();
  split->add_option("--seed", sa->opt.seed)->capture_default_str();
  add_reader_options(split, sa->opt.reader);
  split->callback([sa] {
    AERO_CHECK(sa->ratios.size() == 3, "[data] --ratios takes three numbers, e.g. 8,1,1");
    sa->opt.ratios = {sa->ratios[0], sa->ratios[1], sa->ratios[2]};
    const auto r = split_documents(sa->input, sa->output, sa->opt);
    for (int s = 0; s < 3; ++s)
      std::printf("%-28s %llu documents\n", r.paths[s].c_str(),
                  static_cast<unsigned long long>(r.documents[s]));
  });

  struct PrepareArgs {
    std::vector<std::string> inputs;
    std::string tokenizer, output;
    int threads = 0;
  };
  auto pa = std::make_shared<PrepareArgs>();
  auto* prep = data->add_subcommand(
      "prepare", "Tokenize text files (or a split directory) into memory-mapped token shards");
  prep->add_option("--input,-i", pa->inputs,
                   "Text files, or a directory holding train.txt val.txt test.txt")
      ->required();
  prep->add_option("--tokenizer,-t", pa->tokenizer, "Tokenizer model (.model or .json)")
      ->required();
  prep->add_option("--output-dir,-o", pa->output, "Where NAME.bin shards go")->required();
  prep->add_option("--threads", pa->threads, "Encoding threads (default: all usable CPUs)");
  prep->callback([pa] {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    for (const auto& in : pa->inputs) {
      if (!fs::is_directory(in)) {
        files.push_back(in);
        continue;
      }
      for (const char* name : {"train.txt", "val.txt", "test.txt"})
        if (fs::exists(fs::path(in) / name)) files.push_back((fs::path(in) / name).string());
      AERO_CHECK(!files.empty(), "[data] ", in, " has no train.txt, val.txt or test.txt");
    }
    auto tok = load_tokenizer(pa->tokenizer);
    fs::create_directories(pa->output);
    const int threads = pa->threads > 0 ? pa->threads : num_threads();
    for (const auto& f : files) {
      const std::string out = (fs::path(pa->output) / fs::path(f).stem()).string() + ".bin";
      auto bar = std::make_unique<ProgressBar>(fs::path(f).filename().string());
      const auto st = prepare_shard(
          *tok, f, out, threads, [&](uint64_t done, uint64_t total) { bar->update(done, total); });
      bar.reset();  // ends the bar's line before the summary
      std::printf(
          "%s: %llu tokens, %llu documents, %.1f MB in %.2f s (%.2f MB/s, %.0f tokens/s, "
          "%d threads)\n",
          out.c_str(), static_cast<unsigned long long>(st.tokens),
          static_cast<unsigned long long>(st.documents), static_cast<double>(st.bytes) / 1e6,
          st.seconds, static_cast<double>(st.bytes) / 1e6 / st.seconds,
          static_cast<double>(st.tokens) / st.seconds, threads);
    }
  });

  auto shard_path = std::make_shared<std::string>();
  auto* inspect = data->add_subcommand("inspect", "Check a token shard and print its header");
  inspect->add_option("shard", *shard_path, "A .bin file from aero data prepare")->required();
  inspect->callback([shard_path] {
    Shard s(*shard_path);
    std::printf("%s: version %u, %u-byte tokens, vocab %u, end-of-text %u, %llu tokens\n",
                shard_path->c_str(), kShardVersion, s.token_width(), s.vocab_size(), s.eot_id(),
                static_cast<unsigned long long>(s.size()));
    const uint64_t n = std::min<uint64_t>(s.size(), 16);
    std::printf("first tokens:");
    for (uint64_t i = 0; i < n; ++i) std::printf(" %d", s[i]);
    std::printf("\n");
  });
}

}  // namespace aero::cli
