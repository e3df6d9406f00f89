// SentencePiece through the SentencePiece library: train BPE or unigram, load any ".model".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace aero {

struct SpTrainOptions {
  std::vector<std::string> inputs;  // text files, one sentence per line
  std::string model_path;           // written atomically; ".model" by convention
  std::string model_type = "bpe";   // bpe | unigram
  int vocab_size = 8000;
  double character_coverage = 1.0;  // 1.0 keeps every Vietnamese letter
  bool byte_fallback = true;        // unknown characters become bytes, never <unk>
  // SentencePiece's normalizer: nmt_nfkc (default: composes tone marks, so decomposed input
  // encodes like precomposed) or identity (text kept byte for byte).
  std::string normalization = "nmt_nfkc";
  std::vector<std::string> user_defined_symbols;
  // Sentences sampled from the input so big corpora fit in memory; 0 reads them all.
  long long input_sentence_size = 2'000'000;
  unsigned seed = 1234;
  int num_threads = 2;
};

void train_sentencepiece(const SpTrainOptions& opt);

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;

  std::string kind() const override { return "sentencepiece"; }
  int eos_id() const override;
  int pad_id() const override;

 protected:
  int base_vocab_size() const override;
  void encode_base(std::string_view text, std::vector<int>& out, EncodeCache* cache) const override;
  std::string decode_base(std::span<const int> ids, bool first) const override;
  std::string base_token_bytes(int id, bool first) const override;
  int base_token_to_id(std::string_view piece) const override;

 private:
  void encode_direct(std::string_view text, std::vector<int>& out) const;
  bool probe_words_independent() const;

  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  // Encoding a line equals encoding its space-separated words one by one: true for models
  // that add a dummy prefix and collapse whitespace (SentencePiece's defaults, mT5's).
  bool words_independent_ = false;
};

}  // namespace aero
