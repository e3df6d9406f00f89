// Beam search for one request of an encoder-decoder, with Hugging Face's semantics
// (BeamSearchScorer / BeamHypotheses of transformers' generate(num_beams > 1)):
//   - num_beams beams start from the decoder start token, all but the first at score -1e9, so
//     the first step expands one beam;
//   - each step scores every continuation as beam score + log_softmax(logits) (after the
//     repetition penalty and n-gram blocking), keeps the 2 x num_beams best; an EOS among the
//     first num_beams of them finishes a hypothesis (without the EOS) scored
//     sum(log p) / length^length_penalty, length counting the answer and its EOS; the first
//     num_beams others are the next beams;
//   - a request is done when num_beams hypotheses are finished and either early_stopping, or
//     no running beam can beat the worst of them (best candidate score / length^lp, the
//     length of the answer after this step);
//   - at max_new tokens the running beams are finished too (length: their tokens);
//   - the answer is the best finished hypothesis.
// Scores are kept in double. Ties between candidates go to the lower beam, then the lower id.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "infer/generate.h"
#include "models/model.h"

namespace aero {

// Hugging Face's NoRepeatNGramLogitsProcessor: ids are the decoder inputs so far (start token
// first); every token that would complete an n-gram already in ids gets -inf.
void ban_repeated_ngrams(std::span<float> logits, std::span<const int32_t> ids, int n);

class BeamSearch {
 public:
  // opts.num_beams >= 1; max_new >= 1; repetition_penalty applies to the log-probabilities of
  // tokens among each beam's inputs, as Hugging Face's processor does in beam search.
  BeamSearch(const BeamOpts& opts, int max_new, int32_t start, int32_t eos,
             float repetition_penalty = 1.0f);

  int num_beams() const { return int(beams_.size()); }
  // The decoder inputs of beam b so far (start token first); its last one is fed next.
  const std::vector<int32_t>& inputs(int b) const { return beams_[size_t(b)].ids; }
  // logits (num_beams, V) of every beam's last input -> for each new beam, the beam it
  // continues (its cache is that beam's). Empty once done().
  std::vector<int> step(const float* logits, int64_t V);
  bool done() const { return done_; }

  struct Answer {
    std::vector<int32_t> tokens;  // without the start token and the EOS
    bool eos = false;             // it ended with EOS (else: max_new)
    double score = 0;
  };
  Answer best() const;  // after done()

 private:
  struct Beam {
    std::vector<int32_t> ids;
    double score = 0;
  };
  struct Hyp {
    double score;
    std::vector<int32_t> tokens;
    bool eos;
  };
  void add_hyp(std::vector<int32_t> tokens, double sum_logprobs, int64_t length, bool eos);
  bool is_done(double best_sum_logprobs, int64_t length) const;

  BeamOpts opts_;
  int max_new_;
  int32_t eos_;
  float penalty_;
  std::vector<Beam> beams_;
  std::vector<Hyp> hyps_;
  double worst_ = 1e9;
  bool done_ = false;
};

// The decoding rows of the new beams: beam i continues old[parents[i]]. A parent's row goes
// to its first child and is forked for the others (all before the next step); rows no beam
// continues are removed.
std::vector<int> reorder_rows(Seq2SeqRows& rows, const std::vector<int>& old,
                              const std::vector<int>& parents);

// Beam search of src (S) i32 through Model::start_rows: what `aero eval` and tests call
// without a Generator. Returns the best answer.
BeamSearch::Answer beam_seq2seq(Model& model, std::span<const int32_t> src, const BeamOpts& opts,
                                int max_new);

}  // namespace aero
