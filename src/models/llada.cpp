#include "models/llada.h"

namespace aero {

void LladaConfig::validate() const {
  GptConfig::validate();
  AERO_CHECK(
      mask_id >= 0,
      "[llada] model.mask_id is not set: a diffusion model needs a mask token; add one with "
      "`aero tokenizer add-tokens -m TOKENIZER \"<|mask|>\"` and set model.mask_id to its id");
  AERO_CHECK(mask_id < vocab_size, "[llada] model.mask_id ", mask_id,
             " is outside the vocabulary (model.vocab_size ", vocab_size, ")");
  try {
    sample.validate();
  } catch (const Error& e) {
    fail("[llada] the model's sampler defaults (model.sample_*): ", e.what());
  }
}

TransformerSpec LladaConfig::spec() const {
  TransformerSpec s = GptConfig::spec();
  s.causal = false;
  return s;
}

const FieldTable<LladaConfig>& llada_config_fields() {
  using C = LladaConfig;
  static const FieldTable<C> table = [] {
    // GPT's fields (member pointers of the base, named through the derived type), then mask_id.
    FieldTable<C> t("model");
    t.add<int>("vocab_size", &C::vocab_size, "tokens in the vocabulary (the mask token included)")
        .add<int>("block_size", &C::block_size, "context length in tokens (prompt + answer)")
        .add<int>("n_layer", &C::n_layer, "transformer blocks")
        .add<int>("n_head", &C::n_head, "attention heads")
        .add<int>("n_embd", &C::n_embd, "model width (d_model)")
        .add<int>("ffn_hidden", &C::ffn_hidden, "hidden width of the MLP (0: 4 * n_embd)")
        .add<PosKind>("pos", &C::pos, "position encoding", pos_names())
        .add<NormKind>("norm", &C::norm, "normalisation", norm_names())
        .add<bool>("pre_ln", &C::pre_ln, "normalise before each sublayer (false: after)")
        .add<ActKind>("act", &C::act, "MLP activation", act_names())
        .add<bool>("bias", &C::bias, "biases in linear layers")
        .add<bool>("tie_head", &C::tie_head, "output head shares the token embedding")
        .add<float>("dropout_emb", &C::dropout_emb, "dropout on embeddings (training only)")
        .add<float>("dropout_attn", &C::dropout_attn, "dropout on attention weights")
        .add<float>("dropout_resid", &C::dropout_resid, "dropout on residual branches")
        .add<float>("rope_theta", &C::rope_theta, "RoPE base frequency")
        .add<float>("norm_eps", &C::norm_eps, "epsilon of the normalisation")
        .add<float>("init_std", &C::init_std, "standard deviation of the weight init")
        .add<int>("mask_id", &C::mask_id, "id of the mask token (required)")
        // The sampler's defaults for this model (aero generate's flags and a request's
        // "diffusion" settings override them).
        .add("sample_gen_length", &C::sample, &DiffusionOpts::gen_length,
             "sampler default: answer length in tokens (aero generate --gen-length)")
        .add("sample_steps", &C::sample, &DiffusionOpts::steps,
             "sampler default: forward passes for sample_gen_length tokens (served answers of "
             "another length take as many per token)")
        .add("sample_block_length", &C::sample, &DiffusionOpts::block_length,
             "sampler default: semi-autoregressive block length (0: one block)")
        .add("sample_remasking", &C::sample, &DiffusionOpts::remasking,
             "sampler default: confidence that keeps a token", remasking_names())
        .add("sample_threshold", &C::sample, &DiffusionOpts::threshold,
             "sampler default: also commit every token this confident (0: off)")
        .add("sample_cfg_scale", &C::sample, &DiffusionOpts::cfg_scale,
             "sampler default: classifier-free guidance scale (0: off)")
        .add("sample_eos_confidence", &C::sample, &DiffusionOpts::eos_confidence,
             "sampler default: scale of EOS predictions' confidence (1: off)")
        .add("sample_cache", &C::sample, &DiffusionOpts::cache,
             "sampler default: K/V kept within a block (Fast-dLLM)", diffusion_cache_names());
    return t;
  }();
  return table;
}

Llada::Llada(const LladaConfig& cfg, ParamStore& store)
    : cfg_(cfg), stack_((cfg.validate(), cfg.spec()), store, "llada") {}

ModelConfig llada_model_config(const LladaConfig& cfg) {
  ModelConfig m("llada");
  m.as<LladaConfig>() = cfg;
  return m;
}

int mask_id_of(const ModelConfig& cfg) {
  AERO_CHECK(cfg.arch().family == ModelFamily::masked_lm, "[diffusion] a '", cfg.arch().name,
             "' model is a ", family_names().name(cfg.arch().family),
             ", not a masked diffusion model (masked_lm)");
  const int id = cfg.as<LladaConfig>().mask_id;
  cfg.validate();
  return id;
}

const Arch& llada_arch() {
  static const Arch row{
      .name = "llada",
      .summary = "masked diffusion language model (bidirectional transformer with a mask token)",
      .family = ModelFamily::masked_lm,
      .new_config =
          [] { return std::unique_ptr<ArchConfig>(new TableConfig(llada_config_fields())); },
      .build = [](const ModelConfig& c, ParamStore& store) -> std::unique_ptr<Model> {
        return std::make_unique<Llada>(c.as<LladaConfig>(), store);
      },
      .report =
          [](const ModelConfig& c, const ParamStore& store) {
            const LladaConfig& l = c.as<LladaConfig>();
            ParamReport r = stack_param_report(l.spec(), store);
            const DiffusionOpts& d = l.sample;
            r.summary =
                cat("llada: ", r.summary, ", mask token ", l.mask_id, "; sampler ", d.gen_length,
                    " tokens in blocks of ", d.block_length > 0 ? d.block_length : d.gen_length,
                    ", ", d.steps, " steps, ", remasking_names().name(d.remasking),
                    d.threshold > 0 ? cat(", threshold ", d.threshold) : "", ", ",
                    diffusion_cache_names().name(d.cache), " cache");
            return r;
          },
      .stack = [](const ModelConfig& c) { return c.as<LladaConfig>().spec(); },
      .importers = {},
      .tiny = R"({"vocab_size": 50, "mask_id": 49, "block_size": 16, "n_layer": 2,
                  "n_embd": 16, "ffn_hidden": 32})",
  };
  return row;
}

}  // namespace aero
