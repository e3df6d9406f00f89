#include "data/batching.h"

#include <algorithm>

#include "core/error.h"

namespace aero {

WindowSampler::WindowSampler(const std::vector<std::string>& shard_paths, int block_size,
                             uint64_t seed)
    : T_(block_size), rng_(seed) {
  AERO_CHECK(block_size > 0, "[data] block size must be positive, got ", block_size);
  AERO_CHECK(!shard_paths.empty(), "[data] no shards given");
  uint64_t cum = 0;
  for (const auto& p : shard_paths) {
    Shard s(p);
    AERO_CHECK(shards_.empty() || s.vocab_size() == shards_.front().vocab_size(), "[data] ", p,
               ": vocab size ", s.vocab_size(), " differs from the first shard's ",
               shards_.front().vocab_size());
    total_tokens_ += s.size();
    if (s.size() > static_cast<uint64_t>(block_size))
      cum += s.size() - static_cast<uint64_t>(block_size);
    cum_windows_.push_back(cum);
    shards_.push_back(std::move(s));
  }
  AERO_CHECK(cum > 0, "[data] the shards hold fewer than block size + 1 = ", block_size + 1,
             " tokens; use a smaller block size or more data");
}

void WindowSampler::sample(int B, std::vector<int32_t>& x, std::vector<int32_t>& y) {
  const size_t T = static_cast<size_t>(T_);
  x.resize(static_cast<size_t>(B) * T);
  y.resize(static_cast<size_t>(B) * T);
  std::vector<int32_t> window(T + 1);
  for (int b = 0; b < B; ++b) {
    const uint64_t r = rng_() % cum_windows_.back();
    const size_t s = static_cast<size_t>(
        std::upper_bound(cum_windows_.begin(), cum_windows_.end(), r) - cum_windows_.begin());
    const uint64_t start = r - (s == 0 ? 0 : cum_windows_[s - 1]);
    shards_[s].read(start, T + 1, window.data());
    std::copy(window.begin(), window.end() - 1, x.begin() + static_cast<ptrdiff_t>(b * T));
    std::copy(window.begin() + 1, window.end(), y.begin() + static_cast<ptrdiff_t>(b * T));
  }
}

int padded_length(int longest, const PaddingOptions& opt) {
  for (int b : opt.buckets)
    if (b >= longest) return b;
  if (opt.multiple > 0) return (longest + opt.multiple - 1) / opt.multiple * opt.multiple;
  return longest;
}

namespace {

size_t capped(size_t n, const PaddingOptions& opt) {
  return opt.max_length > 0 ? std::min(n, static_cast<size_t>(opt.max_length)) : n;
}

}  // namespace

Seq2SeqBatch collate_seq2seq(const std::vector<const Example*>& examples, const PaddingOptions& in,
                             const PaddingOptions& out) {
  AERO_CHECK(!examples.empty(), "[data] empty batch");
  Seq2SeqBatch b;
  b.B = static_cast<int>(examples.size());
  size_t li = 1, lo = 1;
  for (const Example* e : examples) {
    li = std::max(li, capped(e->input.size(), in));
    lo = std::max(lo, capped(e->target.size(), out));
  }
  b.T_in = padded_length(static_cast<int>(li), in);
  b.T_out = padded_length(static_cast<int>(lo), out);
  b.input_ids.assign(static_cast<size_t>(b.B * b.T_in), in.pad_id);
  b.attention_mask.assign(static_cast<size_t>(b.B * b.T_in), 0);
  b.labels.assign(static_cast<size_t>(b.B * b.T_out), kIgnoreIndex);
  for (int r = 0; r < b.B; ++r) {
    const Example& e = *examples[static_cast<size_t>(r)];
    const size_t ni = capped(e.input.size(), in), no = capped(e.target.size(), out);
    std::copy_n(e.input.begin(), ni, b.input_ids.begin() + r * b.T_in);
    std::fill_n(b.attention_mask.begin() + r * b.T_in, ni, 1);
    std::copy_n(e.target.begin(), no, b.labels.begin() + r * b.T_out);
  }
  return b;
}

CausalBatch collate_prompt_answer(const std::vector<const Example*>& examples,
                                  const PaddingOptions& opt) {
  AERO_CHECK(!examples.empty(), "[data] empty batch");
  CausalBatch b;
  b.B = static_cast<int>(examples.size());
  size_t longest = 1;
  for (const Example* e : examples)
    longest = std::max(longest, capped(e->input.size() + e->target.size(), opt));
  b.T = padded_length(static_cast<int>(longest), opt);
  const size_t n = static_cast<size_t>(b.B * b.T);
  b.input_ids.assign(n, opt.pad_id);
  b.attention_mask.assign(n, 0);
  b.labels.assign(n, kIgnoreIndex);
  for (int r = 0; r < b.B; ++r) {
    const Example& e = *examples[static_cast<size_t>(r)];
    const size_t len = capped(e.input.size() + e.target.size(), opt);
    for (size_t t = 0; t < len; ++t) {
      const bool answer = t >= e.input.size();
      const int32_t tok = answer ? e.target[t - e.input.size()] : e.input[t];
      const size_t at = static_cast<size_t>(r * b.T) + t;
      b.input_ids[at] = tok;
      b.attention_mask[at] = 1;
      if (answer) b.labels[at] = tok;
    }
  }
  return b;
}

NextTokenBatch collate_next_token(const std::vector<const Example*>& examples,
                                  const PaddingOptions& opt, bool final_only) {
  AERO_CHECK(!examples.empty(), "[data] empty batch");
  AERO_CHECK(opt.max_length == 0 || opt.max_length >= 2,
             "[data] next-token batches need max_length >= 2, got ", opt.max_length);
  NextTokenBatch b;
  b.B = static_cast<int>(examples.size());
  size_t longest = 1;
  for (const Example* e : examples)
    longest = std::max(longest, capped(e->input.size() + e->target.size(), opt));
  b.T = padded_length(static_cast<int>(std::max<size_t>(longest, 2) - 1), opt);
  if (opt.max_length > 0) b.T = std::min(b.T, opt.max_length - 1);
  const size_t n = static_cast<size_t>(b.B) * static_cast<size_t>(b.T);
  b.x.assign(n, opt.pad_id);
  b.y.assign(n, kIgnoreIndex);
  for (int r = 0; r < b.B; ++r) {
    const Example& e = *examples[static_cast<size_t>(r)];
    const size_t len = capped(e.input.size() + e.target.size(), opt);
    const auto tok = [&](size_t t) {
      return t < e.input.size() ? e.input[t] : e.target[t - e.input.size()];
    };
    int32_t* x = b.x.data() + static_cast<size_t>(r) * static_cast<size_t>(b.T);
    int32_t* y = b.y.data() + static_cast<size_t>(r) * static_cast<size_t>(b.T);
    size_t last = 0;
    bool any = false;
    for (size_t t = 0; t + 1 < len; ++t) {
      x[t] = tok(t);
      b.tokens++;
      if (t + 1 >= e.input.size()) {
        y[t] = tok(t + 1);
        last = t;
        any = true;
      }
    }
    if (final_only && any)
      for (size_t t = 0; t < last; ++t) y[t] = kIgnoreIndex;
    b.targets += final_only
                     ? (any ? 1 : 0)
                     : std::count_if(y, y + b.T, [](int32_t v) { return v != kIgnoreIndex; });
  }
  return b;
}

std::vector<Example> shard_documents(const Shard& shard) {
  std::vector<Example> docs;
  const int32_t eot = static_cast<int32_t>(shard.eot_id());
  Example cur;
  for (uint64_t i = 0; i < shard.size(); ++i) {
    const int32_t t = shard[i];
    cur.target.push_back(t);
    if (t == eot || i + 1 == shard.size()) {
      if (cur.target.size() >= 2) docs.push_back(std::move(cur));
      cur = Example{};
    }
  }
  return docs;
}

std::vector<std::vector<size_t>> length_grouped_batches(const std::vector<size_t>& lengths,
                                                        size_t batch_size, uint64_t seed,
                                                        size_t mega) {
  AERO_CHECK(batch_size > 0, "[data] batch size must be positive");
  std::mt19937_64 rng(seed);
  std::vector<size_t> idx(lengths.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  for (size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[rng() % i]);
  const size_t group = batch_size * std::max<size_t>(1, mega);
  std::vector<std::vector<size_t>> batches;
  for (size_t g = 0; g < idx.size(); g += group) {
    const auto first = idx.begin() + static_cast<ptrdiff_t>(g);
    const auto last = idx.begin() + static_cast<ptrdiff_t>(std::min(idx.size(), g + group));
    std::stable_sort(first, last, [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
    for (auto it = first; it < last;) {
      const auto end = it + std::min<ptrdiff_t>(static_cast<ptrdiff_t>(batch_size), last - it);
      batches.emplace_back(it, end);
      it = end;
    }
  }
  for (size_t i = batches.size(); i > 1; --i) std::swap(batches[i - 1], batches[rng() % i]);
  return batches;
}

ExampleLoader::ExampleLoader(std::vector<Example> examples, size_t batch_size, uint64_t seed,
                             bool group_by_length)
    : examples_(std::move(examples)),
      batch_size_(batch_size),
      seed_(seed),
      group_(group_by_length) {
  AERO_CHECK(batch_size > 0, "[data] batch size must be positive");
  for (const auto& e : examples_) lengths_.push_back(e.input.size() + e.target.size());
}

std::vector<std::vector<size_t>> ExampleLoader::epoch(uint64_t e) const {
  // splitmix64 of (seed, epoch): independent, reproducible orders per epoch.
  uint64_t z = seed_ + 0x9E3779B97F4A7C15ull * (e + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return length_grouped_batches(lengths_, batch_size_, z, group_ ? 50 : 1);
}

std::vector<const Example*> ExampleLoader::pick(const std::vector<size_t>& batch) const {
  std::vector<const Example*> out;
  for (size_t i : batch) {
    AERO_CHECK(i < examples_.size(), "[data] example ", i, " out of range (", examples_.size(),
               ")");
    out.push_back(&examples_[i]);
  }
  return out;
}

Seq2SeqBatch ExampleLoader::seq2seq(const std::vector<size_t>& batch, const PaddingOptions& in,
                                    const PaddingOptions& out) const {
  return collate_seq2seq(pick(batch), in, out);
}

CausalBatch ExampleLoader::prompt_answer(const std::vector<size_t>& batch,
                                         const PaddingOptions& opt) const {
  return collate_prompt_answer(pick(batch), opt);
}

NextTokenBatch ExampleLoader::next_token(const std::vector<size_t>& batch,
                                         const PaddingOptions& opt, bool final_only) const {
  return collate_next_token(pick(batch), opt, final_only);
}

void shift_right(int32_t* out, const int32_t* labels, int64_t B, int64_t T, int32_t start,
                 int32_t pad) {
  for (int64_t b = 0; b < B; b++) {
    const int32_t* l = labels + b * T;
    int32_t* o = out + b * T;
    if (T > 0) o[0] = start;
    for (int64_t t = 1; t < T; t++) o[t] = l[t - 1] == kIgnoreIndex ? pad : l[t - 1];
  }
}

}  // namespace aero
