#include "infer/predictions.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <span>

#include "core/error.h"
#include "data/examples.h"
#include "infer/seq2seq.h"

namespace aero {

namespace {

// Greedy decoding of `idx` (indices into src) through a set of rows: each row steps until its
// EOS or max_new tokens, as greedy_seq2seq decodes.
std::vector<std::vector<int32_t>> greedy_rows(Seq2SeqRows& rows,
                                              const std::vector<std::vector<int32_t>>& src,
                                              std::span<const size_t> idx, int max_new) {
  const size_t n = idx.size();
  std::vector<int> handle(n);
  for (size_t k = 0; k < n; k++) handle[k] = rows.add(src[idx[k]]);
  std::vector<std::vector<int32_t>> out(n);
  std::vector<int32_t> next(n, rows.start_id());
  std::vector<size_t> live(n);
  std::iota(live.begin(), live.end(), size_t(0));
  for (int step = 0; step < max_new && !live.empty(); step++) {
    std::vector<int> rs;
    std::vector<int32_t> in;
    for (size_t k : live) rs.push_back(handle[k]), in.push_back(next[k]);
    const Tensor logits = rows.step(rs, in);  // (live, V)
    const int64_t V = logits.size(1);
    std::vector<size_t> still;
    for (size_t j = 0; j < live.size(); j++) {
      const float* p = logits.f32() + int64_t(j) * V;
      const int32_t t = int32_t(std::max_element(p, p + V) - p);
      out[live[j]].push_back(t);
      next[live[j]] = t;
      if (t != rows.eos_id()) still.push_back(live[j]);
    }
    live.swap(still);
  }
  for (int h : handle) rows.remove(h);
  return out;
}

}  // namespace

std::vector<std::string> predict_seq2seq(Model& model, const Tokenizer& tok,
                                         const std::vector<std::string>& inputs,
                                         const PredictOptions& opt) {
  AERO_CHECK(opt.batch_size > 0 && opt.max_input >= 2 && opt.max_new > 0,
             "[eval] predictions need --batch-size > 0, --max-input >= 2 and --max-new > 0");
  const int32_t pad = tok.pad_id();
  AERO_CHECK(pad >= 0, "[eval] the tokenizer has no pad id; seq2seq batches pad with it");
  EncodeCache cache;
  std::vector<std::vector<int32_t>> src(inputs.size());
  for (size_t i = 0; i < inputs.size(); i++)
    src[i] = encode_with_eos(tok, inputs[i], opt.max_input, &cache);
  // Longest first, so rows of a batch have similar lengths and padding stays small.
  std::vector<size_t> order(inputs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return src[a].size() > src[b].size(); });
  std::vector<std::string> out(inputs.size());
  std::unique_ptr<Seq2SeqRows> rows;
  if (opt.weights) {
    rows = model.start_rows(*opt.weights);
    AERO_CHECK(rows != nullptr, "[eval] this model cannot decode with converted weights");
  }
  const auto text = [&](const std::vector<int32_t>& ids) {
    // A spare embedding row past the tokenizer (mT5 has 12) writes nothing: an early model in
    // training can pick one.
    std::vector<int> kept;
    for (int32_t t : ids)
      if (t != tok.eos_id() && t != pad && t < tok.vocab_size()) kept.push_back(t);
    return tok.decode(kept);
  };
  for (size_t b0 = 0; b0 < order.size(); b0 += size_t(opt.batch_size)) {
    const size_t b1 = std::min(order.size(), b0 + size_t(opt.batch_size));
    if (rows) {
      const std::span<const size_t> idx(order.data() + b0, b1 - b0);
      const auto ids = greedy_rows(*rows, src, idx, opt.max_new);
      for (size_t k = 0; k < idx.size(); k++) out[idx[k]] = text(ids[k]);
      continue;
    }
    const int64_t B = int64_t(b1 - b0);
    int64_t S = 0;
    for (size_t k = b0; k < b1; k++) S = std::max<int64_t>(S, int64_t(src[order[k]].size()));
    Tensor ids = Tensor::empty({B, S}, DType::i32), mask = Tensor::empty({B, S}, DType::i32);
    for (int64_t r = 0; r < B; r++) {
      const std::vector<int32_t>& s = src[order[b0 + size_t(r)]];
      for (int64_t t = 0; t < S; t++) {
        const bool real = t < int64_t(s.size());
        ids.i32()[r * S + t] = real ? s[size_t(t)] : pad;
        mask.i32()[r * S + t] = real ? 1 : 0;
      }
    }
    const Seq2SeqGreedy g = greedy_seq2seq(model, ids, mask, opt.max_new);
    for (int64_t r = 0; r < B; r++) out[order[b0 + size_t(r)]] = text(g.tokens[size_t(r)]);
  }
  return out;
}

}  // namespace aero
