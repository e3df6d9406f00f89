#include "models/gpt.h"

#include <cmath>

namespace aero {

void GptConfig::validate() const {
  AERO_CHECK(vocab_size > 0 && block_size > 0 && n_layer > 0 && n_head > 0 && n_embd > 0,
             "[gpt] vocab_size, block_size, n_layer, n_head and n_embd must be positive");
  AERO_CHECK(n_embd % n_head == 0, "[gpt] n_embd ", n_embd, " is not divisible by n_head ", n_head);
  AERO_CHECK(pos != PosKind::rope || head_size() % 2 == 0,
             "[gpt] RoPE needs an even head size, got ", head_size());
  for (float p : {dropout_emb, dropout_attn, dropout_resid})
    AERO_CHECK(p >= 0.0f && p < 1.0f, "[gpt] dropout must be in [0, 1), got ", p);
}

TransformerSpec GptConfig::spec() const {
  TransformerSpec s;
  s.vocab_size = vocab_size;
  s.block_size = block_size;
  s.n_layer = n_layer;
  s.n_head = n_head;
  s.n_embd = n_embd;
  s.ffn_hidden = ffn();
  s.pos = pos;
  s.norm = norm;
  s.pre_ln = pre_ln;
  s.act = act;
  s.bias = bias;
  s.tie_head = tie_head;
  s.causal = true;
  s.dropout_emb = dropout_emb;
  s.dropout_attn = dropout_attn;
  s.dropout_resid = dropout_resid;
  s.rope_theta = rope_theta;
  s.norm_eps = norm_eps;
  s.init_std = init_std;
  return s;
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
        .add("pos", &GptConfig::pos, "position encoding", pos_names())
        .add("norm", &GptConfig::norm, "normalisation", norm_names())
        .add("pre_ln", &GptConfig::pre_ln, "normalise before each sublayer (false: after)")
        .add("act", &GptConfig::act, "MLP activation", act_names())
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

ParamReport stack_param_report(const TransformerSpec& s, const ParamStore& store) {
  ParamReport r;
  auto count = [&](auto pred) {
    int64_t n = 0;
    for (const Param& prm : store.params())
      if (pred(prm.name)) n += prm.numel();
    return n;
  };
  auto is_norm = [](const std::string& n) { return n.find("norm.") != std::string::npos; };
  auto is_bias = [&](const std::string& n) { return !is_norm(n) && n.ends_with(".bias"); };
  auto weight_of = [&](const std::string& part) {
    return [&, part](const std::string& n) {
      return n.find(part) != std::string::npos && !is_norm(n) && !is_bias(n);
    };
  };
  const int64_t L = s.n_layer;
  r.summary = cat(s.n_layer, " layers, ", s.n_head, " heads of ", s.head_size(), ", n_embd ",
                  s.n_embd, ", ffn ", s.ffn(), " (", act_names().name(s.act), "), context ",
                  s.block_size, ", vocab ", s.vocab_size, "\n", pos_names().name(s.pos),
                  " positions, ", norm_names().name(s.norm), " ", s.pre_ln ? "pre-LN" : "post-LN",
                  ", ", s.bias ? "biases" : "no biases", ", ", s.tie_head ? "tied" : "untied",
                  " head, ", s.causal ? "causal" : "bidirectional", " attention");
  r.rows.push_back({"token embedding", count(weight_of("token_embd"))});
  if (s.pos == PosKind::learned)
    r.rows.push_back({"position embedding", count(weight_of("position_embd"))});
  r.rows.push_back({"attention per layer", count(weight_of("attn_")) / L, int(L)});
  r.rows.push_back({"ffn per layer", count(weight_of("ffn_")) / L, int(L)});
  r.rows.push_back({s.tie_head ? "head (tied to the embedding)" : "head",
                    count([](const std::string& n) { return n == "output.weight"; })});
  r.norms = count(is_norm);
  r.biases = count(is_bias);
  r.total = store.count();
  r.weights = r.total - r.norms - r.biases;
  return r;
}

Gpt::Gpt(const GptConfig& cfg, ParamStore& store)
    : cfg_(cfg), store_(store), stack_((cfg.validate(), cfg.spec()), store, "gpt") {}

ParamReport Gpt::param_report() const {
  ParamReport r = stack_param_report(cfg_.spec(), store_);
  r.summary = "gpt: " + r.summary;
  return r;
}

ModelConfig gpt_model_config(const GptConfig& cfg) {
  ModelConfig m("gpt");
  m.as<GptConfig>() = cfg;
  return m;
}

const Arch& gpt_arch() {
  static const Arch row{
      .name = "gpt",
      .summary = "decoder-only transformer (causal language model)",
      .family = ModelFamily::causal_lm,
      .new_config =
          [] { return std::unique_ptr<ArchConfig>(new TableConfig(gpt_config_fields())); },
      .build = [](const ModelConfig& c, ParamStore& store) -> std::unique_ptr<Model> {
        return std::make_unique<Gpt>(c.as<GptConfig>(), store);
      },
      .report =
          [](const ModelConfig& c, const ParamStore& store) {
            ParamReport r = stack_param_report(c.as<GptConfig>().spec(), store);
            r.summary = "gpt: " + r.summary;
            return r;
          },
      .stack = [](const ModelConfig& c) { return c.as<GptConfig>().spec(); },
      .importers = {{"hf-gpt2",
                     "Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, "
                     "merges.txt)",
                     &read_hf_gpt2}},
      .tiny = R"({"vocab_size": 50, "block_size": 16, "n_layer": 2, "n_embd": 16,
                  "ffn_hidden": 32})",
  };
  return row;
}

}  // namespace aero
