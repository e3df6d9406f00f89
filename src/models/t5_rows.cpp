// T5Rows: the T5 decoder over rows of different requests (continuous batching, beam search).
// Each row keeps its own encoder's cross-attention keys and values (shared by the rows forked
// from it) and its own self-attention cache; a step runs every projection, norm and the head
// once for all rows and attention row by row (each row has its own lengths). The decoder's
// matrices (projections, feed-forward, head) may run as bf16 or q8 copies (kernels/quant.h);
// the encoder, norms, embeddings and the relative-position bias stay f32.
#include <cmath>
#include <map>
#include <unordered_map>

#include "models/t5.h"

namespace aero {

class T5Rows final : public Seq2SeqRows {
 public:
  T5Rows(T5& m, QFormat format) : m_(m), format_(format) {
    if (format == QFormat::f32) return;
    auto q = [&](const Linear& l) {
      const Param& w = l.weight_param();
      qw_.emplace(&l, quantize(w.value.f32(), int(l.out()), int(l.in()), format));
    };
    for (const T5::Block& b : m.decoder_.blocks) {
      for (const Attention* a : {&b.self_attn, &b.cross_attn})
        for (const Linear* l : {&a->q, &a->k, &a->v, &a->o}) q(*l);
      for (const Linear* l : {&b.wi, &b.wi_0, &b.wi_1, &b.wo})
        if (l->in() > 0) q(*l);
    }
    const T5Config& c = m.cfg_;
    head_ = c.tie_word_embeddings
                ? quantize(m.shared_.weight_param().value.f32(), c.vocab_size, c.d_model, format)
                : quantize(m.lm_head_.weight_param().value.f32(), c.vocab_size, c.d_model, format);
  }

  int add(std::span<const int32_t> src) override {
    AERO_CHECK(!src.empty(), "[t5] a source of no tokens");
    const int64_t S = int64_t(src.size()), L = int64_t(m_.decoder_.blocks.size());
    tape_.reset();
    NoGrad ng(tape_);
    tape_.training = false;
    Tensor ids = Tensor::empty({1, S}, DType::i32);
    std::copy(src.begin(), src.end(), ids.i32());
    Var enc = m_.encode(tape_, ids, {});  // (1, S, C)
    auto cross = std::make_shared<Cross>();
    for (const T5::Block& b : m_.decoder_.blocks) {
      cross->k.push_back(b.cross_attn.k.forward(tape_, enc).value().contiguous_copy());
      cross->v.push_back(b.cross_attn.v.forward(tape_, enc).value().contiguous_copy());
    }
    tape_.reset();
    Row r;
    r.cross = std::move(cross);
    r.k.resize(size_t(L));
    r.v.resize(size_t(L));
    const int id = next_++;
    rows_.emplace(id, std::move(r));
    return id;
  }

  int fork(int row) override {
    const int id = next_++;
    rows_.emplace(id, at(row));
    return id;
  }

  void remove(int row) override { rows_.erase(row); }
  int length(int row) const override { return int(at(row).t); }
  int32_t start_id() const override { return m_.cfg_.decoder_start_token_id; }
  int32_t eos_id() const override { return m_.cfg_.eos_token_id; }

  Tensor step(std::span<const int> rows, std::span<const int32_t> ids) override {
    AERO_CHECK(rows.size() == ids.size() && !rows.empty(),
               "[t5] a step takes one id for each of at least one row");
    const T5Config& c = m_.cfg_;
    const int64_t n = int64_t(rows.size()), D = int64_t(c.num_heads) * c.d_kv;
    std::vector<Row*> rs;
    for (int r : rows) rs.push_back(&at(r));
    tape_.reset();
    NoGrad ng(tape_);
    tape_.training = false;
    Tensor idt = Tensor::empty({n, 1}, DType::i32);
    std::copy(ids.begin(), ids.end(), idt.i32());
    Var y = m_.shared_.forward(tape_, idt);  // (n, 1, C)
    // The relative-position bias of the query at position t - 1 over t keys, once per length.
    std::map<int64_t, Var> bias;
    for (Row* r : rs)
      if (!bias.count(r->t + 1))
        bias[r->t + 1] = m_.position_bias(tape_, m_.decoder_, 1, r->t + 1, false);
    AttentionOpts opts;
    opts.n_head = c.num_heads;
    opts.scale = 1.0f;
    std::vector<Var> parts(static_cast<size_t>(n));
    for (size_t l = 0; l < m_.decoder_.blocks.size(); l++) {
      const T5::Block& b = m_.decoder_.blocks[l];
      const Attention& a = b.self_attn;
      Var h = b.self_norm.forward(tape_, y);
      Var q = lin(a.q, h);                   // (n, 1, D)
      const Tensor k = lin(a.k, h).value();  // (n, 1, D)
      const Tensor v = lin(a.v, h).value();
      for (int64_t i = 0; i < n; i++) {
        Row& r = *rs[size_t(i)];
        r.k[l].insert(r.k[l].end(), k.f32() + i * D, k.f32() + (i + 1) * D);
        r.v[l].insert(r.v[l].end(), v.f32() + i * D, v.f32() + (i + 1) * D);
        const int64_t t = r.t + 1;
        parts[size_t(i)] =
            attention(slice(q, 0, i, 1), tape_.constant(Tensor::wrap(r.k[l].data(), {1, t, D})),
                      tape_.constant(Tensor::wrap(r.v[l].data(), {1, t, D})), opts, bias[t]);
      }
      y = aero::add(y, lin(a.o, n == 1 ? parts[0] : concat(parts, 0)));
      const Attention& x = b.cross_attn;
      Var xq = lin(x.q, b.cross_norm.forward(tape_, y));
      for (int64_t i = 0; i < n; i++) {
        const Cross& cr = *rs[size_t(i)]->cross;
        parts[size_t(i)] =
            attention(slice(xq, 0, i, 1), tape_.constant(cr.k[l]), tape_.constant(cr.v[l]), opts);
      }
      y = aero::add(y, lin(x.o, n == 1 ? parts[0] : concat(parts, 0)));
      Var h2 = b.ffn_norm.forward(tape_, y);
      Var mid = c.feed_forward_proj == T5Ffn::gated_gelu ? geglu(lin(b.wi_0, h2), lin(b.wi_1, h2))
                                                         : relu(lin(b.wi, h2));
      y = aero::add(y, lin(b.wo, mid));
    }
    y = m_.decoder_.final_norm.forward(tape_, y);
    if (c.tie_word_embeddings) y = scale(y, 1.0f / std::sqrt(float(c.d_model)));
    Var logits = format_ != QFormat::f32 ? qlinear(head_, y)
                 : c.tie_word_embeddings ? linear(y, m_.shared_.weight(tape_))
                                         : m_.lm_head_.forward(tape_, y);
    for (Row* r : rs) r->t++;
    Tensor out = logits.value().contiguous_copy();  // (n, 1, V)
    tape_.reset();
    return out.reshape({n, int64_t(c.vocab_size)});
  }

 private:
  // Cross-attention keys and values of one source, per decoder layer: (1, S, D) each.
  struct Cross {
    std::vector<Tensor> k, v;
  };
  struct Row {
    std::shared_ptr<const Cross> cross;
    std::vector<std::vector<float>> k, v;  // per layer (t, D): self-attention keys and values
    int64_t t = 0;                         // decoder tokens seen
  };
  // x (..., in) -> (..., out) through l's weights, or their bf16 / q8 copy.
  Var lin(const Linear& l, Var x) {
    return format_ == QFormat::f32 ? l.forward(tape_, x) : qlinear(qw_.at(&l), x);
  }
  Var qlinear(const QMatrix& w, Var x) {
    const Tensor in = x.value().contiguous_copy();
    const int64_t n = in.numel() / w.cols;
    Shape s = in.shape();
    s.d[size_t(s.ndim - 1)] = w.rows;
    Tensor out = Tensor::empty(s);
    qmatmul(w, in.f32(), int(n), out.f32());
    return tape_.constant(out);
  }

  Row& at(int row) {
    auto it = rows_.find(row);
    AERO_CHECK(it != rows_.end(), "[t5] internal: no decoding row ", row);
    return it->second;
  }
  const Row& at(int row) const { return const_cast<T5Rows*>(this)->at(row); }

  T5& m_;
  QFormat format_;
  std::unordered_map<const Linear*, QMatrix> qw_;  // the decoder's matrices (not f32)
  QMatrix head_;                                   // (V, C), not f32
  Tape tape_;
  std::unordered_map<int, Row> rows_;
  int next_ = 0;
};

std::unique_ptr<Seq2SeqRows> T5::start_rows(QFormat weights) {
  return std::make_unique<T5Rows>(*this, weights);
}

}  // namespace aero
