#include "infer/diffusion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/rng.h"
#include "infer/engine.h"

namespace aero {

const EnumNames<Remasking>& remasking_names() {
  static const EnumNames<Remasking> n{{Remasking::low_confidence, "low_confidence"},
                                      {Remasking::random, "random"},
                                      {Remasking::margin, "margin"},
                                      {Remasking::entropy, "entropy"}};
  return n;
}

void DiffusionOpts::validate() const {
  AERO_CHECK(gen_length > 0, "[diffusion] gen_length must be > 0, got ", gen_length);
  AERO_CHECK(block_length >= 0, "[diffusion] block_length must be >= 0, got ", block_length);
  const int bl = block_length > 0 ? block_length : gen_length;
  AERO_CHECK(gen_length % bl == 0, "[diffusion] gen_length ", gen_length,
             " is not divisible by block_length ", bl);
  const int nb = gen_length / bl;
  AERO_CHECK(steps >= nb, "[diffusion] steps ", steps, " is fewer than the ", nb,
             " blocks (gen_length / block_length): each block needs at least one step");
  AERO_CHECK(steps % nb == 0, "[diffusion] steps ", steps, " is not divisible by the ", nb,
             " blocks (gen_length / block_length)");
  AERO_CHECK(temperature >= 0 && cfg_scale >= 0 && threshold >= 0 && threshold <= 1,
             "[diffusion] temperature and cfg_scale must be >= 0, threshold in [0, 1]");
  AERO_CHECK(eos_confidence > 0 && eos_confidence <= 1,
             "[diffusion] eos_confidence must be in (0, 1], got ", eos_confidence);
}

std::vector<int> num_transfer_tokens(int masked, int steps) {
  std::vector<int> n(size_t(steps), masked / steps);
  for (int i = 0; i < masked % steps; i++) n[size_t(i)]++;
  return n;
}

namespace {

// Confidence of the predicted token x0 at one position from its logits (V); the mask token has
// probability 0.
double confidence(const float* l, int V, int mask_id, int32_t x0, Remasking r, Rng& rng) {
  if (r == Remasking::random) return rng.uniform();
  double mx = -std::numeric_limits<double>::infinity();
  for (int v = 0; v < V; v++)
    if (v != mask_id) mx = std::max(mx, double(l[v]));
  double z = 0;
  for (int v = 0; v < V; v++)
    if (v != mask_id) z += std::exp(double(l[v]) - mx);
  switch (r) {
    case Remasking::low_confidence:
      return std::exp(double(l[x0]) - mx) / z;
    case Remasking::margin: {
      double p1 = 0, p2 = 0;
      for (int v = 0; v < V; v++) {
        if (v == mask_id) continue;
        const double p = std::exp(double(l[v]) - mx) / z;
        if (p > p1)
          p2 = p1, p1 = p;
        else if (p > p2)
          p2 = p;
      }
      return p1 - p2;
    }
    case Remasking::entropy: {
      double h = 0;
      for (int v = 0; v < V; v++) {
        if (v == mask_id) continue;
        const double p = std::exp(double(l[v]) - mx) / z;
        if (p > 0) h -= p * std::log(p);
      }
      return -h;
    }
    case Remasking::random:
      break;
  }
  return 0;
}

// Gumbel-max at a temperature, in double: argmax of l - T log(-log u) (LLaDA's
// exp(l) / (-log u)^T has the same argmax without overflowing). T = 0: argmax. The mask token
// is never predicted (a trained model never targets it; LLaDA's script leaves it possible).
int32_t predict(const float* l, int V, int mask_id, double T, Rng& rng) {
  int32_t best = mask_id == 0 ? 1 : 0;
  double bv = -std::numeric_limits<double>::infinity();
  for (int v = 0; v < V; v++) {
    if (v == mask_id) continue;
    double s = double(l[v]);
    if (T > 0) s -= T * std::log(-std::log(rng.uniform()));
    if (s > bv) bv = s, best = v;
  }
  return best;
}

}  // namespace

DiffusionResult diffusion_generate(const DiffusionLogits& logits_fn, int V,
                                   const std::vector<int32_t>& prompt, int mask_id, int eos_id,
                                   const DiffusionOpts& opt,
                                   const std::function<void(const DiffusionStep&)>& on_step) {
  opt.validate();
  const int P = int(prompt.size()), G = opt.gen_length, T = P + G;
  const int bl = opt.block_length > 0 ? opt.block_length : G;
  const int nb = G / bl, steps = opt.steps / nb;
  const bool cfg = opt.cfg_scale > 0;
  const int B = cfg ? 2 : 1;
  Rng rng(opt.seed);
  std::vector<int32_t> x(size_t(T), mask_id);
  std::copy(prompt.begin(), prompt.end(), x.begin());
  std::vector<int32_t> ids(size_t(B * T));
  std::vector<float> logits, guided;
  DiffusionResult res;
  std::vector<int32_t> answer(size_t(G), mask_id);
  auto finished_at_eos = [&]() -> int {  // answer index of a completed first EOS, or -1
    for (int i = 0; i < G; i++) {
      if (answer[size_t(i)] == mask_id) return -1;
      if (answer[size_t(i)] == eos_id) return i;
    }
    return -1;
  };

  for (int b = 0; b < nb; b++) {
    const int lo = P + b * bl, hi = lo + bl;  // the current block [lo, hi)
    int masked = 0;
    for (int i = lo; i < hi; i++) masked += x[size_t(i)] == mask_id;
    const std::vector<int> sched = num_transfer_tokens(masked, steps);
    for (int s = 0; s < steps; s++) {
      std::copy(x.begin(), x.end(), ids.begin());
      if (cfg) {  // unconditional row: the prompt masked
        std::copy(x.begin(), x.end(), ids.begin() + T);
        std::fill(ids.begin() + T, ids.begin() + T + P, mask_id);
      }
      // The masked positions of the current block: the only candidates (positions after it and
      // committed ones never are), and the only rows whose logits are needed.
      std::vector<int> rows;
      for (int i = lo; i < hi; i++)
        if (x[size_t(i)] == mask_id) rows.push_back(i);
      if (rows.empty()) break;
      DiffusionQuery q{&ids, B, T, lo, hi, &rows, s == 0};
      logits_fn(q, logits);
      res.forwards++;
      const size_t n = rows.size();
      const float* lg = logits.data();
      if (cfg) {  // un + (w + 1) (cond - un)
        const float w = opt.cfg_scale;
        const float* un = logits.data() + n * size_t(V);
        guided.resize(n * size_t(V));
        for (size_t k = 0; k < guided.size(); k++) guided[k] = un[k] + (w + 1) * (lg[k] - un[k]);
        lg = guided.data();
      }
      std::vector<std::pair<double, int>> cand;
      std::vector<int32_t> x0(static_cast<size_t>(T));
      for (size_t j = 0; j < n; j++) {
        const int i = rows[j];
        const float* l = lg + j * size_t(V);
        x0[size_t(i)] = predict(l, V, mask_id, opt.temperature, rng);
        double c = confidence(l, V, mask_id, x0[size_t(i)], opt.remasking, rng);
        if (x0[size_t(i)] == eos_id && opt.eos_confidence < 1)
          c = c >= 0 ? c * opt.eos_confidence : c / opt.eos_confidence;
        cand.push_back({c, i});
      }
      if (cand.empty()) break;
      // Highest confidence first; ties by position.
      std::stable_sort(cand.begin(), cand.end(),
                       [](const auto& a, const auto& c) { return a.first > c.first; });
      // The schedule's count; with a threshold also every token at least that confident (and
      // at least one), so a block never takes more steps than without it.
      size_t k = size_t(std::min<int>(sched[size_t(s)], int(cand.size())));
      if (opt.threshold > 0) {
        k = std::max<size_t>(k, 1);
        while (k < cand.size() && cand[k].first >= double(opt.threshold)) k++;
      }
      DiffusionStep st;
      st.block = b, st.step = s;
      for (size_t j = 0; j < k; j++) {
        const int i = cand[j].second;
        x[size_t(i)] = x0[size_t(i)];
        answer[size_t(i - P)] = x0[size_t(i)];
        st.committed.push_back(i - P);
      }
      std::sort(st.committed.begin(), st.committed.end());
      st.answer = &answer;
      if (on_step) on_step(st);
      if (opt.stop_at_eos && eos_id >= 0) {
        const int e = finished_at_eos();
        if (e >= 0) {
          res.answer.assign(answer.begin(), answer.begin() + e);
          res.eos = true;
          return res;
        }
      }
    }
  }
  res.answer = answer;
  if (opt.stop_at_eos && eos_id >= 0) {
    const auto it = std::find(res.answer.begin(), res.answer.end(), eos_id);
    res.eos = it != res.answer.end();
    res.answer.erase(it, res.answer.end());
  }
  return res;
}

DiffusionLogits model_logits(Model& model) {
  return [&model](const DiffusionQuery& q, std::vector<float>& out) {
    Tape tape;
    tape.training = false;
    NoGrad ng(tape);
    ModelInput in;
    in.ids = tape.alloc({q.B, q.T}, DType::i32);
    std::copy(q.ids->begin(), q.ids->end(), in.ids.i32());
    Var y = model.forward(tape, in);
    const float* p = y.value().f32();
    const size_t V = size_t(y.value().shape()[2]), n = q.rows->size();
    out.resize(size_t(q.B) * n * V);
    for (int b = 0; b < q.B; b++)
      for (size_t j = 0; j < n; j++)
        std::copy_n(p + (size_t(b) * size_t(q.T) + size_t((*q.rows)[j])) * V, V,
                    out.begin() + long((size_t(b) * n + j) * V));
  };
}

DiffusionLogits engine_logits(std::shared_ptr<const InferenceModel> model, bool prefix_cache) {
  struct State {
    std::shared_ptr<const InferenceModel> model;
    std::vector<std::unique_ptr<KvSeq>> seqs;  // one per row of the batch (2 with CFG)
  };
  auto st = std::make_shared<State>();
  st->model = std::move(model);
  return [st, prefix_cache](const DiffusionQuery& q, std::vector<float>& out) {
    while (int(st->seqs.size()) < q.B) st->seqs.push_back(std::make_unique<KvSeq>(*st->model));
    const size_t n = q.rows->size(), V = size_t(st->model->config().vocab_size);
    out.resize(size_t(q.B) * n * V);
    // Refresh (or no cache): the whole sequence. Otherwise the kept prefix [0, lo) and the rest.
    const int from = prefix_cache && !q.refresh ? q.lo : 0;
    std::vector<int> rows(n);
    for (size_t j = 0; j < n; j++) rows[j] = (*q.rows)[j] - from;
    for (int b = 0; b < q.B; b++) {
      const auto row0 = q.ids->begin() + long(b) * q.T;
      const std::vector<int32_t> tokens(row0 + from, row0 + q.T);
      const std::vector<float> l =
          forward_rows(*st->model, *st->seqs[size_t(b)], from, tokens, rows);
      std::copy(l.begin(), l.end(), out.begin() + long(size_t(b) * n * V));
    }
  };
}

}  // namespace aero
