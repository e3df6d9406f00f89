#include "infer/diffusion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/rng.h"
#include "infer/engine.h"

namespace aero {

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

size_t DiffusionQuery::rows() const {
  size_t n = 0;
  for (const DiffusionSeq& s : seqs) n += s.rows->size();
  return n;
}

// One prompt of a batch: its sequence, where it stands in the schedule, and its own Rng.
struct DiffusionBatch::Row {
  int id = 0;
  DiffusionOpts opt;
  Rng rng;
  int P = 0, G = 0, bl = 0, nb = 0, steps = 0;  // prompt, answer, block length, blocks, per block
  std::vector<int32_t> x;       // (P + G) the prompt, then the answer (mask_id where masked)
  std::vector<int32_t> uncond;  // (P + G) with CFG: x with the prompt masked
  std::vector<int32_t> answer;  // (G)
  int block = 0, s = 0;         // the current block and its step
  std::vector<int> sched;       // tokens to commit at each step of the block
  std::vector<int> rows;        // the block's masked positions (the step's candidates)
  int slot[2] = {-1, -1};       // prefix-cache slots of x and uncond
  bool done = false;
  DiffusionResult res;

  Row(int row_id, std::vector<int32_t> prompt, const DiffusionOpts& o, int mask_id)
      : id(row_id), opt(o), rng(o.seed), P(int(prompt.size())), G(o.gen_length) {
    bl = o.block_length > 0 ? o.block_length : G;
    nb = G / bl, steps = o.steps / nb;
    x = std::move(prompt);
    x.resize(size_t(P + G), mask_id);
    answer.assign(size_t(G), mask_id);
    enter(0, mask_id);
  }
  bool cfg() const { return opt.cfg_scale > 0; }
  int lo() const { return P + block * bl; }
  void enter(int b, int mask_id) {
    block = b, s = 0;
    if (b >= nb) return;
    int masked = 0;
    for (int i = lo(); i < lo() + bl; i++) masked += x[size_t(i)] == mask_id;
    sched = num_transfer_tokens(masked, steps);
  }
  // Moves on to the next step that has masked positions in its block: false when there is none.
  bool next(int mask_id) {
    for (; block < nb; enter(block + 1, mask_id)) {
      if (s >= steps) continue;
      rows.clear();
      for (int i = lo(); i < lo() + bl; i++)
        if (x[size_t(i)] == mask_id) rows.push_back(i);
      if (!rows.empty()) return true;
    }
    return false;
  }
  // Answer index of a completed first EOS (every position before it committed), or -1.
  int finished_at_eos(int mask_id, int eos_id) const {
    for (int i = 0; i < G; i++) {
      if (answer[size_t(i)] == mask_id) return -1;
      if (answer[size_t(i)] == eos_id) return i;
    }
    return -1;
  }
  // The step's commit from the logits of `rows` (and of the unconditional rows after them).
  DiffusionStep commit(const float* lg, int V, int mask_id, int eos_id, std::vector<float>& buf) {
    const size_t n = rows.size();
    if (cfg()) {  // un + (w + 1) (cond - un)
      const float w = opt.cfg_scale;
      const float* un = lg + n * size_t(V);
      buf.resize(n * size_t(V));
      for (size_t k = 0; k < buf.size(); k++) buf[k] = un[k] + (w + 1) * (lg[k] - un[k]);
      lg = buf.data();
    }
    std::vector<std::pair<double, int>> cand;
    std::vector<int32_t> x0(n);
    for (size_t j = 0; j < n; j++) {
      const float* l = lg + j * size_t(V);
      x0[j] = predict(l, V, mask_id, opt.temperature, rng);
      double c = confidence(l, V, mask_id, x0[j], opt.remasking, rng);
      if (x0[j] == eos_id && opt.eos_confidence < 1)
        c = c >= 0 ? c * opt.eos_confidence : c / opt.eos_confidence;
      cand.push_back({c, int(j)});
    }
    // Highest confidence first; ties by position.
    std::stable_sort(cand.begin(), cand.end(),
                     [](const auto& a, const auto& c) { return a.first > c.first; });
    // The schedule's count; with a threshold also every token at least that confident (and at
    // least one), so a block never takes more steps than without it.
    size_t k = size_t(std::min<int>(sched[size_t(s)], int(cand.size())));
    if (opt.threshold > 0) {
      k = std::max<size_t>(k, 1);
      while (k < cand.size() && cand[k].first >= double(opt.threshold)) k++;
    }
    DiffusionStep st;
    st.block = block, st.step = s;
    for (size_t j = 0; j < k; j++) {
      const size_t r = size_t(cand[j].second);
      const int i = rows[r];
      x[size_t(i)] = answer[size_t(i - P)] = x0[r];
      st.committed.push_back(i - P);
    }
    std::sort(st.committed.begin(), st.committed.end());
    st.answer = &answer;
    res.forwards++;
    s++;
    return st;
  }
  // After a step: stops at a completed EOS, or when no masked position is left.
  void after_step(int mask_id, int eos_id) {
    const bool eos = opt.stop_at_eos && eos_id >= 0;
    const int e = eos ? finished_at_eos(mask_id, eos_id) : -1;
    if (e >= 0) {
      res.answer.assign(answer.begin(), answer.begin() + e);
      res.eos = done = true;
      return;
    }
    if (next(mask_id)) return;
    done = true;
    res.answer = answer;
    if (eos) {
      const auto it = std::find(res.answer.begin(), res.answer.end(), eos_id);
      res.eos = it != res.answer.end();
      res.answer.erase(it, res.answer.end());
    }
  }
};

DiffusionBatch::DiffusionBatch(DiffusionLogits logits_fn, int vocab, int mask_id, int eos_id)
    : logits_fn_(std::move(logits_fn)), vocab_(vocab), mask_id_(mask_id), eos_id_(eos_id) {}
DiffusionBatch::~DiffusionBatch() = default;

int DiffusionBatch::add(std::vector<int32_t> prompt, const DiffusionOpts& opt) {
  opt.validate();
  auto r = std::make_unique<Row>(next_id_++, std::move(prompt), opt, mask_id_);
  for (int k = 0; k < (r->cfg() ? 2 : 1); k++) {
    size_t free = 0;
    while (free < slot_used_.size() && slot_used_[free]) free++;
    if (free == slot_used_.size()) slot_used_.push_back(false);
    slot_used_[free] = true;
    r->slot[k] = int(free);
  }
  if (!r->next(mask_id_)) r->after_step(mask_id_, eos_id_);
  rows_.push_back(std::move(r));
  return rows_.back()->id;
}

DiffusionBatch::Row& DiffusionBatch::row(int id) const {
  for (const auto& r : rows_)
    if (r->id == id) return *r;
  fail("[diffusion] no row ", id, " in the batch");
}

int DiffusionBatch::running() const {
  int n = 0;
  for (const auto& r : rows_) n += !r->done;
  return n;
}
bool DiffusionBatch::finished(int id) const { return row(id).done; }
const std::vector<int32_t>& DiffusionBatch::answer(int id) const { return row(id).answer; }

DiffusionResult DiffusionBatch::take(int id) {
  Row& r = row(id);
  AERO_CHECK(r.done, "[diffusion] row ", id, " has not finished");
  DiffusionResult res = std::move(r.res);
  remove(id);
  return res;
}

void DiffusionBatch::remove(int id) {
  const auto it =
      std::find_if(rows_.begin(), rows_.end(), [id](const auto& r) { return r->id == id; });
  if (it == rows_.end()) return;
  for (int k : (*it)->slot)
    if (k >= 0) slot_used_[size_t(k)] = false;
  rows_.erase(it);
}

int DiffusionBatch::step(const std::function<void(int id, const DiffusionStep&)>& on_step) {
  std::vector<Row*> live;
  DiffusionQuery q;
  for (const auto& r : rows_) {
    if (r->done) continue;
    live.push_back(r.get());
    const int lo = r->lo(), hi = lo + r->bl;
    q.seqs.push_back({&r->x, lo, hi, &r->rows, r->s == 0, r->slot[0], r->opt.cache});
    if (r->cfg()) {  // unconditional: the prompt masked
      r->uncond = r->x;
      std::fill(r->uncond.begin(), r->uncond.begin() + r->P, mask_id_);
      q.seqs.push_back({&r->uncond, lo, hi, &r->rows, r->s == 0, r->slot[1], r->opt.cache});
    }
  }
  if (live.empty()) return 0;
  logits_fn_(q, logits_);
  AERO_CHECK(logits_.size() == q.rows() * size_t(vocab_), "[diffusion] the logits function gave ",
             logits_.size(), " values for ", q.rows(), " rows of ", vocab_);
  std::vector<float> guided;
  size_t at = 0;  // rows of the logits used so far
  for (Row* r : live) {
    const float* lg = logits_.data() + at * size_t(vocab_);
    at += r->rows.size() * (r->cfg() ? 2 : 1);
    const DiffusionStep st = r->commit(lg, vocab_, mask_id_, eos_id_, guided);
    if (on_step) on_step(r->id, st);
    r->after_step(mask_id_, eos_id_);
  }
  return running();
}

DiffusionResult diffusion_generate(const DiffusionLogits& logits_fn, int V,
                                   const std::vector<int32_t>& prompt, int mask_id, int eos_id,
                                   const DiffusionOpts& opt,
                                   const std::function<void(const DiffusionStep&)>& on_step) {
  DiffusionBatch batch(logits_fn, V, mask_id, eos_id);
  const int id = batch.add(prompt, opt);
  while (batch.step([&](int, const DiffusionStep& st) {
    if (on_step) on_step(st);
  }) > 0) {
  }
  return batch.take(id);
}

std::vector<DiffusionResult> diffusion_generate_batch(
    const DiffusionLogits& logits_fn, int V, const std::vector<std::vector<int32_t>>& prompts,
    int mask_id, int eos_id, const std::vector<DiffusionOpts>& opts,
    const std::function<void(int, const DiffusionStep&)>& on_step) {
  AERO_CHECK(opts.size() == 1 || opts.size() == prompts.size(), "[diffusion] ", opts.size(),
             " sampler settings for ", prompts.size(), " prompts (give one, or one per prompt)");
  DiffusionBatch batch(logits_fn, V, mask_id, eos_id);
  std::vector<int> ids;  // prompt i is row ids[i]
  for (size_t i = 0; i < prompts.size(); i++)
    ids.push_back(batch.add(prompts[i], opts[opts.size() == 1 ? 0 : i]));
  while (batch.step([&](int id, const DiffusionStep& st) {
    if (on_step) on_step(int(std::find(ids.begin(), ids.end(), id) - ids.begin()), st);
  }) > 0) {
  }
  std::vector<DiffusionResult> out;
  for (int id : ids) out.push_back(batch.take(id));
  return out;
}

DiffusionLogits model_logits(Model& model) {
  return [&model](const DiffusionQuery& q, std::vector<float>& out) {
    out.clear();
    // Runs of sequences of the same length go through the forward pass as one (B, T) batch.
    for (size_t a = 0; a < q.seqs.size();) {
      const int T = int(q.seqs[a].ids->size());
      size_t e = a + 1;
      while (e < q.seqs.size() && int(q.seqs[e].ids->size()) == T) e++;
      const int B = int(e - a);
      Tape tape;
      tape.training = false;
      NoGrad ng(tape);
      ModelInput in;
      in.ids = tape.alloc({B, T}, DType::i32);
      for (int b = 0; b < B; b++)
        std::copy(q.seqs[a + size_t(b)].ids->begin(), q.seqs[a + size_t(b)].ids->end(),
                  in.ids.i32() + size_t(b) * size_t(T));
      Var y = model.forward(tape, in);
      const float* p = y.value().f32();
      const size_t V = size_t(y.value().shape()[2]);
      for (int b = 0; b < B; b++)
        for (int i : *q.seqs[a + size_t(b)].rows)
          out.insert(out.end(), p + (size_t(b) * size_t(T) + size_t(i)) * V,
                     p + (size_t(b) * size_t(T) + size_t(i) + 1) * V);
      a = e;
    }
  };
}

DiffusionLogits engine_logits(std::shared_ptr<const InferenceModel> model) {
  struct State {
    std::shared_ptr<const InferenceModel> model;
    std::vector<std::unique_ptr<KvSeq>> seqs;  // by slot
  };
  auto st = std::make_shared<State>();
  st->model = std::move(model);
  return [st](const DiffusionQuery& q, std::vector<float>& out) {
    // Refresh (or no cache): the whole sequence. Otherwise the kept prefix [0, lo), then the rest
    // (prefix) or the block alone before the kept suffix [hi, T) (dual).
    std::vector<std::vector<int32_t>> tokens(q.seqs.size());
    std::vector<std::vector<int>> rows(q.seqs.size());
    std::vector<RowsInput> in;
    for (size_t i = 0; i < q.seqs.size(); i++) {
      const DiffusionSeq& s = q.seqs[i];
      AERO_CHECK(s.slot >= 0, "[diffusion] slot ", s.slot, " of a query is negative");
      while (int(st->seqs.size()) <= s.slot)
        st->seqs.push_back(std::make_unique<KvSeq>(*st->model));
      const bool reuse = s.cache != DiffusionCache::none && !s.refresh;
      const int T = int(s.ids->size()), from = reuse ? s.lo : 0;
      const int to = reuse && s.cache == DiffusionCache::dual ? s.hi : T;
      tokens[i].assign(s.ids->begin() + from, s.ids->begin() + to);
      for (int r : *s.rows) rows[i].push_back(r - from);
      in.push_back({st->seqs[size_t(s.slot)].get(), from, &tokens[i], &rows[i], T - to});
    }
    out = forward_rows(*st->model, in);
  };
}

}  // namespace aero
