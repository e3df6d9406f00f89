#include "infer/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

namespace aero {

void BeamOpts::validate() const {
  AERO_CHECK(num_beams >= 1, "[generate] num_beams must be >= 1, got ", num_beams);
  AERO_CHECK(std::isfinite(length_penalty), "[generate] length_penalty must be a number, got ",
             length_penalty);
  AERO_CHECK(no_repeat_ngram_size >= 0, "[generate] no_repeat_ngram_size must be >= 0, got ",
             no_repeat_ngram_size);
}

void ban_repeated_ngrams(std::span<float> logits, std::span<const int32_t> ids, int n) {
  const size_t len = ids.size();
  if (n <= 0 || len + 1 < size_t(n)) return;
  // The last n - 1 inputs, and every earlier n-gram that starts with them.
  const size_t prefix = size_t(n) - 1, from = len - prefix;
  for (size_t i = 0; i + size_t(n) <= len; i++)
    if (std::equal(ids.begin() + ptrdiff_t(i), ids.begin() + ptrdiff_t(i + prefix),
                   ids.begin() + ptrdiff_t(from))) {
      const int32_t t = ids[i + prefix];
      if (t >= 0 && size_t(t) < logits.size())
        logits[size_t(t)] = -std::numeric_limits<float>::infinity();
    }
}

BeamSearch::BeamSearch(const BeamOpts& opts, int max_new, int32_t start, int32_t eos,
                       float repetition_penalty)
    : opts_(opts), max_new_(max_new), eos_(eos), penalty_(repetition_penalty) {
  opts_.validate();
  AERO_CHECK(max_new >= 1, "[generate] beam search needs max_new >= 1");
  beams_.resize(size_t(opts.num_beams));
  for (size_t b = 0; b < beams_.size(); b++) {
    beams_[b].ids = {start};
    beams_[b].score = b == 0 ? 0.0 : -1e9;
  }
}

void BeamSearch::add_hyp(std::vector<int32_t> tokens, double sum_logprobs, int64_t length,
                         bool eos) {
  const double score = sum_logprobs / std::pow(double(length), double(opts_.length_penalty));
  const size_t nb = beams_.size();
  if (hyps_.size() < nb || score > worst_) {
    hyps_.push_back({score, std::move(tokens), eos});
    if (hyps_.size() > nb) {
      // Drop the worst; the new worst is the second worst (BeamHypotheses.add).
      std::vector<size_t> order(hyps_.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return hyps_[a].score < hyps_[b].score; });
      worst_ = hyps_[order[1]].score;
      hyps_.erase(hyps_.begin() + ptrdiff_t(order[0]));
    } else {
      worst_ = std::min(score, worst_);
    }
  }
}

bool BeamSearch::is_done(double best_sum_logprobs, int64_t length) const {
  if (hyps_.size() < beams_.size()) return false;
  if (opts_.early_stopping) return true;
  return worst_ >= best_sum_logprobs / std::pow(double(length), double(opts_.length_penalty));
}

std::vector<int> BeamSearch::step(const float* logits, int64_t V) {
  AERO_CHECK(!done_, "[generate] internal: a beam search stepped after it ended");
  const size_t nb = beams_.size();
  const int64_t len = int64_t(beams_[0].ids.size());  // start token and answer so far
  // Every continuation's score: beam score + processed log-probabilities.
  std::vector<double> cand(nb * size_t(V));
  std::vector<float> row(static_cast<size_t>(V));
  for (size_t b = 0; b < nb; b++) {
    const float* l = logits + int64_t(b) * V;
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int64_t v = 0; v < V; v++) mx = std::max(mx, double(l[v]));
    for (int64_t v = 0; v < V; v++) sum += std::exp(double(l[v]) - mx);
    const double lse = mx + std::log(sum);
    std::vector<double> lp(static_cast<size_t>(V));
    for (int64_t v = 0; v < V; v++) lp[size_t(v)] = double(l[v]) - lse;
    if (penalty_ != 1.0f) {  // once per distinct token, as the Sampler
      std::vector<int32_t> seen = beams_[b].ids;
      std::sort(seen.begin(), seen.end());
      seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
      for (int32_t t : seen) {
        double& x = lp[size_t(t)];
        x = x < 0 ? x * penalty_ : x / penalty_;
      }
    }
    if (opts_.no_repeat_ngram_size > 0) {
      std::fill(row.begin(), row.end(), 0.0f);
      ban_repeated_ngrams(row, beams_[b].ids, opts_.no_repeat_ngram_size);
      for (int64_t v = 0; v < V; v++)
        if (std::isinf(row[size_t(v)])) lp[size_t(v)] = -std::numeric_limits<double>::infinity();
    }
    for (int64_t v = 0; v < V; v++)
      cand[b * size_t(V) + size_t(v)] = beams_[b].score + lp[size_t(v)];
  }
  const size_t keep = std::min(cand.size(), 2 * nb);
  std::vector<size_t> top(cand.size());
  std::iota(top.begin(), top.end(), 0);
  std::partial_sort(top.begin(), top.begin() + ptrdiff_t(keep), top.end(), [&](size_t a, size_t b) {
    return cand[a] > cand[b] || (cand[a] == cand[b] && a < b);
  });
  top.resize(keep);
  std::vector<Beam> next;
  std::vector<int> parents;
  for (size_t rank = 0; rank < keep && next.size() < nb; rank++) {
    const size_t b = top[rank] / size_t(V);
    const int32_t t = int32_t(top[rank] % size_t(V));
    if (t == eos_) {
      if (rank >= nb) continue;  // EOS ranked below the beams: not a hypothesis
      // The answer without start and EOS; its length counts the EOS.
      add_hyp(std::vector<int32_t>(beams_[b].ids.begin() + 1, beams_[b].ids.end()), cand[top[rank]],
              len, true);
      continue;
    }
    Beam nbm;
    nbm.ids = beams_[b].ids;
    nbm.ids.push_back(t);
    nbm.score = cand[top[rank]];
    next.push_back(std::move(nbm));
    parents.push_back(int(b));
  }
  AERO_CHECK(next.size() == nb,
             "[generate] beam search: fewer than num_beams continuations (a "
             "vocabulary smaller than 2 x num_beams?)");
  done_ = is_done(cand[top[0]], len);
  beams_ = std::move(next);
  if (done_) return {};
  if (int64_t(beams_[0].ids.size()) - 1 >= max_new_) {
    // Out of tokens: the running beams are hypotheses too (length: their tokens).
    for (Beam& b : beams_)
      add_hyp(std::vector<int32_t>(b.ids.begin() + 1, b.ids.end()), b.score,
              int64_t(b.ids.size()) - 1, false);
    done_ = true;
    return {};
  }
  return parents;
}

BeamSearch::Answer BeamSearch::best() const {
  AERO_CHECK(done_ && !hyps_.empty(), "[generate] internal: no finished beam hypothesis");
  // The highest score; among equal ones the last added (Python's stable sort, then pop()).
  size_t best = 0;
  for (size_t i = 1; i < hyps_.size(); i++)
    if (hyps_[i].score >= hyps_[best].score) best = i;
  return {hyps_[best].tokens, hyps_[best].eos, hyps_[best].score};
}

std::vector<int> reorder_rows(Seq2SeqRows& rows, const std::vector<int>& old,
                              const std::vector<int>& parents) {
  std::vector<bool> claimed(old.size(), false);
  std::vector<int> out;
  for (int p : parents) {
    out.push_back(claimed[size_t(p)] ? rows.fork(old[size_t(p)]) : old[size_t(p)]);
    claimed[size_t(p)] = true;
  }
  for (size_t i = 0; i < old.size(); i++)
    if (!claimed[i]) rows.remove(old[i]);
  return out;
}

BeamSearch::Answer beam_seq2seq(Model& model, std::span<const int32_t> src, const BeamOpts& opts,
                                int max_new) {
  auto rows = model.start_rows();
  AERO_CHECK(rows != nullptr, "[generate] beam search needs an encoder-decoder model");
  BeamSearch beam(opts, max_new, rows->start_id(), rows->eos_id());
  std::vector<int> rs = {rows->add(src)};
  for (int b = 1; b < beam.num_beams(); b++) rs.push_back(rows->fork(rs[0]));
  while (!beam.done()) {
    std::vector<int32_t> ids;
    for (int b = 0; b < beam.num_beams(); b++) ids.push_back(beam.inputs(b).back());
    const Tensor logits = rows->step(rs, ids);
    const std::vector<int> parents = beam.step(logits.f32(), logits.size(1));
    if (!parents.empty()) rs = reorder_rows(*rows, rs, parents);
  }
  return beam.best();
}

}  // namespace aero
