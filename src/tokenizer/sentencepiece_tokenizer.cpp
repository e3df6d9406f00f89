#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "io/atomic_file.h"

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

// Reads a protobuf varint at p; false when it runs past end.
bool read_varint(const char*& p, const char* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Finds field `field` in a serialized protobuf message: its varint value, or its bytes for a
// length-delimited field. The model's proto header is not installed, so this reads the two
// fields needed directly (ModelProto.trainer_spec = 2, TrainerSpec.model_type = 3).
bool find_field(std::string_view msg, uint32_t field, uint64_t* value, std::string_view* bytes) {
  const char* p = msg.data();
  const char* end = p + msg.size();
  while (p < end) {
    uint64_t tag, v;
    if (!read_varint(p, end, tag)) return false;
    const auto wire = static_cast<uint32_t>(tag & 7);
    const auto num = static_cast<uint32_t>(tag >> 3);
    if (wire == 0) {
      if (!read_varint(p, end, v)) return false;
      if (num == field && value) return *value = v, true;
    } else if (wire == 2) {
      if (!read_varint(p, end, v) || v > static_cast<uint64_t>(end - p)) return false;
      if (num == field && bytes) return *bytes = std::string_view(p, v), true;
      p += v;
    } else if (wire == 5) {
      p += 4;
    } else if (wire == 1) {
      p += 8;
    } else {
      return false;
    }
  }
  return false;
}

}  // namespace

void train_sentencepiece(const SpTrainOptions& opt) {
  AERO_CHECK(!opt.inputs.empty(), "[tokenizer] no training input given");
  for (const auto& f : opt.inputs)
    AERO_CHECK(std::filesystem::exists(f), "[tokenizer] no such file: ", f);
  AERO_CHECK(opt.model_type == "bpe" || opt.model_type == "unigram",
             "[tokenizer] model type must be bpe or unigram, got ", opt.model_type);
  AERO_CHECK(
      opt.normalization == "nmt_nfkc" || opt.normalization == "nfkc" ||
          opt.normalization == "identity" || opt.normalization == "nmt_nfkc_cf" ||
          opt.normalization == "nfkc_cf",
      "[tokenizer] normalization must be nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf or identity, got ",
      opt.normalization);
  AERO_CHECK(opt.vocab_size > 4, "[tokenizer] vocab size ", opt.vocab_size, " is too small");
  std::unordered_map<std::string, std::string> kw{
      {"input", join(opt.inputs, "input file names")},
      {"model_type", opt.model_type},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"character_coverage", std::to_string(opt.character_coverage)},
      {"byte_fallback", opt.byte_fallback ? "true" : "false"},
      {"normalization_rule_name", opt.normalization},
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
  // Only BPE: its merges never cross a space, so words encode alone exactly. Unigram's Viterbi
  // sums scores along the whole line, and float ties can then break differently.
  std::string_view spec;
  uint64_t model_type = 1;  // TrainerSpec's default: UNIGRAM
  const std::string proto = read_file(model_path);
  if (find_field(proto, 2, nullptr, &spec)) find_field(spec, 3, &model_type, nullptr);
  words_independent_ = model_type == 2 && probe_words_independent();
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }
int SentencePieceTokenizer::pad_id() const { return sp_->pad_id(); }
int SentencePieceTokenizer::base_vocab_size() const { return sp_->GetPieceSize(); }

void SentencePieceTokenizer::encode_direct(std::string_view text, std::vector<int>& out) const {
  std::vector<int> ids;
  const auto st = sp_->Encode(absl::string_view(text.data(), text.size()), &ids);
  AERO_CHECK(st.ok(), "[tokenizer] encode failed: ", st.ToString());
  out.insert(out.end(), ids.begin(), ids.end());
}

void SentencePieceTokenizer::encode_base(std::string_view text, std::vector<int>& out,
                                         EncodeCache* cache) const {
  if (!cache || !words_independent_) return encode_direct(text, out);
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(i, end - i);
    if (const auto* hit = cache->find(word)) {
      out.insert(out.end(), hit->begin(), hit->end());
    } else {
      std::vector<int> ids;
      encode_direct(word, ids);
      out.insert(out.end(), ids.begin(), ids.end());
      cache->put(word, std::move(ids));
    }
    i = end;
  }
}

bool SentencePieceTokenizer::probe_words_independent() const {
  static const char* const kProbes[] = {"Tiếng Việt là ngôn ngữ", "a  b\tc  ",  " x y z",
                                        "3.14 và 2,5% nhé",       "😀 xin chào", "A.B C-D"};
  for (const char* p : kProbes) {
    std::vector<int> whole, words;
    encode_direct(p, whole);
    const std::string_view s(p);
    size_t i = 0;
    while (i < s.size()) {
      const size_t end = std::min(s.find(' ', i), s.size());
      if (end > i) encode_direct(s.substr(i, end - i), words);
      i = end + 1;
    }
    if (whole != words) return false;
  }
  return true;
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
