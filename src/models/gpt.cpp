#include "models/gpt.h"

#include <cmath>

namespace aero {

void GptConfig::validate() const {
  AERO_CHECK(vocab_size > 0 && block_size > 0 && n_layer > 0 && n_head > 0 && n_embd > 0,
             "[gpt] vocab_size, block_size, n_layer, n_head and n_embd must be positive");
  AERO_CHECK(n_embd % n_head == 0, "[gpt] n_embd ", n_embd, " is not divisible by n_head ", n_head);
  AERO_CHECK(pos != "rope" || head_size() % 2 == 0, "[gpt] RoPE needs an even head size, got ",
             head_size());
  for (float p : {dropout_emb, dropout_attn, dropout_resid})
    AERO_CHECK(p >= 0.0f && p < 1.0f, "[gpt] dropout must be in [0, 1), got ", p);
}

const FieldTable<GptConfig>& gpt_config_fields() {
  static const FieldTable<GptConfig> table = [] {
    FieldTable<GptConfig> t("model");
    t.add("vocab_size", &GptConfig::vocab_size, "tokens in the vocabulary")
        .add("block_size", &GptConfig::block_size, "context length in tokens")
        .add("n_layer", &GptConfig::n_layer, "transformer blocks")
        .add("n_head", &GptConfig::n_head, "attention heads")
        .add("n_embd", &GptConfig::n_embd, "model width (d_model)")
        .add("ffn_hidden", &GptConfig::ffn_hidden, "hidden width of the MLP (0: 4 * n_embd)")
        .add("pos", &GptConfig::pos, "position encoding", {"learned", "rope"})
        .add("norm", &GptConfig::norm, "normalisation", {"layernorm", "rmsnorm"})
        .add("pre_ln", &GptConfig::pre_ln, "normalise before each sublayer (false: after)")
        .add("act", &GptConfig::act, "MLP activation", {"gelu", "relu", "swiglu"})
        .add("bias", &GptConfig::bias, "biases in linear layers")
        .add("tie_head", &GptConfig::tie_head, "output head shares the token embedding")
        .add("dropout_emb", &GptConfig::dropout_emb, "dropout on embeddings (training only)")
        .add("dropout_attn", &GptConfig::dropout_attn, "dropout on attention weights")
        .add("dropout_resid", &GptConfig::dropout_resid, "dropout on residual branches")
        .add("rope_theta", &GptConfig::rope_theta, "RoPE base frequency")
        .add("norm_eps", &GptConfig::norm_eps, "epsilon of the normalisation")
        .add("init_std", &GptConfig::init_std, "standard deviation of the weight init");
    return t;
  }();
  return table;
}

Gpt::Gpt(const GptConfig& cfg, ParamStore& store) : cfg_(cfg), store_(store) {
  cfg_.validate();
  int64_t V = cfg_.vocab_size, C = cfg_.n_embd, H = cfg_.ffn(), L = cfg_.n_layer;
  float std = cfg_.init_std, proj_std = std / std::sqrt(2.0f * float(L));
  auto matrix = [&](const std::string& name, Shape s, float sd) {
    store_.declare(name, s, Init::normal, sd).decay = true;
  };
  auto vec = [&](const std::string& name, int64_t n, Init init) {
    store_.declare(name, {n}, init).decay = false;
  };
  auto norm_params = [&](const std::string& name) {
    vec(name + ".weight", C, Init::ones);
    if (cfg_.norm == "layernorm") vec(name + ".bias", C, Init::zeros);
  };
  auto linear_params = [&](const std::string& name, int64_t out, int64_t in, float sd) {
    matrix(name + ".weight", {out, in}, sd);
    if (cfg_.bias) vec(name + ".bias", out, Init::zeros);
  };
  matrix("token_embd.weight", {V, C}, std);
  if (cfg_.pos == "learned") matrix("position_embd.weight", {cfg_.block_size, C}, std);
  for (int64_t l = 0; l < L; l++) {
    std::string b = "blk." + std::to_string(l) + ".";
    norm_params(b + "attn_norm");
    linear_params(b + "attn_q", C, C, std);
    linear_params(b + "attn_k", C, C, std);
    linear_params(b + "attn_v", C, C, std);
    linear_params(b + "attn_output", C, C, proj_std);
    norm_params(b + "ffn_norm");
    if (cfg_.act == "swiglu") linear_params(b + "ffn_gate", H, C, std);
    linear_params(b + "ffn_up", H, C, std);
    linear_params(b + "ffn_down", C, H, proj_std);
  }
  if (cfg_.pre_ln) norm_params("output_norm");
  if (!cfg_.tie_head) matrix("output.weight", {V, C}, std);
}

Var Gpt::p(Tape& tape, const std::string& name) {
  return store_.has(name) ? store_.var(tape, name) : Var{};
}

Var Gpt::norm(Tape& tape, Var x, const std::string& name) {
  if (cfg_.norm == "rmsnorm") return rms_norm(x, p(tape, name + ".weight"), cfg_.norm_eps);
  return layer_norm(x, p(tape, name + ".weight"), p(tape, name + ".bias"), cfg_.norm_eps);
}

Var Gpt::block(Tape& tape, Var x, int layer) {
  std::string b = "blk." + std::to_string(layer) + ".";
  auto lin = [&](Var in, const std::string& name) {
    return linear(in, p(tape, b + name + ".weight"), p(tape, b + name + ".bias"));
  };
  // x + W·h + b: without dropout on the branch, the residual add is part of the projection's
  // own pass (linear's residual input) instead of a pass of its own.
  auto residual = [&](Var x_in, Var h_in, const std::string& name) {
    if (cfg_.dropout_resid > 0 && tape.training)
      return add(x_in, dropout(lin(h_in, name), cfg_.dropout_resid));
    return linear(h_in, p(tape, b + name + ".weight"), p(tape, b + name + ".bias"), x_in);
  };
  // Attention sublayer.
  Var h = cfg_.pre_ln ? norm(tape, x, b + "attn_norm") : x;
  Var q = lin(h, "attn_q"), k = lin(h, "attn_k"), v = lin(h, "attn_v");
  if (cfg_.pos == "rope") {
    q = rope(q, cfg_.n_head, cfg_.rope_theta);
    k = rope(k, cfg_.n_head, cfg_.rope_theta);
  }
  AttentionOpts opts;
  opts.n_head = cfg_.n_head;
  opts.causal = true;
  opts.dropout = cfg_.dropout_attn;
  x = residual(x, attention(q, k, v, opts), "attn_output");
  if (!cfg_.pre_ln) x = norm(tape, x, b + "attn_norm");
  // MLP sublayer.
  h = cfg_.pre_ln ? norm(tape, x, b + "ffn_norm") : x;
  Var m;
  if (cfg_.act == "swiglu")
    m = swiglu(lin(h, "ffn_gate"), lin(h, "ffn_up"));
  else if (cfg_.act == "relu")
    m = relu(lin(h, "ffn_up"));
  else
    m = gelu(lin(h, "ffn_up"), /*tanh_approx=*/true);
  x = residual(x, m, "ffn_down");
  if (!cfg_.pre_ln) x = norm(tape, x, b + "ffn_norm");
  return x;
}

Var Gpt::forward(Tape& tape, const Tensor& ids) {
  AERO_CHECK(ids.ndim() == 2 && ids.dtype() == DType::i32, "[gpt] ids must be (B, T) i32, got ",
             ids.shape().str(), " ", dtype_name(ids.dtype()));
  int64_t T = ids.size(1);
  AERO_CHECK(T >= 1 && T <= cfg_.block_size, "[gpt] sequence of ", T,
             " tokens does not fit the context of ", cfg_.block_size);
  Var wte = p(tape, "token_embd.weight");
  Var x = embedding(wte, ids);  // (B, T, C)
  if (cfg_.pos == "learned") {
    Tensor pos = tape.alloc({T}, DType::i32);
    for (int64_t t = 0; t < T; t++) pos.i32()[t] = int32_t(t);
    x = add(x, embedding(p(tape, "position_embd.weight"), pos));  // (T, C) broadcast over B
  }
  if (cfg_.dropout_emb > 0) x = dropout(x, cfg_.dropout_emb);
  for (int l = 0; l < cfg_.n_layer; l++) x = block(tape, x, l);
  if (cfg_.pre_ln) x = norm(tape, x, "output_norm");
  return linear(x, cfg_.tie_head ? wte : p(tape, "output.weight"));  // (B, T, V)
}

GptParamReport Gpt::param_report() const {
  GptParamReport r;
  auto count = [&](auto pred) {
    int64_t n = 0;
    for (const Param& prm : store_.params())
      if (pred(prm.name)) n += prm.numel();
    return n;
  };
  auto ends = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  auto is_norm = [&](const std::string& n) { return n.find("norm.") != std::string::npos; };
  auto is_bias = [&](const std::string& n) { return !is_norm(n) && ends(n, ".bias"); };
  auto weight_of = [&](const std::string& part) {
    return [&, part](const std::string& n) {
      return n.find(part) != std::string::npos && !is_norm(n) && !is_bias(n);
    };
  };
  int64_t L = cfg_.n_layer;
  r.rows.push_back({"token embedding", count(weight_of("token_embd"))});
  if (cfg_.pos == "learned")
    r.rows.push_back({"position embedding", count(weight_of("position_embd"))});
  r.rows.push_back({"attention per layer", count(weight_of("attn_")) / L});
  r.rows.push_back({"ffn per layer", count(weight_of("ffn_")) / L});
  r.rows.push_back({cfg_.tie_head ? "head (tied to the embedding)" : "head",
                    count([](const std::string& n) { return n == "output.weight"; })});
  r.norms = count(is_norm);
  r.biases = count(is_bias);
  r.total = store_.count();
  r.weights = r.total - r.norms - r.biases;
  return r;
}

}  // namespace aero
