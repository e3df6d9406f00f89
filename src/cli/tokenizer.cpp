// aero tokenizer train|encode|decode|add-tokens
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/readers.h"
#include "io/atomic_file.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/stream_decoder.h"

namespace aero::cli {

namespace {

// Lines of a file, or of stdin for "-".
void for_each_line(const std::string& path, const std::function<void(const std::string&)>& fn) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    AERO_CHECK(file, "[tokenizer] cannot open ", path);
    in = &file;
  }
  std::string line;
  while (std::getline(*in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
    fn(line);
  }
}

// Training reads plain lines: .txt files go as they are; any other input (JSON Lines, CSV, wiki
// dumps, HTML, directories) is read into a temporary text file first, removed afterwards.
class TrainingText {
 public:
  TrainingText(const std::vector<std::string>& inputs, const ReaderOptions& reader) {
    for (const auto& in : inputs) {
      if (!std::filesystem::is_directory(in) && reader.format == "auto" &&
          detect_format(in) == "text") {
        files_.push_back(in);
        continue;
      }
      if (tmp_.empty()) {
        tmp_ = (std::filesystem::temp_directory_path() /
                ("aero_tokenizer_" + std::to_string(::getpid()) + ".txt"))
                   .string();
        out_ = std::make_unique<std::ofstream>(tmp_, std::ios::binary);
        AERO_CHECK(*out_, "[tokenizer] cannot write ", tmp_);
        files_.push_back(tmp_);
      }
      ReadStats stats;
      read_documents(
          in, reader, [&](Document&& d) { *out_ << d.text << '\n'; }, stats);
    }
    if (out_) {
      out_->close();
      AERO_CHECK(!out_->fail(), "[tokenizer] write failed on ", tmp_);
    }
  }
  ~TrainingText() {
    if (!tmp_.empty()) std::filesystem::remove(tmp_);
  }
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::vector<std::string> files_;
  std::string tmp_;
  std::unique_ptr<std::ofstream> out_;
};

}  // namespace

void add_tokenizer(CLI::App& app) {
  auto* tk = app.add_subcommand("tokenizer", "Train, use and extend tokenizers");
  tk->require_subcommand(1);

  struct TrainArgs {
    std::string type = "bpe";
    std::vector<std::string> inputs;
    std::string output;
    int vocab_size = 8000;
    double coverage = 1.0;
    bool no_byte_fallback = false;
    std::vector<std::string> symbols;
    long long sample = 2'000'000;
    unsigned seed = 1234;
    std::string normalization = "nmt_nfkc";
    ReaderOptions reader;
  };
  auto ta = std::make_shared<TrainArgs>();
  auto* train =
      tk->add_subcommand("train", "Train a SentencePiece (bpe, unigram) or char tokenizer");
  train->add_option("--type", ta->type, "bpe | unigram | char")->capture_default_str();
  train
      ->add_option("--input,-i", ta->inputs,
                   "Text files (one sentence per line), or any aero data input")
      ->required();
  train->add_option("--format", ta->reader.format, "Input format for non-.txt inputs")
      ->capture_default_str();
  train->add_option("--field", ta->reader.jsonl_field, "JSON Lines field")->capture_default_str();
  train->add_option("--columns", ta->reader.csv_columns, "CSV columns")->delimiter(',');
  train->add_option("--output,-o", ta->output, "Model file (.model, or .json for char)")
      ->required();
  train->add_option("--vocab-size", ta->vocab_size)->capture_default_str();
  train->add_option("--character-coverage", ta->coverage)->capture_default_str();
  train->add_flag("--no-byte-fallback", ta->no_byte_fallback);
  train->add_option("--user-symbols", ta->symbols, "Pieces never split (comma list)")
      ->delimiter(',');
  train->add_option("--sample", ta->sample, "Sentences sampled for training (0: all)")
      ->capture_default_str();
  train->add_option("--seed", ta->seed)->capture_default_str();
  train
      ->add_option("--normalization", ta->normalization,
                   "nmt_nfkc (decomposed tone marks encode like precomposed) | identity | nfkc")
      ->capture_default_str();
  train->callback([ta] {
    const TrainingText text(ta->inputs, ta->reader);
    if (ta->type == "char") {
      std::set<char32_t> chars;
      bool any_line = false;
      for (const auto& f : text.files())
        for_each_line(f, [&](const std::string& line) {
          collect_chars(line, chars);
          any_line = true;
        });
      if (any_line) chars.insert(U'\n');  // documents keep their line breaks
      auto tok = CharTokenizer::from_chars(chars);
      tok.save(ta->output);
      std::printf("char tokenizer: %d ids -> %s\n", tok.vocab_size(), ta->output.c_str());
      return;
    }
    SpTrainOptions opt;
    opt.inputs = text.files();
    opt.model_path = ta->output;
    opt.model_type = ta->type;
    opt.vocab_size = ta->vocab_size;
    opt.character_coverage = ta->coverage;
    opt.byte_fallback = !ta->no_byte_fallback;
    opt.user_defined_symbols = ta->symbols;
    opt.input_sentence_size = ta->sample;
    opt.seed = ta->seed;
    opt.normalization = ta->normalization;
    opt.num_threads = num_threads();
    train_sentencepiece(opt);
    std::printf("%s tokenizer: %d ids -> %s\n", ta->type.c_str(), ta->vocab_size,
                ta->output.c_str());
  });

  struct UseArgs {
    std::string model, input = "-", text;
  };
  auto ea = std::make_shared<UseArgs>();
  auto* enc = tk->add_subcommand("encode", "Text to ids, one line in, one line of ids out");
  enc->add_option("--model,-m", ea->model)->required();
  enc->add_option("--input,-i", ea->input, "Text file ('-': stdin)")->capture_default_str();
  enc->add_option("--text,-t", ea->text, "Encode this text instead of a file");
  enc->callback([ea] {
    auto tok = load_tokenizer(ea->model);
    EncodeCache cache;
    std::string out;
    const auto emit = [&](const std::string& line) {
      const auto ids = tok->encode(line, &cache);
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ' ';
        out += std::to_string(ids[i]);
      }
      out += '\n';
      if (out.size() > (1 << 16)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    };
    if (!ea->text.empty())
      emit(ea->text);
    else
      for_each_line(ea->input, emit);
    std::fwrite(out.data(), 1, out.size(), stdout);
  });

  auto da = std::make_shared<UseArgs>();
  auto* dec = tk->add_subcommand("decode", "Ids to text, one line of ids in, one line out");
  dec->add_option("--model,-m", da->model)->required();
  dec->add_option("--input,-i", da->input, "File of ids ('-': stdin)")->capture_default_str();
  dec->add_option("--ids", da->text, "Decode these ids (space separated) instead of a file");
  dec->callback([da] {
    auto tok = load_tokenizer(da->model);
    const auto emit = [&](const std::string& line) {
      std::istringstream is(line);
      std::vector<int> ids;
      std::string w;
      while (is >> w) {
        try {
          ids.push_back(std::stoi(w));
        } catch (const std::exception&) {
          fail("[tokenizer] not an id: '", w, "'");
        }
      }
      std::printf("%s\n", tok->decode(ids).c_str());
    };
    if (!da->text.empty())
      emit(da->text);
    else
      for_each_line(da->input, emit);
  });

  auto aa = std::make_shared<std::pair<std::string, std::vector<std::string>>>();
  auto* add = tk->add_subcommand(
      "add-tokens", "Add special tokens (never split) to a tokenizer; saved beside the model");
  add->add_option("--model,-m", aa->first)->required();
  add->add_option("tokens", aa->second, "e.g. <TIKTOK> <FACEBOOK> <YOUTUBE> <COMMENT>")->required();
  add->callback([aa] {
    auto tok = load_tokenizer(aa->first);
    const auto ids = tok->add_special_tokens(aa->second);
    tok->save_added(aa->first);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s\t%d\n", aa->second[i].c_str(), ids[i]);
    std::printf("vocab size: %d (saved in %s)\n", tok->vocab_size(),
                added_tokens_path(aa->first).c_str());
  });

  auto model = std::make_shared<std::string>();
  auto* info = tk->add_subcommand("info", "Show a tokenizer's kind, sizes and special ids");
  info->add_option("--model,-m", *model)->required();
  info->callback([model] {
    auto tok = load_tokenizer(*model);
    std::printf("%s: %s, %d ids\n", model->c_str(), tok->kind().c_str(), tok->vocab_size());
    std::printf("pad %d, end-of-text %d", tok->pad_id(), tok->eos_id());
    if (tok->newline_id() >= 0) std::printf(", newline %d", tok->newline_id());
    std::printf("\n");
    for (const auto& t : tok->special_tokens())
      std::printf("special %s\t%d\n", t.c_str(), tok->token_to_id(t));
  });
}

}  // namespace aero::cli
