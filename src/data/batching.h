// Batches for the trainer: random windows over token shards (pretraining), and padded example
// batches (seq2seq pairs, prompt / answer) with bucketed dynamic padding.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/shards.h"

namespace aero {

inline constexpr int32_t kIgnoreIndex = -100;

// B random windows of T + 1 tokens from memory-mapped shards: x = window[0..T), y = window[1..T].
// Shards are picked in proportion to their usable windows, so every start is equally likely.
class WindowSampler {
 public:
  WindowSampler(const std::vector<std::string>& shard_paths, int block_size, uint64_t seed);
  // x and y: (B, T) row-major.
  void sample(int B, std::vector<int32_t>& x, std::vector<int32_t>& y);
  // Restarts the random stream: what follows depends only on `seed` (exact resume).
  void reseed(uint64_t seed) { rng_.seed(seed); }
  uint64_t tokens() const { return total_tokens_; }
  uint32_t vocab_size() const { return shards_.front().vocab_size(); }

 private:
  std::vector<Shard> shards_;
  std::vector<uint64_t> cum_windows_;  // prefix sums of starts per shard
  int T_;
  uint64_t total_tokens_ = 0;
  std::mt19937_64 rng_;
};

// One training example: for seq2seq, input and target; for a decoder-only model, prompt in
// `input` and answer in `target` (loss on the answer only).
struct Example {
  std::vector<int32_t> input, target;
};

struct PaddingOptions {
  std::vector<int> buckets;  // e.g. {64, 128, 256}: pad up to the first boundary >= longest
  int multiple = 0;          // else round up to a multiple (8), when > 0
  int max_length = 0;        // truncate longer sequences first; 0: no limit
  int32_t pad_id = 0;
};

// Length a batch is padded to: longest 70 with buckets {64,128,256} -> 128; multiple 8 -> 72.
// Past the last bucket, the longest itself (rounded to `multiple` when set).
int padded_length(int longest, const PaddingOptions& opt);

struct Seq2SeqBatch {
  int B = 0, T_in = 0, T_out = 0;
  std::vector<int32_t> input_ids;       // (B, T_in), pad_id after the input
  std::vector<int32_t> attention_mask;  // (B, T_in), 1 on real tokens
  std::vector<int32_t> labels;          // (B, T_out), kIgnoreIndex after the target
};
Seq2SeqBatch collate_seq2seq(const std::vector<const Example*>& examples, const PaddingOptions& in,
                             const PaddingOptions& out);

// Hugging Face's shift_right of seq2seq labels (B, T): the decoder input is the start token
// then the labels moved one right, kIgnoreIndex read as pad: [a b eos -100] -> [start a b eos].
void shift_right(int32_t* out, const int32_t* labels, int64_t B, int64_t T, int32_t start,
                 int32_t pad);

struct CausalBatch {
  int B = 0, T = 0;
  std::vector<int32_t> input_ids;       // (B, T): prompt then answer, then pad_id
  std::vector<int32_t> attention_mask;  // (B, T)
  std::vector<int32_t> labels;          // (B, T): answer tokens, kIgnoreIndex elsewhere
};
CausalBatch collate_prompt_answer(const std::vector<const Example*>& examples,
                                  const PaddingOptions& opt);

// Next-token batch for a decoder-only model: each example's sequence s = input ++ target
// (capped to opt.max_length) gives x = s[0..n-1) and y = s[1..n), both padded to
// padded_length(longest n - 1) (never beyond max_length - 1): x with pad_id, y with
// kIgnoreIndex. y is also kIgnoreIndex where the next token is still the prompt (input).
// final_only keeps only each row's last real target: {a b c EOT}, T 4 ->
// x = [a b c pad], y = [ign ign EOT ign]. Right padding is safe under causal attention: no
// real position attends to a pad.
struct NextTokenBatch {
  int B = 0, T = 0;
  std::vector<int32_t> x, y;  // (B, T)
  int64_t targets = 0;        // positions of y that count (not kIgnoreIndex)
  int64_t tokens = 0;         // real (non-pad) positions of x
};
NextTokenBatch collate_next_token(const std::vector<const Example*>& examples,
                                  const PaddingOptions& opt, bool final_only = false);

// The documents of a token shard as examples: each run of tokens up to and including an
// end-of-text id is one Example with an empty prompt (the loss is on all of it). Documents of
// fewer than 2 tokens have no target and are skipped. [a b EOT EOT c EOT] -> {a b EOT}, {c EOT}.
std::vector<Example> shard_documents(const Shard& shard);

// Batches of indices grouped by length, so little of each batch is padding: shuffle, cut into
// mega-batches of `mega` batches, sort each by length (longest first), cut, shuffle the batches.
// [5, 1, 4, 2] with batch 2, mega 2 -> {{0, 2}, {3, 1}} in some seeded order.
std::vector<std::vector<size_t>> length_grouped_batches(const std::vector<size_t>& lengths,
                                                        size_t batch_size, uint64_t seed,
                                                        size_t mega = 50);

// Epochs of padded batches over tokenized examples. The order of epoch e depends only on
// (seed, e), so a resumed run that knows its epoch and batch index continues exactly.
class ExampleLoader {
 public:
  ExampleLoader(std::vector<Example> examples, size_t batch_size, uint64_t seed,
                bool group_by_length = true);
  // Batches of example indices for epoch e: length-grouped (or plainly shuffled).
  std::vector<std::vector<size_t>> epoch(uint64_t e) const;
  Seq2SeqBatch seq2seq(const std::vector<size_t>& batch, const PaddingOptions& in,
                       const PaddingOptions& out) const;
  CausalBatch prompt_answer(const std::vector<size_t>& batch, const PaddingOptions& opt) const;
  NextTokenBatch next_token(const std::vector<size_t>& batch, const PaddingOptions& opt,
                            bool final_only = false) const;
  size_t size() const { return examples_.size(); }
  const Example& example(size_t i) const { return examples_[i]; }

 private:
  std::vector<const Example*> pick(const std::vector<size_t>& batch) const;
  std::vector<Example> examples_;
  std::vector<size_t> lengths_;  // input + target, for grouping
  size_t batch_size_;
  uint64_t seed_;
  bool group_;
};

}  // namespace aero
