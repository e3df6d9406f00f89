// The forward pass without a tape: N new tokens spread over one or more sequences go through
// every weight matrix together (one qmatmul per matrix, n = N); attention runs per sequence
// against its own KV cache. Prefill is one sequence with many tokens, batched decode many
// sequences with one token each.
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

// The rows of one sequence in a forward pass: rows [row, row + count) of the batch, at
// positions [seq->len, seq->len + count); the `after` cached positions past them are seen too.
struct Segment {
  KvSeq::Impl* seq;
  int row, count;
  int after = 0;
};

void add_bias(float* y, const std::vector<float>& b, int n) {
  if (b.empty()) return;
  const size_t R = b.size();
  for (int r = 0; r < n; r++) {
    float* yr = y + size_t(r) * R;
#pragma omp simd
    for (size_t i = 0; i < R; i++) yr[i] += b[i];
  }
}

void linear(float* y, const QMatrix& w, const std::vector<float>& b, const float* x, int n) {
  qmatmul(w, x, n, y);
  add_bias(y, b, n);
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

void normalize(const TransformerSpec& cfg, float* out, const float* x, const std::vector<float>& w,
               const std::vector<float>& b, int n) {
  if (cfg.norm == NormKind::rmsnorm)
    rms_norm_forward(out, nullptr, x, w.data(), n, cfg.n_embd, cfg.norm_eps);
  else
    layer_norm_forward(out, nullptr, nullptr, x, w.data(), b.empty() ? nullptr : b.data(), n,
                       cfg.n_embd, cfg.norm_eps);
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

// Attention of every segment: K and V of its new rows go into its cache (K rotated), then its
// queries attend to the whole cache, causally (bidirectionally for a non-causal stack).
void attend(const InferenceModel::Impl& m, int layer, const std::vector<Segment>& segs,
            Buffers& b) {
  const TransformerSpec& cfg = m.cfg;
  const int C = cfg.n_embd, NH = cfg.n_head, HS = cfg.head_size();
  const bool rope = cfg.pos == PosKind::rope;
  auto one = [&](const Segment& s) {
    KvSeq::Impl& kv = *s.seq;
    float* K = kv.k[size_t(layer)].data();
    float* V = kv.v[size_t(layer)].data();
    for (int r = 0; r < s.count; r++) {
      const float* src = b.qkv.data() + size_t(s.row + r) * 3 * C;
      size_t at = size_t(kv.len + r) * size_t(C);
      std::memcpy(b.q.data() + size_t(s.row + r) * C, src, sizeof(float) * size_t(C));
      std::memcpy(K + at, src + C, sizeof(float) * size_t(C));
      std::memcpy(V + at, src + 2 * C, sizeof(float) * size_t(C));
    }
    float* q = b.q.data() + size_t(s.row) * C;
    if (rope) {
      rope_forward(q, q, 1, s.count, NH, HS, cfg.rope_theta, kv.len);
      float* k_new = K + size_t(kv.len) * C;
      rope_forward(k_new, k_new, 1, s.count, NH, HS, cfg.rope_theta, kv.len);
    }
    if (s.count == 1) {
      attention_row_forward(b.att.data() + size_t(s.row) * C, q, K, V, kv.len + 1 + s.after, NH, HS,
                            1.0f / std::sqrt(float(HS)));
      return;
    }
    AttentionArgs a;
    a.B = 1, a.Tq = s.count, a.Tk = kv.len + s.count + s.after, a.NH = NH, a.HS = HS;
    a.scale = 1.0f / std::sqrt(float(HS));
    a.causal = cfg.causal;  // a masked_lm stack: every new row sees the cache and every new row
    attention_forward(b.att.data() + size_t(s.row) * C, nullptr, q, K, V, a);
  };
  if (segs.size() == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (const Segment& s : segs) one(s);  // attention_forward spreads the heads itself
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < segs.size(); i++) one(segs[i]);
  }
}

void block(const InferenceModel::Impl& m, int layer, const std::vector<Segment>& segs, int n,
           Buffers& b) {
  const TransformerSpec& cfg = m.cfg;
  const InferLayer& L = m.layers[size_t(layer)];
  const int64_t NC = int64_t(n) * cfg.n_embd, H = cfg.ffn();
  float* x = b.x.data();
  // Attention sublayer: x += attn(norm(x)) (pre-LN) or x = norm(x + attn(x)) (post-LN).
  const float* h = x;
  if (cfg.pre_ln) {
    normalize(cfg, b.h.data(), x, L.attn_norm_w, L.attn_norm_b, n);
    h = b.h.data();
  }
  linear(b.qkv.data(), L.qkv, L.qkv_b, h, n);
  add_lora(b.qkv.data(), 3 * cfg.n_embd, h, cfg.n_embd, segs, layer, EngineLora::qkv);
  attend(m, layer, segs, b);
  linear(b.proj.data(), L.attn_out, L.attn_out_b, b.att.data(), n);
  add_lora(b.proj.data(), cfg.n_embd, b.att.data(), cfg.n_embd, segs, layer, EngineLora::attn_out);
  add_forward(x, x, b.proj.data(), NC, NC);
  if (!cfg.pre_ln) normalize(cfg, x, x, L.attn_norm_w, L.attn_norm_b, n);
  // MLP sublayer.
  h = x;
  if (cfg.pre_ln) {
    normalize(cfg, b.h.data(), x, L.ffn_norm_w, L.ffn_norm_b, n);
    h = b.h.data();
  }
  linear(b.up.data(), L.up, L.up_b, h, n);
  add_lora(b.up.data(), is_gated(cfg.act) ? 2 * int(H) : int(H), h, cfg.n_embd, segs, layer,
           EngineLora::up);
  switch (cfg.act) {
    case ActKind::swiglu:
    case ActKind::geglu:
      for (int r = 0; r < n; r++) {  // each row of `up` is gate (H) then up (H)
        const float* g = b.up.data() + size_t(r) * 2 * H;
        float* out = b.act.data() + size_t(r) * H;
        if (cfg.act == ActKind::swiglu)
          swiglu_forward(out, g, g + H, H);
        else
          geglu_forward(out, g, g + H, H);
      }
      break;
    case ActKind::relu:
      relu_forward(b.act.data(), b.up.data(), int64_t(n) * H);
      break;
    case ActKind::gelu:
      gelu_tanh_forward(b.act.data(), b.up.data(), int64_t(n) * H);
      break;
  }
  linear(b.proj.data(), L.down, L.down_b, b.act.data(), n);
  add_lora(b.proj.data(), cfg.n_embd, b.act.data(), int(H), segs, layer, EngineLora::down);
  add_forward(x, x, b.proj.data(), NC, NC);
  if (!cfg.pre_ln) normalize(cfg, x, x, L.ffn_norm_w, L.ffn_norm_b, n);
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
  for (int l = 0; l < cfg.n_layer; l++) block(m, l, segs, n, b);
  for (const Segment& s : segs) s.seq->len += s.count + s.after;

  // Final norm and head, on the rows whose logits are wanted.
  std::vector<float> rows;
  const float* hx = b.x.data();
  int nr = n;
  if (last_only) {
    nr = int(segs.size());
    rows.resize(size_t(nr) * C);
    for (size_t i = 0; i < segs.size(); i++)
      std::memcpy(rows.data() + i * C, b.x.data() + size_t(segs[i].row + segs[i].count - 1) * C,
                  sizeof(float) * C);
    hx = rows.data();
  } else if (pick) {
    nr = int(pick->size());
    rows.resize(size_t(nr) * C);
    for (int i = 0; i < nr; i++)
      std::memcpy(rows.data() + size_t(i) * C, b.x.data() + size_t((*pick)[size_t(i)]) * C,
                  sizeof(float) * C);
    hx = rows.data();
  }
  if (cfg.pre_ln) {
    normalize(cfg, b.h.data(), hx, m.out_norm_w, m.out_norm_b, nr);
    hx = b.h.data();
  }
  std::vector<float> logits(size_t(nr) * V);
  qmatmul(m.head, hx, nr, logits.data());
  // An adapter's token rows in place of the head's: the logits of its tokens, for its rows.
  for (int i = 0; i < nr; i++) {
    const int at = last_only ? segs[size_t(i)].row + segs[size_t(i)].count - 1
                   : pick    ? (*pick)[size_t(i)]
                             : i;
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
