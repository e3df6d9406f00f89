#include "infer/seq2seq.h"

#include <algorithm>

#include "infer/beam_search.h"

namespace aero {

namespace {

// The argmax of each row of logits (B, V) at row stride `stride` floats.
std::vector<int32_t> argmax_rows(const float* p, int64_t B, int64_t V, int64_t stride) {
  std::vector<int32_t> out(size_t(B), 0);
  for (int64_t b = 0; b < B; b++) {
    const float* r = p + b * stride;
    out[size_t(b)] = int32_t(std::max_element(r, r + V) - r);
  }
  return out;
}

// One greedy loop over `next`: (decoder inputs so far (B, t)) -> logits (B, V) of the last one.
template <typename Next>
Seq2SeqGreedy greedy_loop(int64_t B, int32_t start, int32_t eos, int max_new, bool keep, int ngram,
                          Next&& next) {
  Seq2SeqGreedy g;
  g.tokens.resize(size_t(B));
  std::vector<int32_t> inputs(size_t(B), start);  // (B, t) row-major, grown each step
  std::vector<bool> done(size_t(B), false);
  for (int step = 0; step < max_new; step++) {
    const Tensor logits = next(inputs, int64_t(step + 1));  // (B, V)
    const int64_t V = logits.size(1);
    if (keep) g.logits.push_back(logits);
    const Tensor* scored = &logits;
    Tensor banned;
    if (ngram > 0) {  // inputs (B, step + 1)
      banned = logits.contiguous_copy();
      for (int64_t b = 0; b < B; b++)
        ban_repeated_ngrams({banned.f32() + b * V, size_t(V)},
                            {inputs.data() + b * (step + 1), size_t(step + 1)}, ngram);
      scored = &banned;
    }
    const std::vector<int32_t> tok = argmax_rows(scored->f32(), B, V, V);
    std::vector<int32_t> grown(size_t(B * (step + 2)));
    bool all_done = true;
    for (int64_t b = 0; b < B; b++) {
      const int32_t t = done[size_t(b)] ? eos : tok[size_t(b)];
      if (!done[size_t(b)]) g.tokens[size_t(b)].push_back(t);
      done[size_t(b)] = done[size_t(b)] || t == eos;
      all_done = all_done && done[size_t(b)];
      std::copy_n(inputs.begin() + b * (step + 1), step + 1, grown.begin() + b * (step + 2));
      grown[size_t(b * (step + 2) + step + 1)] = t;
    }
    inputs.swap(grown);
    if (all_done) break;
  }
  return g;
}

}  // namespace

Seq2SeqGreedy greedy_seq2seq(Model& model, const Tensor& src, const Tensor& mask, int max_new,
                             bool keep_logits, int no_repeat_ngram_size) {
  auto dec = model.start_decoding(src, mask);
  AERO_CHECK(dec != nullptr, "[generate] greedy_seq2seq needs an encoder-decoder model");
  const int64_t B = src.size(0);
  return greedy_loop(B, dec->start_id(), dec->eos_id(), max_new, keep_logits, no_repeat_ngram_size,
                     [&](const std::vector<int32_t>& in, int64_t t) {
                       Tensor ids = Tensor::empty({B, 1}, DType::i32);
                       for (int64_t b = 0; b < B; b++) ids.i32()[b] = in[size_t(b * t + t - 1)];
                       const Tensor l = dec->step(ids);  // (B, 1, V)
                       return l.reshape({B, l.size(2)}).contiguous_copy();
                     });
}

Seq2SeqGreedy greedy_seq2seq_recompute(Model& model, const Tensor& src, const Tensor& mask,
                                       int max_new, bool keep_logits) {
  auto dec = model.start_decoding(src, mask);  // for its start and EOS ids
  AERO_CHECK(dec != nullptr, "[generate] greedy_seq2seq needs an encoder-decoder model");
  const int64_t B = src.size(0);
  return greedy_loop(B, dec->start_id(), dec->eos_id(), max_new, keep_logits, 0,
                     [&](std::vector<int32_t>& in, int64_t t) {
                       Tape tape;
                       NoGrad ng(tape);
                       tape.training = false;
                       ModelInput mi;
                       mi.ids = Tensor::wrap(in.data(), {B, t}, DType::i32);
                       mi.source_ids = src;
                       mi.source_mask = mask;
                       const Tensor l = model.forward(tape, mi).value();  // (B, t, V)
                       const int64_t V = l.size(2);
                       Tensor out = Tensor::empty({B, V});
                       for (int64_t b = 0; b < B; b++)
                         std::copy_n(l.f32() + (b * t + t - 1) * V, V, out.f32() + b * V);
                       return out;
                     });
}

}  // namespace aero
