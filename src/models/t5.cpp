#include "models/t5.h"

#include <array>
#include <cmath>

namespace aero {

const EnumNames<T5Ffn>& t5_ffn_names() {
  static const EnumNames<T5Ffn> n{{T5Ffn::relu, "relu"}, {T5Ffn::gated_gelu, "gated-gelu"}};
  return n;
}

void T5Config::validate() const {
  AERO_CHECK(vocab_size > 0 && d_model > 0 && d_kv > 0 && d_ff > 0 && num_layers > 0 &&
                 num_decoder_layers >= 0 && num_heads > 0 && n_positions > 0,
             "[t5] vocab_size, d_model, d_kv, d_ff, num_layers, num_heads and n_positions must be "
             "positive");
  AERO_CHECK(relative_attention_num_buckets >= 4 && relative_attention_max_distance >= 2,
             "[t5] relative_attention_num_buckets must be >= 4 and "
             "relative_attention_max_distance >= 2");
  AERO_CHECK(dropout_rate >= 0.0f && dropout_rate < 1.0f,
             "[t5] dropout_rate must be in [0, 1), got ", dropout_rate);
  for (int id : {decoder_start_token_id, eos_token_id, pad_token_id})
    AERO_CHECK(id >= 0 && id < vocab_size,
               "[t5] decoder_start_token_id, eos_token_id and "
               "pad_token_id must be ids below vocab_size ",
               vocab_size, ", got ", id);
}

const FieldTable<T5Config>& t5_config_fields() {
  static const FieldTable<T5Config> table = [] {
    using C = T5Config;
    FieldTable<C> t("model");
    t.add("vocab_size", &C::vocab_size, "rows of the shared embedding (mT5: 250112)")
        .add("d_model", &C::d_model, "model width")
        .add("d_kv", &C::d_kv, "head size")
        .add("d_ff", &C::d_ff, "hidden width of the feed-forward layers")
        .add("num_layers", &C::num_layers, "encoder blocks")
        .add("num_decoder_layers", &C::num_decoder_layers, "decoder blocks (0: num_layers)")
        .add("num_heads", &C::num_heads, "attention heads")
        .add("relative_attention_num_buckets", &C::relative_attention_num_buckets,
             "relative-position buckets")
        .add("relative_attention_max_distance", &C::relative_attention_max_distance,
             "distance at which the last bucket starts")
        .add("dropout_rate", &C::dropout_rate, "dropout (training only)")
        .add("layer_norm_epsilon", &C::layer_norm_epsilon, "epsilon of the RMS norms")
        .add("feed_forward_proj", &C::feed_forward_proj, "feed-forward: relu or gated-gelu",
             t5_ffn_names())
        .add("tie_word_embeddings", &C::tie_word_embeddings,
             "head shares the embedding, decoder output scaled by d_model^-0.5 (T5 v1.0)")
        .add("decoder_start_token_id", &C::decoder_start_token_id, "first decoder input (pad)")
        .add("eos_token_id", &C::eos_token_id, "end of sequence")
        .add("pad_token_id", &C::pad_token_id, "padding")
        .add("n_positions", &C::n_positions, "longest sequence a batch is padded to")
        .add("initializer_factor", &C::initializer_factor, "scale of the weight init");
    return t;
  }();
  return table;
}

int t5_relative_bucket(int64_t rel, bool bidirectional, int num_buckets, int max_distance) {
  int bucket = 0;
  int nb = num_buckets;
  if (bidirectional) {
    nb /= 2;
    if (rel > 0) bucket += nb;
    rel = rel < 0 ? -rel : rel;
  } else {
    rel = rel < 0 ? -rel : 0;
  }
  const int max_exact = nb / 2;
  if (rel < max_exact) return bucket + int(rel);
  // float32 throughout, as torch computes it on relative_position.float()
  const float ratio = float(rel) / float(max_exact);
  const float denom = float(std::log(double(max_distance) / double(max_exact)));
  const float v = std::log(ratio) / denom * float(nb - max_exact);
  int64_t large = max_exact + int64_t(v);
  if (large > nb - 1) large = nb - 1;
  return bucket + int(large);
}

Tensor t5_bucket_table(int64_t Tq, int64_t Tk, int64_t q0, bool bidirectional, int num_buckets,
                       int max_distance) {
  Tensor t = Tensor::empty({Tq, Tk}, DType::i32);
  int32_t* p = t.i32();
  for (int64_t i = 0; i < Tq; i++)
    for (int64_t j = 0; j < Tk; j++)
      p[i * Tk + j] = t5_relative_bucket(j - (q0 + i), bidirectional, num_buckets, max_distance);
  return t;
}

T5::Stack T5::make_stack(ParamStore& store, const std::string& prefix, int layers, bool decoder) {
  const T5Config& c = cfg_;
  const float f = c.initializer_factor;
  const float d_std = f / std::sqrt(float(c.d_model));
  AttentionConfig ac;
  ac.n_embd = c.d_model;
  ac.n_head = c.num_heads;
  ac.head_size = c.d_kv;
  ac.bias = false;
  ac.scale = 1.0f;  // T5 folds the 1/sqrt(d) into the init of q
  ac.dropout = c.dropout_rate;
  ac.std = d_std;
  ac.out_std = f / std::sqrt(float(c.num_heads * c.d_kv));
  Stack s;
  s.blocks.resize(size_t(layers));
  for (int l = 0; l < layers; l++) {
    Block& b = s.blocks[size_t(l)];
    const std::string p = prefix + "block." + std::to_string(l) + ".layer.";
    auto names = [&](const std::string& layer) {
      return AttentionNames{layer + ".q", layer + ".k", layer + ".v", layer + ".o"};
    };
    ac.causal = decoder;
    b.self_attn = Attention(store, names(p + "0.SelfAttention"), ac);
    if (l == 0)
      s.rel_bias = Embedding(store, p + "0.SelfAttention.relative_attention_bias",
                             c.relative_attention_num_buckets, c.num_heads, d_std);
    b.self_norm =
        Norm(store, p + "0.layer_norm", c.d_model, NormKind::rmsnorm, c.layer_norm_epsilon);
    std::string ff = p + "1.";
    if (decoder) {
      ac.causal = false;
      b.cross_attn = Attention(store, names(p + "1.EncDecAttention"), ac);
      b.cross_norm =
          Norm(store, p + "1.layer_norm", c.d_model, NormKind::rmsnorm, c.layer_norm_epsilon);
      ff = p + "2.";
    }
    const float wo_std = f / std::sqrt(float(c.d_ff));
    if (c.feed_forward_proj == T5Ffn::gated_gelu) {
      b.wi_0 = Linear(store, ff + "DenseReluDense.wi_0", c.d_model, c.d_ff, false, d_std);
      b.wi_1 = Linear(store, ff + "DenseReluDense.wi_1", c.d_model, c.d_ff, false, d_std);
    } else {
      b.wi = Linear(store, ff + "DenseReluDense.wi", c.d_model, c.d_ff, false, d_std);
    }
    b.wo = Linear(store, ff + "DenseReluDense.wo", c.d_ff, c.d_model, false, wo_std);
    b.ffn_norm = Norm(store, ff + "layer_norm", c.d_model, NormKind::rmsnorm, c.layer_norm_epsilon);
    b.decoder = decoder;
    b.gated = c.feed_forward_proj == T5Ffn::gated_gelu;
    b.p_drop = c.dropout_rate;
  }
  s.final_norm =
      Norm(store, prefix + "final_layer_norm", c.d_model, NormKind::rmsnorm, c.layer_norm_epsilon);
  return s;
}

T5::T5(const T5Config& cfg, ParamStore& store) : cfg_((cfg.validate(), cfg)) {
  shared_ = Embedding(store, "shared", cfg.vocab_size, cfg.d_model, cfg.initializer_factor);
  encoder_ = make_stack(store, "encoder.", cfg.num_layers, false);
  decoder_ = make_stack(store, "decoder.", cfg.decoder_layers(), true);
  if (!cfg.tie_word_embeddings)
    lm_head_ = Linear(store, "lm_head", cfg.d_model, cfg.vocab_size, false, cfg.initializer_factor);
}

Var T5::position_bias(Tape& tape, const Stack& s, int64_t Tq, int64_t Tk,
                      bool bidirectional) const {
  const Tensor buckets =
      t5_bucket_table(Tq, Tk, Tk - Tq, bidirectional, cfg_.relative_attention_num_buckets,
                      cfg_.relative_attention_max_distance);
  // (Tq, Tk, NH) -> (NH, Tq, Tk): the embedding's backward scatters into the table
  Var b = s.rel_bias.forward(tape, buckets);
  return transpose(transpose(b, 1, 2), 0, 1);
}

Var T5::Block::ffn(Tape& tape, Var x) const {
  Var h = ffn_norm.forward(tape, x);
  Var m = gated ? geglu(wi_0.forward(tape, h), wi_1.forward(tape, h)) : relu(wi.forward(tape, h));
  if (p_drop > 0) m = dropout(m, p_drop);
  return residual_linear(tape, wo, m, x, p_drop);
}

Var T5::Block::run(Tape& tape, const Var* in, int n) const {
  const int n_fixed = decoder ? 3 : 2;
  const Tensor mask = n > n_fixed ? in[n_fixed].value() : Tensor();
  Var x = in[0];
  x = self_attn.forward(tape, self_norm.forward(tape, x), x, p_drop, {}, decoder ? Tensor() : mask,
                        in[1]);
  if (decoder) x = cross_attn.forward(tape, cross_norm.forward(tape, x), x, p_drop, in[2], mask);
  return ffn(tape, x);
}

Var T5::run_blocks(Tape& tape, const Stack& s, Var x, Var bias, Var enc, const Tensor& mask) const {
  const int every = tape.checkpoint_every;
  const Var m = mask.defined() ? tape.constant(mask) : Var();
  for (size_t l = 0; l < s.blocks.size(); l++) {
    const Block& b = s.blocks[l];
    const bool ckpt = every > 0 && l % size_t(every) == 0;
    if (b.decoder) {
      x = ckpt ? (m.defined() ? checkpoint(b, {x, bias, enc, m}) : checkpoint(b, {x, bias, enc}))
               : b.run(tape, std::array{x, bias, enc, m}.data(), m.defined() ? 4 : 3);
    } else {
      x = ckpt ? (m.defined() ? checkpoint(b, {x, bias, m}) : checkpoint(b, {x, bias}))
               : b.run(tape, std::array{x, bias, m}.data(), m.defined() ? 3 : 2);
    }
  }
  return x;
}

Var T5::encode(Tape& tape, const Tensor& src, const Tensor& mask) {
  const float p = cfg_.dropout_rate;
  Var x = shared_.forward(tape, src);
  if (p > 0) x = dropout(x, p);
  const int64_t S = src.size(1);
  Var bias = position_bias(tape, encoder_, S, S, true);
  x = run_blocks(tape, encoder_, x, bias, {}, mask);
  x = encoder_.final_norm.forward(tape, x);
  return p > 0 ? dropout(x, p) : x;
}

Var T5::decode(Tape& tape, const Tensor& ids, Var enc, const Tensor& mask) {
  const float p = cfg_.dropout_rate;
  Var y = shared_.forward(tape, ids);
  if (p > 0) y = dropout(y, p);
  const int64_t T = ids.size(1);
  Var bias = position_bias(tape, decoder_, T, T, false);
  y = run_blocks(tape, decoder_, y, bias, enc, mask);
  y = decoder_.final_norm.forward(tape, y);
  if (p > 0) y = dropout(y, p);
  if (!cfg_.tie_word_embeddings) return lm_head_.forward(tape, y);
  // v1.0 rescales before the tied projection
  return shared_.head(tape, scale(y, 1.0f / std::sqrt(float(cfg_.d_model))), shared_.weight(tape));
}

Var T5::forward(Tape& tape, const ModelInput& in) {
  AERO_CHECK(in.source_ids.defined(), "[t5] a T5 forward needs the encoder input (source_ids)");
  return decode(tape, in.ids, encode(tape, in.source_ids, in.source_mask), in.source_mask);
}

TokenTables T5::token_tables() {
  return {&shared_, cfg_.tie_word_embeddings ? nullptr : &lm_head_};
}

std::vector<Linear*> T5::linears() {
  std::vector<Linear*> out;
  for (Stack* s : {&encoder_, &decoder_})
    for (Block& b : s->blocks) {
      for (Attention* a : {&b.self_attn, &b.cross_attn})
        if (a->q.in() > 0)
          for (Linear* l : {&a->q, &a->k, &a->v, &a->o}) out.push_back(l);
      for (Linear* l : {&b.wi, &b.wi_0, &b.wi_1, &b.wo})
        if (l->in() > 0) out.push_back(l);
    }
  if (lm_head_.in() > 0) out.push_back(&lm_head_);
  return out;
}

// The decoder one token per step. Self-attention keys and values of earlier steps are kept as
// owning (B, t, NH*HS) buffers; the cross-attention ones are computed once from the encoder
// output. Each step runs on a fresh tape without gradients.
class T5Decoding final : public Seq2SeqDecoding {
 public:
  T5Decoding(T5& m, const Tensor& src, const Tensor& mask)
      : m_(m), mask_(mask.defined() ? mask.contiguous_copy() : Tensor{}), B_(src.size(0)) {
    NoGrad ng(tape_);
    tape_.training = false;
    Var enc = m.encode(tape_, src, mask_);
    for (const T5::Block& b : m.decoder_.blocks) {
      cross_k_.push_back(b.cross_attn.k.forward(tape_, enc).value().contiguous_copy());
      cross_v_.push_back(b.cross_attn.v.forward(tape_, enc).value().contiguous_copy());
    }
    self_k_.resize(m.decoder_.blocks.size());
    self_v_.resize(m.decoder_.blocks.size());
    tape_.reset();
  }

  int32_t start_id() const override { return m_.cfg_.decoder_start_token_id; }
  int32_t eos_id() const override { return m_.cfg_.eos_token_id; }

  Tensor step(const Tensor& ids) override {
    AERO_CHECK(ids.ndim() == 2 && ids.size(0) == B_ && ids.size(1) == 1,
               "[t5] a decoding step takes (", B_, ", 1) ids, got ", ids.shape().str());
    tape_.reset();
    NoGrad ng(tape_);
    tape_.training = false;
    const T5Config& c = m_.cfg_;
    const int64_t D = int64_t(c.num_heads) * c.d_kv, t = t_ + 1;
    Var y = m_.shared_.forward(tape_, ids);
    Var bias = m_.position_bias(tape_, m_.decoder_, 1, t, false);  // query at position t_
    AttentionOpts self;
    self.n_head = c.num_heads;
    self.scale = 1.0f;
    AttentionOpts cross = self;
    cross.key_mask = mask_;
    for (size_t l = 0; l < m_.decoder_.blocks.size(); l++) {
      const T5::Block& b = m_.decoder_.blocks[l];
      Var h = b.self_norm.forward(tape_, y);
      const Attention& a = b.self_attn;
      Var q = a.q.forward(tape_, h);
      Var k = tape_.constant(append(self_k_[l], a.k.forward(tape_, h).value(), D));
      Var v = tape_.constant(append(self_v_[l], a.v.forward(tape_, h).value(), D));
      y = residual_linear(tape_, a.o, attention(q, k, v, self, bias), y, 0.0f);
      h = b.cross_norm.forward(tape_, y);
      const Attention& x = b.cross_attn;
      Var att = attention(x.q.forward(tape_, h), tape_.constant(cross_k_[l]),
                          tape_.constant(cross_v_[l]), cross);
      y = residual_linear(tape_, x.o, att, y, 0.0f);
      y = b.ffn(tape_, y);
    }
    y = m_.decoder_.final_norm.forward(tape_, y);
    Var logits = c.tie_word_embeddings ? linear(scale(y, 1.0f / std::sqrt(float(c.d_model))),
                                                m_.shared_.weight(tape_))
                                       : m_.lm_head_.forward(tape_, y);
    t_ = t;
    return logits.value().contiguous_copy();
  }

 private:
  // cache (B, t_, D) + row (B, 1, D) -> (B, t_ + 1, D), kept as the new cache.
  Tensor append(std::vector<float>& cache, const Tensor& row, int64_t D) {
    const int64_t t = t_ + 1;
    std::vector<float> next(size_t(B_ * t * D));
    const float* r = row.f32();
    for (int64_t b = 0; b < B_; b++) {
      std::copy_n(cache.data() + b * t_ * D, t_ * D, next.data() + b * t * D);
      std::copy_n(r + b * D, D, next.data() + (b * t + t_) * D);
    }
    cache.swap(next);
    return Tensor::wrap(cache.data(), {B_, t, D});
  }

  T5& m_;
  Tape tape_;
  Tensor mask_;
  int64_t B_ = 0, t_ = 0;  // t_: decoder tokens seen so far
  std::vector<Tensor> cross_k_, cross_v_;
  std::vector<std::vector<float>> self_k_, self_v_;
};

std::unique_ptr<Seq2SeqDecoding> T5::start_decoding(const Tensor& src, const Tensor& mask) {
  return std::make_unique<T5Decoding>(*this, src, mask);
}

namespace {

ParamReport t5_report(const ModelConfig& mc, const ParamStore& store) {
  const T5Config& c = mc.as<T5Config>();
  ParamReport r;
  auto count = [&](auto pred) {
    int64_t n = 0;
    for (const Param& prm : store.params())
      if (pred(prm.name)) n += prm.numel();
    return n;
  };
  auto is_norm = [](const std::string& n) { return n.find("layer_norm.") != std::string::npos; };
  auto is_rel = [](const std::string& n) {
    return n.find("relative_attention_bias") != std::string::npos;
  };
  auto in_stack = [&](const std::string& stack) {
    return [&, stack](const std::string& n) {
      return n.starts_with(stack) && !is_norm(n) && !is_rel(n);
    };
  };
  const int L = c.num_layers, LD = c.decoder_layers();
  r.summary = cat("t5: ", L, " encoder + ", LD, " decoder layers, ", c.num_heads, " heads of ",
                  c.d_kv, ", d_model ", c.d_model, ", d_ff ", c.d_ff, " (",
                  t5_ffn_names().name(c.feed_forward_proj), "), vocab ", c.vocab_size,
                  "\nrelative positions (", c.relative_attention_num_buckets,
                  " buckets, max distance ", c.relative_attention_max_distance, "), RMS norm, ",
                  c.tie_word_embeddings ? "tied head scaled by d_model^-0.5" : "untied head");
  r.rows.push_back(
      {"shared embedding", count([](const std::string& n) { return n == "shared.weight"; })});
  r.rows.push_back({"encoder per layer", count(in_stack("encoder.")) / L, L});
  r.rows.push_back({"decoder per layer", count(in_stack("decoder.")) / LD, LD});
  r.rows.push_back({"relative bias (encoder + decoder)", count(is_rel)});
  r.rows.push_back({c.tie_word_embeddings ? "head (tied to the shared embedding)" : "head",
                    count([](const std::string& n) { return n == "lm_head.weight"; })});
  r.norms = count(is_norm);
  r.biases = 0;
  r.total = store.count();
  r.weights = r.total - r.norms;
  return r;
}

}  // namespace

const Arch& t5_arch() {
  static const Arch row{
      .name = "t5",
      .summary = "encoder-decoder transformer (T5 / mT5, Hugging Face compatible)",
      .family = ModelFamily::seq2seq,
      .new_config = [] { return std::unique_ptr<ArchConfig>(new TableConfig(t5_config_fields())); },
      .build = [](const ModelConfig& c, ParamStore& store) -> std::unique_ptr<Model> {
        return std::make_unique<T5>(c.as<T5Config>(), store);
      },
      .report = &t5_report,
      .stack = nullptr,
      .importers = {{"hf-t5",
                     "Hugging Face T5 / mT5 directory (config.json, model.safetensors or "
                     "model.safetensors.index.json, spiece.model)",
                     &read_hf_t5}},
      .tiny = R"({"vocab_size": 50, "d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 2,
                  "num_decoder_layers": 2, "num_heads": 2})",
  };
  return row;
}

}  // namespace aero
