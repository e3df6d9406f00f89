// The forward pass without a tape: N new tokens spread over one or more sequences go through
// every weight matrix together (one product per matrix, n = N); attention runs per sequence
// against its own KV cache. Prefill is one sequence with many tokens, batched decode many
// sequences with one token each, a diffusion step a block of rows between cached positions.
// Small passes are shared out by rows (rows_per_thread), and the last layer runs only the rows
// whose logits are wanted (gather_wanted).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "infer/engine_impl.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "kernels/rope.h"

namespace aero {

void KvSeq::Impl::reserve(int rows) {
  if (rows <= cap) return;
  const int C = model->cfg.n_embd;
  int n = std::min(model->cfg.block_size, std::max({rows, 2 * cap, 16}));
  for (auto* buf : {&k, &v})
    for (std::vector<float>& layer : *buf) layer.resize(size_t(n) * size_t(C));
  cap = n;
}

KvSeq::KvSeq(const InferenceModel& model) : impl_(std::make_unique<Impl>()) {
  impl_->model = &model.impl();
  impl_->k.resize(size_t(model.config().n_layer));
  impl_->v.resize(size_t(model.config().n_layer));
}
KvSeq::~KvSeq() = default;
int KvSeq::length() const { return impl_->len; }
void KvSeq::clear() { impl_->len = 0; }

namespace {

// Passes up to this many multiply-adds per layer run rows_per_thread.
constexpr double kRowsPerThreadMacs = 1 << 24;

// The rows of one sequence in a forward pass: rows [row, row + count) of the batch, at
// positions [seq->len + first, seq->len + first + count); a bidirectional stack's queries also
// see the `after` positions past them (cached ones, or the sequence's rows that another thread
// holds). A causal stack's queries see none past their own.
struct Segment {
  KvSeq::Impl* seq;
  int row, count;
  int after = 0;
  int first = 0;
  // The sequence has one new row in the pass (decoding): its attention takes the one-row
  // kernel. Kept by the parts of a sequence, so that the kernel, and the bits, do not depend
  // on how the rows are shared out.
  bool single = count == 1;
};

// The parts of `segs` that fall in rows [r0, r1).
std::vector<Segment> clip(const std::vector<Segment>& segs, int r0, int r1) {
  std::vector<Segment> out;
  for (const Segment& s : segs) {
    const int b = std::max(s.row, r0), e = std::min(s.row + s.count, r1);
    if (b < e)
      out.push_back(
          {s.seq, b, e - b, s.after + (s.row + s.count - e), s.first + (b - s.row), s.single});
  }
  return out;
}

void add_bias(float* y, const std::vector<float>& b, int n) {
  if (b.empty()) return;
  const size_t R = b.size();
  for (int r = 0; r < n; r++) {
    float* yr = y + size_t(r) * R;
#pragma omp simd
    for (size_t i = 0; i < R; i++) yr[i] += b[i];
  }
}

// Rows [r0, r1) of y (n, out) = x (n, in) · Wᵀ + b.
void linear(float* y, const QMatrix& w, const std::vector<float>& b, const float* x, int n, int r0,
            int r1) {
  qmatmul_rows(w, x, n, r0, r1, y);
  add_bias(y + size_t(r0) * size_t(w.rows), b, r1 - r0);
}

// The adapters' products joined to one matrix's (y (n, out) from x (n, in)): for each run of
// adjacent segments that share an adapter, every module of that matrix over their rows at once.
void add_lora(float* y, int out, const float* x, int in, const std::vector<Segment>& segs,
              int layer, EngineLora::Matrix which) {
  for (size_t i = 0; i < segs.size();) {
    const EngineLora* lora = segs[i].seq->lora;
    size_t j = i + 1;
    while (j < segs.size() && segs[j].seq->lora == lora &&
           segs[j].row == segs[j - 1].row + segs[j - 1].count)
      j++;
    if (lora) {
      const int row = segs[i].row, n = segs[j - 1].row + segs[j - 1].count - row;
      for (const EngineLora::Part& p : lora->layers[size_t(layer)][which])
        p.module->add_to(x + size_t(row) * size_t(in), in, n,
                         y + size_t(row) * size_t(out) + size_t(p.col), out);
    }
    i = j;
  }
}

// Rows [r0, r1) of out = norm(x).
void normalize(const TransformerSpec& cfg, float* out, const float* x, const std::vector<float>& w,
               const std::vector<float>& b, int r0, int r1) {
  const size_t at = size_t(r0) * size_t(cfg.n_embd);
  if (cfg.norm == NormKind::rmsnorm)
    rms_norm_forward(out + at, nullptr, x + at, w.data(), r1 - r0, cfg.n_embd, cfg.norm_eps);
  else
    layer_norm_forward(out + at, nullptr, nullptr, x + at, w.data(), b.empty() ? nullptr : b.data(),
                       r1 - r0, cfg.n_embd, cfg.norm_eps);
}

// Scratch of one forward pass, (N, width) each.
struct Buffers {
  std::vector<float> x, h, qkv, q, att, proj, up, act;
  void resize(const TransformerSpec& cfg, int n) {
    const size_t N = size_t(n), C = size_t(cfg.n_embd), H = size_t(cfg.ffn());
    const size_t U = is_gated(cfg.act) ? 2 * H : H;
    x.resize(N * C), h.resize(N * C), qkv.resize(N * 3 * C), q.resize(N * C);
    att.resize(N * C), proj.resize(N * C), up.resize(N * U), act.resize(N * H);
  }
};

// K and V of every segment's new rows go into its cache (K rotated), and its queries are
// copied out of qkv (rotated).
void store_kv(const InferenceModel::Impl& m, int layer, const std::vector<Segment>& segs,
              Buffers& b) {
  const TransformerSpec& cfg = m.cfg;
  const int C = cfg.n_embd, NH = cfg.n_head, HS = cfg.head_size();
  for (const Segment& s : segs) {
    KvSeq::Impl& kv = *s.seq;
    const int pos = kv.len + s.first;
    float* K = kv.k[size_t(layer)].data() + size_t(pos) * C;
    float* V = kv.v[size_t(layer)].data() + size_t(pos) * C;
    float* q = b.q.data() + size_t(s.row) * C;
    for (int r = 0; r < s.count; r++) {
      const float* src = b.qkv.data() + size_t(s.row + r) * 3 * C;
      std::memcpy(q + size_t(r) * C, src, sizeof(float) * size_t(C));
      std::memcpy(K + size_t(r) * C, src + C, sizeof(float) * size_t(C));
      std::memcpy(V + size_t(r) * C, src + 2 * C, sizeof(float) * size_t(C));
    }
    if (cfg.pos == PosKind::rope) {
      rope_forward(q, q, 1, s.count, NH, HS, cfg.rope_theta, pos);
      rope_forward(K, K, 1, s.count, NH, HS, cfg.rope_theta, pos);
    }
  }
}

// Every segment's queries attend to its cache, causally (bidirectionally for a non-causal
// stack, also to the positions after them).
void attend(const InferenceModel::Impl& m, int layer, const std::vector<Segment>& segs,
            Buffers& b) {
  const TransformerSpec& cfg = m.cfg;
  const int C = cfg.n_embd, NH = cfg.n_head, HS = cfg.head_size();
  const float scale = 1.0f / std::sqrt(float(HS));
  auto one = [&](const Segment& s) {
    const KvSeq::Impl& kv = *s.seq;
    const float* K = kv.k[size_t(layer)].data();
    const float* V = kv.v[size_t(layer)].data();
    const float* q = b.q.data() + size_t(s.row) * C;
    float* out = b.att.data() + size_t(s.row) * C;
    const int keys = kv.len + s.first + s.count + (cfg.causal ? 0 : s.after);
    if (s.single) return attention_row_forward(out, q, K, V, keys, NH, HS, scale);
    AttentionArgs a;
    a.B = 1, a.Tq = s.count, a.Tk = keys, a.NH = NH, a.HS = HS, a.scale = scale;
    a.causal = cfg.causal;
    attention_forward(out, nullptr, q, K, V, a);
  };
  if (segs.size() == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (const Segment& s : segs) one(s);  // attention_forward spreads the heads itself
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < segs.size(); i++) one(segs[i]);
  }
}

// The first part of layer `layer` on rows [r0, r1) of b (n rows in all): norm, then q, k and v;
// K and V go into the caches of `segs` (the sequences' parts in those rows).
void layer_qkv(const InferenceModel::Impl& m, int layer, const std::vector<Segment>& segs, int n,
               int r0, int r1, Buffers& b) {
  if (r1 <= r0) return;
  const TransformerSpec& cfg = m.cfg;
  const InferLayer& L = m.layers[size_t(layer)];
  const int C = cfg.n_embd;
  const float* h = b.x.data();
  if (cfg.pre_ln) {
    normalize(cfg, b.h.data(), b.x.data(), L.attn_norm_w, L.attn_norm_b, r0, r1);
    h = b.h.data();
  }
  linear(b.qkv.data(), L.qkv, L.qkv_b, h, n, r0, r1);
  add_lora(b.qkv.data(), 3 * C, h, C, segs, layer, EngineLora::qkv);
  store_kv(m, layer, segs, b);
}

// The rest of the layer on rows [r0, r1) of b, once every K and V it reads is cached: the
// queries of `segs` attend, then the output projection and the MLP, added into x:
// x += attn(norm(x)), x += mlp(norm(x)) (pre-LN) or x = norm(x + attn(x)), ... (post-LN).
void layer_rest(const InferenceModel::Impl& m, int layer, const std::vector<Segment>& segs, int n,
                int r0, int r1, Buffers& b) {
  if (r1 <= r0) return;  // a thread with no wanted rows
  const TransformerSpec& cfg = m.cfg;
  const InferLayer& L = m.layers[size_t(layer)];
  const int C = cfg.n_embd, H = cfg.ffn(), U = is_gated(cfg.act) ? 2 * H : H;
  const int64_t NC = int64_t(r1 - r0) * C, NH = int64_t(r1 - r0) * H;
  float* x = b.x.data();
  float* xr = x + size_t(r0) * C;
  float* proj = b.proj.data() + size_t(r0) * C;
  attend(m, layer, segs, b);
  linear(b.proj.data(), L.attn_out, L.attn_out_b, b.att.data(), n, r0, r1);
  add_lora(b.proj.data(), C, b.att.data(), C, segs, layer, EngineLora::attn_out);
  add_forward(xr, xr, proj, NC, NC);
  if (!cfg.pre_ln) normalize(cfg, x, x, L.attn_norm_w, L.attn_norm_b, r0, r1);
  // MLP sublayer.
  const float* h = x;
  if (cfg.pre_ln) {
    normalize(cfg, b.h.data(), x, L.ffn_norm_w, L.ffn_norm_b, r0, r1);
    h = b.h.data();
  }
  linear(b.up.data(), L.up, L.up_b, h, n, r0, r1);
  add_lora(b.up.data(), U, h, C, segs, layer, EngineLora::up);
  const float* up = b.up.data() + size_t(r0) * U;
  float* act = b.act.data() + size_t(r0) * H;
  switch (cfg.act) {
    case ActKind::swiglu:
    case ActKind::geglu:
      for (int r = 0; r < r1 - r0; r++) {  // each row of `up` is gate (H) then up (H)
        const float* g = up + size_t(r) * 2 * H;
        float* out = act + size_t(r) * H;
        if (cfg.act == ActKind::swiglu)
          swiglu_forward(out, g, g + H, H);
        else
          geglu_forward(out, g, g + H, H);
      }
      break;
    case ActKind::relu:
      relu_forward(act, up, NH);
      break;
    case ActKind::gelu:
      gelu_tanh_forward(act, up, NH);
      break;
  }
  linear(b.proj.data(), L.down, L.down_b, b.act.data(), n, r0, r1);
  add_lora(b.proj.data(), C, b.act.data(), H, segs, layer, EngineLora::down);
  add_forward(xr, xr, proj, NC, NC);
  if (!cfg.pre_ln) normalize(cfg, x, x, L.ffn_norm_w, L.ffn_norm_b, r0, r1);
}

// The last layer's rest runs only on the rows whose logits are wanted (a diffusion step wants
// its masked rows, a prefill its last row): rows [i0, i1) of `want` gathered into c (x and q),
// as segments that see the keys their rows of the pass see. Causally each row is a segment of
// its own; bidirectionally a sequence's neighbouring wanted rows share one.
std::vector<Segment> gather_wanted(const TransformerSpec& cfg, const std::vector<Segment>& segs,
                                   const std::vector<int>& want, int i0, int i1, const Buffers& b,
                                   Buffers& c) {
  const size_t C = size_t(cfg.n_embd);
  std::vector<Segment> out;
  for (int i = i0; i < i1; i++) {
    const int w = want[size_t(i)];
    const Segment& s = *std::find_if(segs.begin(), segs.end(),
                                     [&](const Segment& t) { return w < t.row + t.count; });
    // Bidirectionally every row of a sequence sees all its positions (first + count + after).
    Segment* prev = out.empty() ? nullptr : &out.back();
    if (!cfg.causal && prev && prev->seq == s.seq && prev->row + prev->count == i) {
      prev->count++, prev->after--;
    } else {
      out.push_back(
          {s.seq, i, 1, s.after + (s.row + s.count - 1 - w), s.first + (w - s.row), s.single});
    }
    std::memcpy(c.x.data() + size_t(i) * C, b.x.data() + size_t(w) * C, sizeof(float) * C);
    std::memcpy(c.q.data() + size_t(i) * C, b.q.data() + size_t(w) * C, sizeof(float) * C);
  }
  return out;
}

// Whether the threads should each take a share of the rows through every layer, meeting once per
// layer, rather than share out every product. For passes too small for a fork per product to pay
// (a diffusion step's block of 32 rows at n_embd 128: 10 forks per layer cost about as much as
// the layer's arithmetic), and only where every product runs on aero's kernels row by row.
bool rows_per_thread(const InferenceModel::Impl& m, const std::vector<Segment>& segs, int n,
                     int n_want) {
  const int nt = omp_get_max_threads();
  if (nt < 2 || omp_in_parallel() || n < 8 * nt) return false;
  const InferLayer& L = m.layers[0];
  const double macs =
      double(n) * double(L.qkv.rows * L.qkv.cols + L.attn_out.rows * L.attn_out.cols +
                         L.up.rows * L.up.cols + L.down.rows * L.down.cols);
  if (macs > kRowsPerThreadMacs) return false;
  for (const Segment& s : segs)
    if (s.seq->lora) return false;
  for (const InferLayer& l : m.layers)
    for (const QMatrix* w : {&l.qkv, &l.attn_out, &l.up, &l.down})
      if (!qmatmul_splits_rows(*w, n) || !qmatmul_splits_rows(*w, n_want)) return false;
  return true;
}

// Runs `tokens` (N, split into segments) through the model; logits of every row, or with
// last_only of the last row of each segment, or of the rows listed in `pick`.
std::vector<float> forward_segments(const InferenceModel::Impl& m, std::vector<Segment> segs,
                                    const int32_t* tokens, int n, bool last_only,
                                    const std::vector<int>* pick = nullptr) {
  const TransformerSpec& cfg = m.cfg;
  const int C = cfg.n_embd, V = cfg.vocab_size;
  for (const Segment& s : segs) {
    AERO_CHECK(s.seq->model == &m, "[engine] a KvSeq was made for another model");
    AERO_CHECK(s.seq->len + s.count + s.after <= cfg.block_size, "[engine] ", s.seq->len,
               " cached + ", s.count, " new tokens do not fit the context of ", cfg.block_size);
    s.seq->reserve(s.seq->len + s.count + s.after);
  }
  for (int i = 0; i < n; i++)
    AERO_CHECK(tokens[i] >= 0 && tokens[i] < V, "[engine] token ", tokens[i],
               " is outside the vocabulary of ", V);
  Buffers b;
  b.resize(cfg, n);
  for (const Segment& s : segs)
    for (int r = 0; r < s.count; r++) {
      float* xr = b.x.data() + size_t(s.row + r) * C;
      const int32_t t = tokens[s.row + r];
      const int32_t slot =
          s.seq->lora && !s.seq->lora->slot.empty() ? s.seq->lora->slot[size_t(t)] : 0;
      const float* e = slot ? s.seq->lora->weights->embedding_rows.f32() + size_t(slot - 1) * C
                            : m.token_embd.data() + size_t(t) * C;
      std::memcpy(xr, e, sizeof(float) * C);
      if (!m.pos_embd.empty()) {
        const float* p = m.pos_embd.data() + size_t(s.seq->len + r) * C;
#pragma omp simd
        for (int c = 0; c < C; c++) xr[c] += p[c];
      }
    }
  // The rows whose logits are wanted, in the order of the logits.
  std::vector<int> want;
  if (last_only)
    for (const Segment& s : segs) want.push_back(s.row + s.count - 1);
  else if (pick)
    want = *pick;
  else
    for (int i = 0; i < n; i++) want.push_back(i);
  const int nr = int(want.size()), last = cfg.n_layer - 1;
  // With every row wanted the last layer runs in place like the others; else on the wanted
  // rows gathered into c.
  const bool all = !last_only && !pick;
  Buffers c;
  if (!all) c.resize(cfg, nr);
  Buffers& out = all ? b : c;
  if (rows_per_thread(m, segs, n, nr)) {
#pragma omp parallel
    {
      // Edges on multiples of 8 rows, the products' row tiles. The team meets once per layer,
      // when every K and V of the layer is cached.
      const int nt = omp_get_num_threads(), t = omp_get_thread_num();
      auto edge = [&](int k, int rows) { return k == nt ? rows : rows * k / nt / 8 * 8; };
      const int r0 = edge(t, n), r1 = edge(t + 1, n);
      const std::vector<Segment> mine = clip(segs, r0, r1);
      for (int l = 0; l <= last; l++) {
        layer_qkv(m, l, mine, n, r0, r1, b);
#pragma omp barrier
        if (l < last || all) layer_rest(m, l, mine, n, r0, r1, b);
      }
      if (!all) {
        const int i0 = nr * t / nt, i1 = nr * (t + 1) / nt;  // few rows: even shares, not tiles
        layer_rest(m, last, gather_wanted(cfg, segs, want, i0, i1, b, c), nr, i0, i1, c);
      }
    }
  } else {
    for (int l = 0; l <= last; l++) {
      layer_qkv(m, l, segs, n, 0, n, b);
      if (l < last || all) layer_rest(m, l, segs, n, 0, n, b);
    }
    if (!all) layer_rest(m, last, gather_wanted(cfg, segs, want, 0, nr, b, c), nr, 0, nr, c);
  }
  for (const Segment& s : segs) s.seq->len += s.count + s.after;

  // Final norm and head.
  const float* hx = out.x.data();
  if (cfg.pre_ln) {
    normalize(cfg, out.h.data(), hx, m.out_norm_w, m.out_norm_b, 0, nr);
    hx = out.h.data();
  }
  std::vector<float> logits(size_t(nr) * V);
  qmatmul(m.head, hx, nr, logits.data());
  // An adapter's token rows in place of the head's: the logits of its tokens, for its rows.
  for (int i = 0; i < nr; i++) {
    const int at = want[size_t(i)];
    const Segment* seg = nullptr;
    for (const Segment& s : segs)
      if (at >= s.row && at < s.row + s.count) seg = &s;
    const EngineLora* lora = seg ? seg->seq->lora : nullptr;
    if (!lora || lora->slot.empty()) continue;
    const float* h = hx + size_t(i) * C;
    for (size_t k = 0; k < lora->weights->token_ids.size(); k++) {
      const float* w = lora->head_rows + k * size_t(C);
      double d = 0;
      for (int c = 0; c < C; c++) d += double(h[c]) * w[c];
      logits[size_t(i) * V + size_t(lora->weights->token_ids[k])] = float(d);
    }
  }
  return logits;
}

}  // namespace

std::vector<float> forward_tokens(const InferenceModel& model, KvSeq& seq,
                                  const std::vector<int32_t>& tokens, bool all_logits) {
  AERO_CHECK(!tokens.empty(), "[engine] forward_tokens needs at least one token");
  std::vector<Segment> segs = {{&seq.impl(), 0, int(tokens.size())}};
  return forward_segments(model.impl(), segs, tokens.data(), int(tokens.size()), !all_logits);
}

std::vector<float> forward_rows(const InferenceModel& model, KvSeq& seq, int keep,
                                const std::vector<int32_t>& tokens, const std::vector<int>& rows) {
  return forward_rows(model, {{&seq, keep, &tokens, &rows}});
}

std::vector<float> forward_rows(const InferenceModel& model, const std::vector<RowsInput>& in) {
  std::vector<Segment> segs;
  std::vector<int32_t> all;
  std::vector<int> pick;
  for (size_t i = 0; i < in.size(); i++) {
    const RowsInput& r = in[i];
    const int n = int(r.tokens->size());
    AERO_CHECK(n > 0, "[engine] forward_rows needs at least one token");
    for (size_t j = 0; j < i; j++)
      AERO_CHECK(in[j].seq != r.seq, "[engine] forward_rows got the same sequence twice");
    for (int row : *r.rows) {
      AERO_CHECK(row >= 0 && row < n, "[engine] forward_rows: row ", row, " is outside the ", n,
                 " new tokens");
      pick.push_back(int(all.size()) + row);
    }
    KvSeq::Impl& kv = r.seq->impl();
    if (r.after > 0) {
      AERO_CHECK(!model.impl().cfg.causal,
                 "[engine] forward_rows: a causal model sees no "
                 "positions after the new tokens");
      AERO_CHECK(r.keep >= 0 && kv.len >= r.keep + n + r.after,
                 "[engine] forward_rows: the "
                 "cache holds ",
                 kv.len, " positions, not the ", r.keep, " + ", n, " + ", r.after, " asked");
    }
    kv.len = std::min(kv.len, std::max(r.keep, 0));
    segs.push_back({&kv, int(all.size()), n, std::max(r.after, 0)});
    all.insert(all.end(), r.tokens->begin(), r.tokens->end());
  }
  AERO_CHECK(!segs.empty(), "[engine] forward_rows needs at least one sequence");
  return forward_segments(model.impl(), segs, all.data(), int(all.size()), false, &pick);
}

std::vector<float> forward_last(const InferenceModel& model, const std::vector<KvSeq*>& seqs,
                                const std::vector<std::vector<int32_t>>& tokens) {
  AERO_ASSERT(!seqs.empty() && seqs.size() == tokens.size());
  std::vector<Segment> segs;
  std::vector<int32_t> all;
  for (size_t i = 0; i < seqs.size(); i++) {
    AERO_ASSERT(!tokens[i].empty());
    segs.push_back({&seqs[i]->impl(), int(all.size()), int(tokens[i].size())});
    all.insert(all.end(), tokens[i].begin(), tokens[i].end());
  }
  return forward_segments(model.impl(), segs, all.data(), int(all.size()), true);
}

std::vector<float> forward_batch(const InferenceModel& model, const std::vector<KvSeq*>& seqs,
                                 const std::vector<int32_t>& tokens) {
  AERO_CHECK(!seqs.empty() && seqs.size() == tokens.size(), "[engine] forward_batch needs one ",
             "token per sequence, got ", tokens.size(), " for ", seqs.size());
  std::vector<Segment> segs;
  for (size_t i = 0; i < seqs.size(); i++) {
    for (size_t j = 0; j < i; j++)
      AERO_CHECK(seqs[j] != seqs[i], "[engine] forward_batch got the same sequence twice");
    segs.push_back({&seqs[i]->impl(), int(i), 1});
  }
  return forward_segments(model.impl(), segs, tokens.data(), int(tokens.size()), false);
}

}  // namespace aero
