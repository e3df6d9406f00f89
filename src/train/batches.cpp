#include "train/batches.h"

#include <algorithm>

#include "core/log.h"
#include "core/rng.h"
#include "data/examples.h"
#include "data/readers.h"
#include "tokenizer/tokenizer.h"

namespace aero {

namespace {

// Seed of the sampler that draws the batches of step s.
uint64_t step_seed(uint64_t data_seed, int64_t step) {
  return splitmix64(data_seed ^ splitmix64(uint64_t(step)));
}

// Seed of the objective's draws in micro-batch `micro` of step `step`.
uint64_t micro_seed(uint64_t data_seed, int64_t step, int micro) {
  return splitmix64(step_seed(data_seed ^ 0xd1ffu, step) ^ splitmix64(uint64_t(micro) + 1));
}

// The examples an evaluation reads, batch by batch: consecutive ones, or with opt.random the
// first batches of a length-grouped order drawn with opt.seed; at most opt.batches (0: all).
std::vector<std::vector<size_t>> eval_order(const ExampleLoader& loader, const EvalOptions& opt) {
  std::vector<std::vector<size_t>> batches;
  if (opt.random) {
    batches = loader.epoch(0);
  } else {
    for (size_t i = 0; i < loader.size(); i += size_t(opt.batch_size)) {
      batches.emplace_back();
      for (size_t j = i; j < std::min(loader.size(), i + size_t(opt.batch_size)); j++)
        batches.back().push_back(j);
    }
  }
  if (opt.batches > 0 && batches.size() > size_t(opt.batches)) batches.resize(size_t(opt.batches));
  return batches;
}

TrainBatch from_next_token(const NextTokenBatch& nb) {
  TrainBatch b;
  b.rows = nb.B, b.cols = nb.T;
  b.x = nb.x.data(), b.y = nb.y.data();
  b.targets = nb.targets;
  b.tokens = nb.tokens;
  return b;
}

// A seq2seq batch as the trainer takes it: labels in y, their shift_right in x (the decoder's
// input, starting from pad), the encoder's input in src.
struct PairBatch {
  Seq2SeqBatch sb;
  std::vector<int32_t> dec;
  TrainBatch b;

  void fill(int32_t pad) {
    dec.resize(sb.labels.size());
    shift_right(dec.data(), sb.labels.data(), sb.B, sb.T_out, pad, pad);
    b = TrainBatch{};
    b.rows = sb.B, b.cols = sb.T_out;
    b.x = dec.data(), b.y = sb.labels.data();
    b.src = sb.input_ids.data(), b.src_mask = sb.attention_mask.data(), b.src_cols = sb.T_in;
    for (int32_t l : sb.labels) b.targets += l != kIgnoreIndex;
    for (int32_t m : sb.attention_mask) b.tokens += m;
    b.tokens += b.targets;
  }
};

// A masked-diffusion SFT batch (LLaDA): each row the prompt, the answer and EOS up to the
// batch's length (at most the context T); the padding belongs to the answer.
struct SftBatch {
  CausalBatch cb;
  std::vector<int32_t> x, prompt;
  TrainBatch b;

  void fill(const ExampleLoader& loader, const std::vector<size_t>& idx, const PaddingOptions& pad,
            int T) {
    std::vector<const Example*> rows;
    for (size_t i : idx) rows.push_back(&loader.example(i));
    cb = collate_prompt_answer(rows, pad);
    const int64_t B = cb.B, cols = std::min(cb.T, T);
    x.assign(size_t(B * cols), pad.pad_id);
    prompt.resize(size_t(B));
    b = TrainBatch{};
    for (int64_t r = 0; r < B; r++) {
      std::copy_n(cb.input_ids.begin() + r * cb.T, cols, x.begin() + r * cols);
      prompt[size_t(r)] = int32_t(std::min<int64_t>(int64_t(rows[size_t(r)]->input.size()), cols));
      b.targets += cols - prompt[size_t(r)];
    }
    b.rows = B, b.cols = cols;
    b.x = b.y = x.data();
    b.prompt_len = prompt.data();
    b.tokens = B * cols;
  }
};

struct PairData {
  std::vector<Example> examples;
  PaddingOptions in, out;
  PaddingOptions sft;  // the rows of an SFT or (causal) next-token batch
  int T = 0;
  bool causal = false;
};

PairData load_pairs(const std::string& path, const PairsOptions& o, const std::vector<int>& buckets,
                    int T) {
  PairData d;
  int32_t pad = 0;
  d.examples = read_pair_examples(path, o, nullptr, &pad);
  d.in.buckets = d.out.buckets = d.sft.buckets = buckets;
  d.in.multiple = d.out.multiple = d.sft.multiple = o.multiple;
  d.in.max_length = o.max_input;
  d.out.max_length = o.max_target;
  d.in.pad_id = d.out.pad_id = pad;
  if (o.sft) {
    AERO_CHECK(o.max_input + o.max_target <= T, "[train] data.max_input (", o.max_input,
               ") + data.max_target (", o.max_target, ") must fit model.block_size (", T,
               "): a masked-diffusion row holds the prompt and the answer");
    d.sft.max_length = T;
    d.sft.pad_id = pad;  // the EOS (read_pair_examples)
    d.T = T;
  }
  if (o.causal) {
    // x and y are one shorter than a row: prompt ++ answer ++ EOS fits in T + 1 tokens.
    AERO_CHECK(o.max_input + o.max_target <= T + 1, "[train] data.max_input (", o.max_input,
               ") + data.max_target (", o.max_target, ") must fit model.block_size + 1 (", T + 1,
               "): a decoder-only row holds the prompt and the answer");
    d.sft.max_length = T + 1;
    d.sft.pad_id = pad;
    d.T = T;
    d.causal = true;
  }
  return d;
}

// The batch of examples idx, seq2seq, (d.causal) next-token or (sft) SFT, in memory this holds.
struct PairBatchBuilder {
  PairBatch seq2seq;
  SftBatch sft;
  NextTokenBatch causal;
  TrainBatch causal_b;
  TrainBatch& build(const PairData& d, const ExampleLoader& loader, const std::vector<size_t>& idx,
                    bool is_sft) {
    if (d.causal) {
      causal = loader.next_token(idx, d.sft);
      causal_b = from_next_token(causal);
      return causal_b;
    }
    if (is_sft) {
      sft.fill(loader, idx, d.sft, d.T);
      return sft.b;
    }
    seq2seq.sb = loader.seq2seq(idx, d.in, d.out);
    seq2seq.fill(d.in.pad_id);
    return seq2seq.b;
  }
};

class PairBatches final : public BatchSource {
 public:
  PairBatches(const std::string& path, const BatchOptions& o)
      : o_(o),
        data_(load_pairs(path, o.pair, o.buckets, o.block_size)),
        loader_(std::move(data_.examples), size_t(o.batch_size), o.seed) {
    n_batches_ = loader_.epoch(0).size();
  }
  const TrainBatch& get(int64_t step, int micro) override {
    const uint64_t m = uint64_t(step) * uint64_t(o_.grad_accum) + uint64_t(micro);
    if (m / n_batches_ != epoch_loaded_) {
      epoch_loaded_ = m / n_batches_;
      epoch_ = loader_.epoch(epoch_loaded_);
    }
    TrainBatch& b = builder_.build(data_, loader_, epoch_[m % n_batches_], o_.pair.sft);
    b.seed = micro_seed(o_.seed, step, micro);
    return b;
  }
  uint64_t epoch_batches() const override { return n_batches_; }

 private:
  BatchOptions o_;
  PairData data_;
  ExampleLoader loader_;
  std::vector<std::vector<size_t>> epoch_;
  uint64_t n_batches_ = 0, epoch_loaded_ = ~uint64_t(0);
  PairBatchBuilder builder_;
};

void for_each_pair_batch(const std::string& path, int T, const EvalOptions& opt,
                         const std::function<void(const TrainBatch&)>& fn) {
  PairData d = load_pairs(path, opt.pair, opt.buckets, T);
  ExampleLoader loader(std::move(d.examples), size_t(opt.batch_size), opt.seed);
  const std::vector<std::vector<size_t>> batches = eval_order(loader, opt);
  PairBatchBuilder builder;
  uint64_t k = 0;
  for (const auto& idx : batches) {
    TrainBatch& b = builder.build(d, loader, idx, opt.pair.sft);
    b.seed = splitmix64(opt.seed ^ splitmix64(k++));
    fn(b);
  }
}

class WindowBatches final : public BatchSource {
 public:
  WindowBatches(const std::string& shard, const BatchOptions& o)
      : o_(o), sampler_({shard}, o.block_size, 0) {}
  const TrainBatch& get(int64_t step, int micro) override {
    if (micro == 0) sampler_.reseed(step_seed(o_.seed, step));
    sampler_.sample(o_.batch_size, x_, y_);
    b_.rows = o_.batch_size, b_.cols = o_.block_size;
    b_.x = x_.data(), b_.y = y_.data();
    b_.final_only = o_.final_only;
    b_.targets = o_.final_only ? b_.rows : b_.rows * b_.cols;
    b_.tokens = b_.rows * b_.cols;
    b_.seed = micro_seed(o_.seed, step, micro);
    return b_;
  }
  uint64_t epoch_batches() const override {
    const uint64_t window = uint64_t(o_.batch_size) * uint64_t(o_.block_size);
    return std::max<uint64_t>(1, (sampler_.tokens() + window - 1) / window);
  }

 private:
  BatchOptions o_;
  WindowSampler sampler_;
  std::vector<int32_t> x_, y_;  // the tape reads the batch until backward: it lives here
  TrainBatch b_;
};

// Micro-batch m of the run is batch m % n of epoch m / n: a function of the step alone.
class ExampleBatches final : public BatchSource {
 public:
  ExampleBatches(const std::string& shard, const BatchOptions& o) : o_(o) {
    Shard s(shard);
    pad_ = example_padding(o.buckets, o.block_size, int32_t(s.eot_id()));
    loader_ = std::make_unique<ExampleLoader>(shard_documents(s), size_t(o.batch_size), o.seed);
    AERO_CHECK(loader_->size() > 0, "[train] data.train ", shard,
               " holds no document of 2 or more tokens (data.mode = examples)");
    n_batches_ = loader_->epoch(0).size();
  }
  const TrainBatch& get(int64_t step, int micro) override {
    const uint64_t m = uint64_t(step) * uint64_t(o_.grad_accum) + uint64_t(micro);
    if (m / n_batches_ != epoch_loaded_) {
      epoch_loaded_ = m / n_batches_;
      epoch_ = loader_->epoch(epoch_loaded_);
    }
    nb_ = loader_->next_token(epoch_[m % n_batches_], pad_, o_.final_only);
    b_ = from_next_token(nb_);
    b_.seed = micro_seed(o_.seed, step, micro);
    return b_;
  }
  uint64_t epoch_batches() const override { return n_batches_; }

 private:
  BatchOptions o_;
  PaddingOptions pad_;
  std::unique_ptr<ExampleLoader> loader_;
  std::vector<std::vector<size_t>> epoch_;
  uint64_t n_batches_ = 0, epoch_loaded_ = ~uint64_t(0);
  NextTokenBatch nb_;
  TrainBatch b_;
};

void for_each_example_batch(const std::string& shard, int T, const EvalOptions& opt,
                            const std::function<void(const TrainBatch&)>& fn) {
  Shard s(shard);
  const PaddingOptions pad = example_padding(opt.buckets, T, int32_t(s.eot_id()));
  ExampleLoader loader(shard_documents(s), size_t(opt.batch_size), opt.seed);
  AERO_CHECK(loader.size() > 0, "[eval] ", shard, " holds no document of 2 or more tokens");
  const std::vector<std::vector<size_t>> batches = eval_order(loader, opt);
  uint64_t k = 0;
  for (const auto& idx : batches) {
    const NextTokenBatch nb = loader.next_token(idx, pad, opt.final_only);
    TrainBatch b = from_next_token(nb);
    b.seed = splitmix64(opt.seed ^ splitmix64(k++));
    fn(b);
  }
}

}  // namespace

TrainBatch TrainBatch::rows_slice(int64_t b, int64_t e) const {
  TrainBatch s = *this;
  s.rows = e - b;
  s.row0 = row0 + b;
  s.batch_rows = all_rows();
  s.x = x + b * cols;
  s.y = y + b * cols;
  if (prompt_len) s.prompt_len = prompt_len + b;
  if (src) {
    s.src = src + b * src_cols;
    s.src_mask = src_mask + b * src_cols;
  }
  return s;
}

std::vector<Example> read_pair_examples(const std::string& path, const PairsOptions& opt,
                                        uint64_t* dropped, int32_t* pad_id) {
  AERO_CHECK(!opt.tokenizer.empty(), "[train] data.mode = pairs needs data.tokenizer to encode ",
             path);
  AERO_CHECK(opt.max_input >= 2 && opt.max_target >= 2 && opt.multiple >= 0,
             "[train] data.max_input and data.max_target must be >= 2, data.pad_multiple >= 0");
  const auto tok = load_tokenizer(opt.tokenizer);
  const int eos = tok->eos_id();
  const bool prompt_answer = opt.sft || opt.causal;  // one row: no EOS between the two
  if (opt.causal) {
    AERO_CHECK(eos >= 0, "[train] data.tokenizer ", opt.tokenizer,
               " has no end-of-text token; a decoder-only model's answers end with it");
  } else if (opt.sft) {
    AERO_CHECK(eos >= 0, "[train] data.tokenizer ", opt.tokenizer,
               " has no end-of-text token; masked-diffusion answers end with it and are padded "
               "with it");
  } else {
    AERO_CHECK(tok->pad_id() >= 0, "[train] data.tokenizer ", opt.tokenizer,
               " has no pad id; seq2seq pads with it and starts the decoder from it");
  }
  if (pad_id) *pad_id = int32_t(prompt_answer ? eos : tok->pad_id());
  EncodeCache cache;
  // As Hugging Face's T5 tokenizer: cut, then end with EOS (a prompt before its answer has none).
  auto encode = [&](const std::string& text, int max, bool end) {
    if (end) return encode_with_eos(*tok, text, max, &cache);
    std::vector<int> ids = tok->encode(text, &cache);
    if (ids.size() > size_t(max)) ids.resize(size_t(max));
    return std::vector<int32_t>(ids.begin(), ids.end());
  };
  ReadStats st;
  std::vector<Example> out;
  read_pairs(
      path, opt.input_column, opt.target_column,
      [&](TextPair&& p) {
        out.push_back({encode(p.input, opt.max_input, !prompt_answer),
                       encode(p.target, opt.max_target, true)});
      },
      st);
  AERO_CHECK(!out.empty(), "[data] ", path, ": no row has both '", opt.input_column, "' and '",
             opt.target_column, "' (", st.missing_field,
             " rows dropped for a missing or empty field)");
  if (st.missing_field > 0)
    log_info("[data] ", path, ": ", st.missing_field, " rows dropped (missing or empty '",
             opt.input_column, "' or '", opt.target_column, "'), ", out.size(), " kept");
  if (dropped) *dropped = st.missing_field;
  return out;
}

PaddingOptions example_padding(const std::vector<int>& buckets, int block_size, int32_t pad_id) {
  for (size_t i = 0; i < buckets.size(); i++)
    AERO_CHECK(
        buckets[i] > 0 && buckets[i] <= block_size && (i == 0 || buckets[i] > buckets[i - 1]),
        "[train] data.buckets must be ascending lengths in 1..model.block_size (", block_size,
        "), got ", nlohmann::json(buckets).dump());
  PaddingOptions p;
  p.buckets = buckets;
  p.max_length = block_size + 1;  // x and y are one shorter
  p.pad_id = pad_id;
  return p;
}

std::unique_ptr<BatchSource> open_train_batches(const std::string& shard, const BatchOptions& opt) {
  if (opt.pairs) return std::make_unique<PairBatches>(shard, opt);
  if (opt.examples) return std::make_unique<ExampleBatches>(shard, opt);
  return std::make_unique<WindowBatches>(shard, opt);
}

void for_each_eval_batch(const std::string& shard, int T, const EvalOptions& opt,
                         const std::function<void(const TrainBatch&)>& fn) {
  AERO_CHECK(opt.batch_size > 0 && opt.batches >= 0 && (!opt.random || opt.batches > 0),
             "[eval] batch size must be > 0, and random windows need a number of batches");
  if (opt.pairs) return for_each_pair_batch(shard, T, opt, fn);
  if (opt.examples) return for_each_example_batch(shard, T, opt, fn);
  std::vector<int32_t> x, y;
  TrainBatch b;
  b.cols = T;
  b.final_only = opt.final_only;
  uint64_t k = 0;
  auto emit = [&](int64_t rows) {
    b.rows = rows;
    b.seed = splitmix64(opt.seed ^ splitmix64(k++));
    b.x = x.data(), b.y = y.data();
    b.targets = opt.final_only ? rows : rows * T;
    b.tokens = rows * T;
    fn(b);
  };
  if (opt.random) {
    WindowSampler sampler({shard}, T, opt.seed);
    for (int i = 0; i < opt.batches; i++) {
      sampler.sample(opt.batch_size, x, y);
      emit(opt.batch_size);
    }
    return;
  }
  // Every consecutive window: tokens [kT, kT + T] for k = 0, 1, ...
  Shard s(shard);
  int64_t rows = 0;
  const int64_t max_windows = int64_t(opt.batches) * opt.batch_size;
  for_each_window(s, shard, T, max_windows, [&](const int32_t* w) {
    x.resize(size_t(rows + 1) * size_t(T));
    y.resize(size_t(rows + 1) * size_t(T));
    std::copy(w, w + T, x.begin() + rows * T);
    std::copy(w + 1, w + T + 1, y.begin() + rows * T);
    if (++rows == opt.batch_size) {
      emit(rows);
      rows = 0;
    }
  });
  if (rows > 0) emit(rows);
}

}  // namespace aero
