#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "data/atomic_file.h"

namespace aero {

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string join(const std::vector<std::string>& v, const char* what) {
  std::string out;
  for (const auto& s : v) {
    AERO_CHECK(s.find(',') == std::string::npos, "[tokenizer] ", what, " cannot contain ',': ", s);
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

}  // namespace

void train_sentencepiece(const SpTrainOptions& opt) {
  AERO_CHECK(!opt.inputs.empty(), "[tokenizer] no training input given");
  for (const auto& f : opt.inputs)
    AERO_CHECK(std::filesystem::exists(f), "[tokenizer] no such file: ", f);
  AERO_CHECK(opt.model_type == "bpe" || opt.model_type == "unigram",
             "[tokenizer] model type must be bpe or unigram, got ", opt.model_type);
  AERO_CHECK(opt.vocab_size > 4, "[tokenizer] vocab size ", opt.vocab_size, " is too small");
  std::unordered_map<std::string, std::string> kw{
      {"input", join(opt.inputs, "input file names")},
      {"model_type", opt.model_type},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"character_coverage", std::to_string(opt.character_coverage)},
      {"byte_fallback", opt.byte_fallback ? "true" : "false"},
      {"input_sentence_size", std::to_string(opt.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(opt.num_threads)},
      {"max_sentence_length", "16384"},
      // Fixed ids so every aero model agrees: pad 0, unk 1, bos 2, eos 3.
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"minloglevel", "2"},
  };
  if (!opt.user_defined_symbols.empty())
    kw["user_defined_symbols"] = join(opt.user_defined_symbols, "user-defined symbols");
  sentencepiece::SetRandomGeneratorSeed(opt.seed);
  std::string proto;
  const auto st = sentencepiece::SentencePieceTrainer::Train(kw, nullptr, &proto);
  AERO_CHECK(st.ok(), "[tokenizer] SentencePiece training failed: ", st.ToString());
  write_file_atomic(opt.model_path, proto);
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path)
    : path_(model_path), sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto st = sp_->Load(model_path);
  AERO_CHECK(st.ok(), "[tokenizer] ", model_path, ": not a SentencePiece model (", st.ToString(),
             ")");
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }
int SentencePieceTokenizer::pad_id() const { return sp_->pad_id(); }
int SentencePieceTokenizer::base_vocab_size() const { return sp_->GetPieceSize(); }

void SentencePieceTokenizer::encode_base(std::string_view text, std::vector<int>& out) const {
  std::vector<int> ids;
  const auto st = sp_->Encode(absl::string_view(text.data(), text.size()), &ids);
  AERO_CHECK(st.ok(), "[tokenizer] encode failed: ", st.ToString());
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode_base(std::span<const int> ids, bool first) const {
  std::string out;
  const auto st = sp_->Decode(std::vector<int>(ids.begin(), ids.end()), &out);
  AERO_CHECK(st.ok(), "[tokenizer] decode failed: ", st.ToString());
  // After a special token the library still drops the leading space; put it back.
  if (!first && !ids.empty() && ids[0] >= 0 && ids[0] < sp_->GetPieceSize() &&
      sp_->IdToPiece(ids[0]).starts_with(kSpace))
    out.insert(out.begin(), ' ');
  return out;
}

std::string SentencePieceTokenizer::base_token_bytes(int id, bool first) const {
  if (sp_->IsControl(id)) return "";
  if (sp_->IsUnknown(id)) return " \xE2\x81\x87 ";  // SentencePiece's surface for <unk>: " ⁇ "
  const std::string& piece = sp_->IdToPiece(id);
  if (sp_->IsByte(id))
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  std::string out;
  size_t i = 0;
  while (i < piece.size()) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      if (!(first && i == 0)) out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

int SentencePieceTokenizer::base_token_to_id(std::string_view piece) const {
  const int id = sp_->PieceToId(absl::string_view(piece.data(), piece.size()));
  // PieceToId answers unk_id for unknown pieces.
  if (id == sp_->unk_id() && piece != sp_->IdToPiece(id)) return -1;
  return id;
}

}  // namespace aero
