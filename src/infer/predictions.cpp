#include "infer/predictions.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "data/examples.h"
#include "infer/seq2seq.h"

namespace aero {

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
  for (size_t b0 = 0; b0 < order.size(); b0 += size_t(opt.batch_size)) {
    const size_t b1 = std::min(order.size(), b0 + size_t(opt.batch_size));
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
    for (int64_t r = 0; r < B; r++) {
      std::vector<int> kept;
      // A spare embedding row past the tokenizer (mT5 has 12) writes nothing: an early model
      // in training can pick one.
      for (int32_t t : g.tokens[size_t(r)])
        if (t != tok.eos_id() && t != pad && t < tok.vocab_size()) kept.push_back(t);
      out[order[b0 + size_t(r)]] = tok.decode(kept);
    }
  }
  return out;
}

}  // namespace aero
