// T5Rows: the T5 decoder over rows of different requests (continuous batching, beam search).
// Each row keeps its own encoder's cross-attention keys and values (shared by the rows forked
// from it) and its own self-attention cache. A step runs without a tape, on the kernels the GPT
// inference engine uses: every matrix once for all rows (qmatmul: q, k and v stacked into one
// matrix, wi_0 and wi_1 into another), attention row by row against the row's own cache
// (attention_row_forward, with T5's relative-position bias in self-attention). The decoder's
// matrices and the head run as f32 (read in place from the model's parameters), bf16 or q8
// copies (kernels/quant.h); the encoder, norms and embeddings stay f32. A row may carry a LoRA
// adapter kept apart from the weights (several adapters over one base): its modules' products
// join the decoder's after each matrix, and its encoder and cross-attention projections run with
// the adapter hooked into those Linears while the row is added.
#include <omp.h>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <unordered_map>

#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "models/t5.h"
#include "nn/lora.h"

namespace aero {

namespace {

// The matrices of `parts` (each (out_i, in)) stacked by rows into one (Σ out_i, in) in `format`.
// f32 parts that lie one after the other in memory are read in place; other f32 parts are
// copied. Stacking quantized rows is concatenation: bf16 and q8 rows are stored (and q8's
// scales) row by row.
QMatrix stacked(std::initializer_list<const Linear*> parts, QFormat format) {
  for (const Linear* l : parts) {
    AERO_CHECK(l->adapter == nullptr, "[t5] decoding needs LoRA adapters merged into ", l->name(),
               " (LoraAttachment::merge)");
    AERO_ASSERT(l->bias_param() == nullptr && l->in() == (*parts.begin())->in());
  }
  const int cols = int((*parts.begin())->in());
  int rows = 0;
  bool adjacent = true;
  const float* next = (*parts.begin())->weight_param().value.f32();
  for (const Linear* l : parts) {
    const float* w = l->weight_param().value.f32();
    adjacent = adjacent && w == next;
    next = w + l->out() * l->in();
    rows += int(l->out());
  }
  if (format == QFormat::f32 && adjacent)
    return f32_view((*parts.begin())->weight_param().value.f32(), rows, cols);
  if (format != QFormat::f32 && parts.size() == 1)  // no second copy, even for a moment
    return quantize((*parts.begin())->weight_param().value.f32(), rows, cols, format);
  QMatrix m;
  m.format = format;
  m.rows = rows;
  m.cols = cols;
  for (const Linear* l : parts) {
    const float* w = l->weight_param().value.f32();
    if (format == QFormat::f32) {
      m.f32.insert(m.f32.end(), w, w + l->out() * l->in());
      continue;
    }
    QMatrix p = quantize(w, int(l->out()), cols, format);
    m.bf16.insert(m.bf16.end(), p.bf16.begin(), p.bf16.end());
    m.q.insert(m.q.end(), p.q.begin(), p.q.end());
    m.scale.insert(m.scale.end(), p.scale.begin(), p.scale.end());
  }
  return m;
}

}  // namespace

class T5Rows final : public Seq2SeqRows {
 public:
  T5Rows(T5& m, QFormat format) : m_(m) {
    const T5Config& c = m.cfg_;
    for (const T5::Block& b : m.decoder_.blocks) {
      Layer L;
      L.self_norm = b.self_norm.weight_param().value.f32();
      L.cross_norm = b.cross_norm.weight_param().value.f32();
      L.ffn_norm = b.ffn_norm.weight_param().value.f32();
      const Attention &a = b.self_attn, &x = b.cross_attn;
      const bool gated = c.feed_forward_proj == T5Ffn::gated_gelu;
      L.parts = {{{&a.q, &a.k, &a.v}, {&a.o}, {&x.q}, {&x.o}, {}, {&b.wo}}};
      L.parts[kUp] =
          gated ? std::vector<const Linear*>{&b.wi_0, &b.wi_1} : std::vector<const Linear*>{&b.wi};
      L.qkv = stacked({&a.q, &a.k, &a.v}, format);
      L.self_o = stacked({&a.o}, format);
      L.cross_q = stacked({&x.q}, format);
      L.cross_o = stacked({&x.o}, format);
      L.up = gated ? stacked({&b.wi_0, &b.wi_1}, format) : stacked({&b.wi}, format);
      L.down = stacked({&b.wo}, format);
      layers_.push_back(std::move(L));
    }
    for (Linear* l : m.linears()) linears_[l->name()] = l;
    if (c.tie_word_embeddings) {
      head_ = format == QFormat::f32
                  ? f32_view(m.shared_.weight_param().value.f32(), c.vocab_size, c.d_model)
                  : quantize(m.shared_.weight_param().value.f32(), c.vocab_size, c.d_model, format);
    } else {
      head_ = stacked({&m.lm_head_}, format);
    }
  }

  int add(std::span<const int32_t> src, const LoraWeights* adapter) override {
    AERO_CHECK(!src.empty(), "[t5] a source of no tokens");
    const int64_t S = int64_t(src.size()), L = int64_t(m_.decoder_.blocks.size());
    const Lora* lora = adapter ? &resolve(*adapter) : nullptr;
    auto cross = std::make_shared<Cross>();
    cross->S = S;
    {
      // The adapter's modules hooked into the encoder's and the cross projections' Linears, its
      // token rows written over the embedding's, for this pass only.
      Hooked hooked(lora, m_.shared_.weight_param());
      tape_.reset();
      NoGrad ng(tape_);
      tape_.training = false;
      Tensor ids = Tensor::empty({1, S}, DType::i32);
      std::copy(src.begin(), src.end(), ids.i32());
      Var enc = m_.encode(tape_, ids, {});  // (1, S, C)
      for (const T5::Block& b : m_.decoder_.blocks) {
        cross->k.push_back(b.cross_attn.k.forward(tape_, enc).value().contiguous_copy());
        cross->v.push_back(b.cross_attn.v.forward(tape_, enc).value().contiguous_copy());
      }
      tape_.reset();
    }
    Row r;
    r.lora = lora;
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

  size_t step_weight_bytes() const override {
    const size_t C = size_t(m_.cfg_.d_model);
    size_t b = head_.bytes() + C * 4;  // the head and the final norm
    for (const Layer& L : layers_)
      b += L.qkv.bytes() + L.self_o.bytes() + L.cross_q.bytes() + L.cross_o.bytes() + L.up.bytes() +
           L.down.bytes() + 3 * C * 4;
    return b;
  }

  Tensor step(std::span<const int> rows, std::span<const int32_t> ids) override {
    AERO_CHECK(rows.size() == ids.size() && !rows.empty(),
               "[t5] a step takes one id for each of at least one row");
    const T5Config& c = m_.cfg_;
    const int n = int(rows.size()), C = c.d_model, NH = c.num_heads, HS = c.d_kv, V = c.vocab_size;
    const int D = NH * HS, F = c.d_ff;
    const float eps = c.layer_norm_epsilon;
    std::vector<Row*> rs;
    for (size_t i = 0; i < rows.size(); i++) {
      AERO_CHECK(ids[i] >= 0 && ids[i] < V, "[t5] decoder input ", ids[i],
                 " is outside the vocabulary of ", V);
      rs.push_back(&at(rows[i]));
    }
    const size_t N = size_t(n);
    x_.resize(N * C), h_.resize(N * C), proj_.resize(N * C), qkv_.resize(N * 3 * D);
    att_.resize(N * D), up_.resize(N * 2 * F), act_.resize(N * F);
    embedding_forward(x_.data(), ids.data(), m_.shared_.weight_param().value.f32(), n, C);
    for (int i = 0; i < n; i++)
      if (const Lora* lo = rs[size_t(i)]->lora; lo && !lo->slot.empty())
        if (const int32_t k = lo->slot[size_t(ids[size_t(i)])])
          std::memcpy(x_.data() + size_t(i) * C, lo->w->embedding_rows.f32() + size_t(k - 1) * C,
                      sizeof(float) * size_t(C));
    // The relative-position bias (NH, t) of the query at t - 1 over t keys, once per length.
    std::map<int64_t, std::vector<float>> bias;
    for (Row* r : rs)
      if (!bias.count(r->t + 1)) bias[r->t + 1] = position_bias(r->t + 1);
    const int64_t NC = int64_t(n) * C;
    for (size_t l = 0; l < layers_.size(); l++) {
      const Layer& L = layers_[l];
      // Self-attention: the new k and v join each row's cache, q attends to all of it.
      rms_norm_forward(h_.data(), nullptr, x_.data(), L.self_norm, n, C, eps);
      qmatmul(L.qkv, h_.data(), n, qkv_.data());  // (n, 3D): q, k, v
      add_lora(rs, l, kQkv, h_.data(), C, qkv_.data(), 3 * D);
      for (int i = 0; i < n; i++) {
        Row& r = *rs[size_t(i)];
        const float* kv = qkv_.data() + size_t(i) * 3 * D;
        r.k[l].insert(r.k[l].end(), kv + D, kv + 2 * D);
        r.v[l].insert(r.v[l].end(), kv + 2 * D, kv + 3 * D);
      }
      each_row(n, [&](int i) {
        const Row& r = *rs[size_t(i)];
        attention_row_forward(att_.data() + size_t(i) * D, qkv_.data() + size_t(i) * 3 * D,
                              r.k[l].data(), r.v[l].data(), int(r.t + 1), NH, HS, 1.0f,
                              bias.at(r.t + 1).data());
      });
      residual(rs, l, kSelfO, L.self_o, D, NC);
      // Cross-attention over the row's encoder output.
      rms_norm_forward(h_.data(), nullptr, x_.data(), L.cross_norm, n, C, eps);
      qmatmul(L.cross_q, h_.data(), n, qkv_.data());  // (n, D)
      add_lora(rs, l, kCrossQ, h_.data(), C, qkv_.data(), D);
      each_row(n, [&](int i) {
        const Cross& cr = *rs[size_t(i)]->cross;
        attention_row_forward(att_.data() + size_t(i) * D, qkv_.data() + size_t(i) * D,
                              cr.k[l].f32(), cr.v[l].f32(), int(cr.S), NH, HS, 1.0f);
      });
      residual(rs, l, kCrossO, L.cross_o, D, NC);
      // Feed-forward: relu(wi·h) or gelu(wi_0·h) * (wi_1·h), then wo.
      rms_norm_forward(h_.data(), nullptr, x_.data(), L.ffn_norm, n, C, eps);
      qmatmul(L.up, h_.data(), n, up_.data());
      const bool gated = c.feed_forward_proj == T5Ffn::gated_gelu;
      add_lora(rs, l, kUp, h_.data(), C, up_.data(), gated ? 2 * F : F);
      if (gated) {
        for (int i = 0; i < n; i++) {  // each row of up: wi_0·h (F), then wi_1·h (F)
          const float* g = up_.data() + size_t(i) * 2 * F;
          geglu_forward(act_.data() + size_t(i) * F, g, g + F, F);
        }
      } else {
        relu_forward(act_.data(), up_.data(), int64_t(n) * F);
      }
      qmatmul(L.down, act_.data(), n, proj_.data());
      add_lora(rs, l, kDown, act_.data(), F, proj_.data(), C);
      add_forward(x_.data(), x_.data(), proj_.data(), NC, NC);
    }
    for (Row* r : rs) r->t++;
    rms_norm_forward(h_.data(), nullptr, x_.data(),
                     m_.decoder_.final_norm.weight_param().value.f32(), n, C, eps);
    if (c.tie_word_embeddings) {  // v1.0 rescales before the tied projection
      const float s = 1.0f / std::sqrt(float(C));
      for (float& v : h_) v *= s;
    }
    Tensor logits = Tensor::empty({int64_t(n), int64_t(V)});
    qmatmul(head_, h_.data(), n, logits.f32());
    // An adapter's token rows in place of the head's: the logits of its tokens, for its rows.
    for (int i = 0; i < n; i++) {
      const Lora* lo = rs[size_t(i)]->lora;
      if (!lo || lo->slot.empty()) continue;
      const float* h = h_.data() + size_t(i) * C;
      for (size_t k = 0; k < lo->w->token_ids.size(); k++) {
        const float* w = lo->head_rows + k * size_t(C);
        double d = 0;
        for (int j = 0; j < C; j++) d += double(h[j]) * w[j];
        logits.f32()[size_t(i) * V + size_t(lo->w->token_ids[k])] = float(d);
      }
    }
    return logits;
  }

 private:
  // The stacked matrices of a decoder layer, in Layer::parts.
  enum Matrix { kQkv, kSelfO, kCrossQ, kCrossO, kUp, kDown };
  // An adapter laid onto the decoder's stacked matrices (each module at the column where its
  // rows sit in the stack), its tape adapters for the encoder's pass, and its token rows.
  struct Lora {
    struct Part {
      const LoraWeights::Module* module;
      int col;
    };
    const LoraWeights* w = nullptr;
    std::vector<std::array<std::vector<Part>, 6>> layers;
    std::vector<std::pair<Linear*, std::unique_ptr<LoraWeightsAdapter>>> hooks;  // every module
    std::vector<int32_t> slot;  // (V) token id -> 1 + row, or 0
    const float* head_rows = nullptr;
  };
  // While alive: the adapter's tape adapters hooked into their Linears and its token rows over
  // the embedding's (the base's rows restored after).
  class Hooked {
   public:
    Hooked(const Lora* lora, Param& table) : lora_(lora), table_(table) {
      if (!lora_) return;
      for (const auto& [linear, ad] : lora_->hooks) linear->adapter = ad.get();
      const int64_t C = table_.shape[1];
      for (size_t k = 0; k < lora_->w->token_ids.size(); k++) {
        float* row = table_.value.f32() + size_t(lora_->w->token_ids[k]) * size_t(C);
        saved_.insert(saved_.end(), row, row + C);
        std::memcpy(row, lora_->w->embedding_rows.f32() + k * size_t(C), sizeof(float) * size_t(C));
      }
    }
    ~Hooked() {
      if (!lora_) return;
      for (const auto& [linear, ad] : lora_->hooks) linear->adapter = nullptr;
      const int64_t C = table_.shape[1];
      for (size_t k = 0; k < lora_->w->token_ids.size(); k++)
        std::memcpy(table_.value.f32() + size_t(lora_->w->token_ids[k]) * size_t(C),
                    saved_.data() + k * size_t(C), sizeof(float) * size_t(C));
    }
    Hooked(const Hooked&) = delete;
    Hooked& operator=(const Hooked&) = delete;

   private:
    const Lora* lora_;
    Param& table_;
    std::vector<float> saved_;
  };

  const Lora& resolve(const LoraWeights& w) {
    std::unique_ptr<Lora>& lo = loras_[&w];
    if (lo) return *lo;
    auto r = std::make_unique<Lora>();
    r->w = &w;
    for (const auto& [name, module] : w.modules) {
      auto it = linears_.find(name);
      AERO_CHECK(it != linears_.end(), "[t5] the adapter's module ", name, " is not in the model");
      AERO_CHECK(
          module.a.shape()[1] == it->second->in() && module.b.shape()[0] == it->second->out(),
          "[t5] the adapter's module ", name, " does not fit the model's shape");
      AERO_CHECK(it->second->adapter == nullptr, "[t5] ", name, " already has an adapter merged");
      r->hooks.emplace_back(it->second, std::make_unique<LoraWeightsAdapter>(module));
    }
    for (const Layer& L : layers_) {
      std::array<std::vector<Lora::Part>, 6> parts;
      for (size_t m = 0; m < parts.size(); m++) {
        int col = 0;
        for (const Linear* l : L.parts[m]) {
          auto it = w.modules.find(l->name());
          if (it != w.modules.end()) parts[m].push_back({&it->second, col});
          col += int(l->out());
        }
      }
      r->layers.push_back(std::move(parts));
    }
    if (!w.token_ids.empty()) {
      const T5Config& c = m_.cfg_;
      AERO_CHECK(m_.shared_.weight_param().value.dtype() == DType::f32,
                 "[t5] adapter token rows need an f32 embedding");
      AERO_CHECK(w.head_rows.defined() || c.tie_word_embeddings,
                 "[t5] the adapter has no head rows for its tokens, and the head is untied");
      r->slot = w.token_slots(c.vocab_size);
      r->head_rows = (w.head_rows.defined() ? w.head_rows : w.embedding_rows).f32();
    }
    lo = std::move(r);
    return *lo;
  }

  // Cross-attention keys and values of one source, per decoder layer: (1, S, D) each.
  struct Cross {
    std::vector<Tensor> k, v;
    int64_t S = 0;
  };
  struct Row {
    const Lora* lora = nullptr;  // the row's adapter; null: the base
    std::shared_ptr<const Cross> cross;
    std::vector<std::vector<float>> k, v;  // per layer (t, D): self-attention keys and values
    int64_t t = 0;                         // decoder tokens seen
  };
  // One decoder block's weights: matrices in the generator's format, norms (C) f32.
  struct Layer {
    const float *self_norm = nullptr, *cross_norm = nullptr, *ffn_norm = nullptr;
    QMatrix qkv;                                      // (3D, C): q, k, v
    QMatrix self_o, cross_o;                          // (C, D)
    QMatrix cross_q;                                  // (D, C)
    QMatrix up;                                       // (F, C) wi, or (2F, C) wi_0 then wi_1
    QMatrix down;                                     // (C, F) wo
    std::array<std::vector<const Linear*>, 6> parts;  // the Linears of each matrix (Matrix)
  };

  // The adapters' products joined to matrix `m` of layer l (y (n, out) from x (n, in)), for
  // each run of adjacent rows that share an adapter.
  void add_lora(const std::vector<Row*>& rs, size_t l, Matrix m, const float* x, int in, float* y,
                int out) const {
    for (size_t i = 0; i < rs.size();) {
      const Lora* lo = rs[i]->lora;
      size_t j = i + 1;
      while (j < rs.size() && rs[j]->lora == lo) j++;
      if (lo)
        for (const Lora::Part& p : lo->layers[l][m])
          p.module->add_to(x + i * size_t(in), in, int(j - i), y + i * size_t(out) + size_t(p.col),
                           out);
      i = j;
    }
  }

  // (NH, t): the bias of the query at position t - 1 over keys 0..t-1 (causal buckets).
  std::vector<float> position_bias(int64_t t) const {
    const T5Config& c = m_.cfg_;
    const int NH = c.num_heads;
    const float* table = m_.decoder_.rel_bias.weight_param().value.f32();  // (buckets, NH)
    std::vector<float> b(size_t(NH) * size_t(t));
    for (int64_t j = 0; j < t; j++) {
      const int k = t5_relative_bucket(j - (t - 1), false, c.relative_attention_num_buckets,
                                       c.relative_attention_max_distance);
      for (int h = 0; h < NH; h++) b[size_t(h) * size_t(t) + size_t(j)] = table[k * NH + h];
    }
    return b;
  }

  // x += att · Wᵀ (att (n, D) -> (n, C)), with the rows' adapters.
  void residual(const std::vector<Row*>& rs, size_t l, Matrix m, const QMatrix& w, int D,
                int64_t NC) {
    const int n = int(rs.size());
    qmatmul(w, att_.data(), n, proj_.data());
    add_lora(rs, l, m, att_.data(), D, proj_.data(), int(m_.cfg_.d_model));
    add_forward(x_.data(), x_.data(), proj_.data(), NC, NC);
  }

  // fn(i) for the rows 0..n-1: over the threads when several rows share a step (each row's
  // attention then runs on one thread), else on the caller (its heads split over the threads).
  template <typename Fn>
  static void each_row(int n, Fn&& fn) {
    if (n == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
      for (int i = 0; i < n; i++) fn(i);
      return;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) fn(i);
  }

  Row& at(int row) {
    auto it = rows_.find(row);
    AERO_CHECK(it != rows_.end(), "[t5] internal: no decoding row ", row);
    return it->second;
  }
  const Row& at(int row) const { return const_cast<T5Rows*>(this)->at(row); }

  T5& m_;
  std::vector<Layer> layers_;
  std::unordered_map<std::string, Linear*> linears_;           // by name
  std::map<const LoraWeights*, std::unique_ptr<Lora>> loras_;  // resolved once each
  QMatrix head_;                                               // (V, C)
  Tape tape_;                                                  // the encoder's, in add()
  std::unordered_map<int, Row> rows_;
  int next_ = 0;
  std::vector<float> x_, h_, proj_;  // (n, C) residual stream, normed input, projection
  std::vector<float> qkv_, att_;     // (n, 3D), (n, D)
  std::vector<float> up_, act_;      // (n, 2F), (n, F)
};

std::unique_ptr<Seq2SeqRows> T5::start_rows(QFormat weights) {
  return std::make_unique<T5Rows>(*this, weights);
}

}  // namespace aero
