// Hugging Face GPT-2 import: part of the GPT row (models/gpt.h).
#include "models/gpt.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace aero {
namespace {

namespace fs = std::filesystem;

// (in, out) Conv1D weight -> (out, in).
Tensor transposed(const Tensor& w) {
  const int64_t in = w.size(0), out = w.size(1);
  Tensor t = Tensor::empty({out, in});
  for (int64_t i = 0; i < in; i++)
    for (int64_t o = 0; o < out; o++) t.f32()[o * in + i] = w.f32()[i * out + o];
  return t;
}

// Rows [r0, r0 + n) of a (rows, cols) tensor, or elements of a vector.
Tensor rows(const Tensor& t, int64_t r0, int64_t n) {
  const int64_t cols = t.ndim() == 2 ? t.size(1) : 1;
  Tensor out = t.ndim() == 2 ? Tensor::empty({n, cols}) : Tensor::empty({n});
  std::copy(t.f32() + r0 * cols, t.f32() + (r0 + n) * cols, out.f32());
  return out;
}

}  // namespace

ImportedModel read_hf_gpt2(const std::string& dir) {
  const fs::path d(dir);
  AERO_CHECK(fs::is_directory(d), "[import] ", dir, ": no such directory");
  const std::string cfg_path = (d / "config.json").string();
  const std::string st_path = (d / "model.safetensors").string();
  for (const std::string& p : {cfg_path, st_path})
    AERO_CHECK(fs::exists(p), "[import] ", p,
               ": missing (a Hugging Face GPT-2 directory has "
               "config.json and model.safetensors)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    fail("[import] ", cfg_path, ": invalid JSON: ", e.what());
  }
  auto get_int = [&](std::initializer_list<const char*> keys) -> int {
    for (const char* k : keys)
      if (j.contains(k) && j[k].is_number_integer()) return j[k].get<int>();
    fail("[import] ", cfg_path, ": missing integer '", *keys.begin(), "'");
  };
  const std::string model_type = j.value("model_type", "gpt2");
  AERO_CHECK(model_type == "gpt2", "[import] ", cfg_path, ": model_type is '", model_type,
             "', not gpt2");
  const std::string act = j.value("activation_function", "gelu_new");
  AERO_CHECK(act == "gelu_new" || act == "gelu_pytorch_tanh", "[import] ", cfg_path,
             ": activation_function '", act,
             "' is not supported: aero's GELU is the tanh approximation (gelu_new)");
  AERO_CHECK(
      j.value("scale_attn_weights", true) && !j.value("scale_attn_by_inverse_layer_idx", false),
      "[import] ", cfg_path, ": only attention scaled by 1/sqrt(head size) is supported");

  ImportedModel m{ModelConfig("gpt"), {}, {}, {}};
  GptConfig& c = m.cfg.as<GptConfig>();
  c.vocab_size = get_int({"vocab_size"});
  c.block_size = get_int({"n_positions", "n_ctx"});
  c.n_layer = get_int({"n_layer"});
  c.n_head = get_int({"n_head"});
  c.n_embd = get_int({"n_embd"});
  c.ffn_hidden = j.contains("n_inner") && j["n_inner"].is_number_integer() ? j["n_inner"].get<int>()
                                                                           : 4 * c.n_embd;
  c.pos = PosKind::learned;
  c.norm = NormKind::layernorm;
  c.pre_ln = true;
  c.act = ActKind::gelu;
  c.bias = true;
  c.tie_head = j.value("tie_word_embeddings", true);
  c.dropout_emb = c.dropout_attn = c.dropout_resid = 0.0f;
  c.norm_eps = j.value("layer_norm_epsilon", 1e-5f);
  c.validate();

  SafetensorsFile f(st_path);
  const std::string pre = f.has("transformer.wte.weight") ? "transformer." : "";
  std::set<std::string> used;
  const int64_t C = c.n_embd, H = c.ffn(), V = c.vocab_size;
  auto read = [&](const std::string& name, std::vector<int64_t> shape) {
    const std::string full = (name == "lm_head.weight" ? "" : pre) + name;
    AERO_CHECK(f.has(full), "[import] ", st_path, ": no tensor '", full, "'");
    const StEntry& e = f.at(full);
    AERO_CHECK(e.shape == shape, "[import] ", st_path, ": '", full, "' has shape ", e.shape_str(),
               ", config.json implies ", StEntry{"", StDType::F32, shape}.shape_str());
    used.insert(full);
    return f.read_f32(full);
  };
  auto put = [&](const std::string& name, Tensor t) { m.weights.emplace_back(name, std::move(t)); };
  put("token_embd.weight", read("wte.weight", {V, C}));
  put("position_embd.weight", read("wpe.weight", {c.block_size, C}));
  for (int l = 0; l < c.n_layer; l++) {
    const std::string h = "h." + std::to_string(l) + ".", b = "blk." + std::to_string(l) + ".";
    put(b + "attn_norm.weight", read(h + "ln_1.weight", {C}));
    put(b + "attn_norm.bias", read(h + "ln_1.bias", {C}));
    const Tensor qkv = transposed(read(h + "attn.c_attn.weight", {C, 3 * C}));  // (3C, C)
    const Tensor qkv_b = read(h + "attn.c_attn.bias", {3 * C});
    int i = 0;
    for (const char* part : {"attn_q", "attn_k", "attn_v"}) {
      put(b + part + ".weight", rows(qkv, i * C, C));
      put(b + part + ".bias", rows(qkv_b, i * C, C));
      i++;
    }
    put(b + "attn_output.weight", transposed(read(h + "attn.c_proj.weight", {C, C})));
    put(b + "attn_output.bias", read(h + "attn.c_proj.bias", {C}));
    put(b + "ffn_norm.weight", read(h + "ln_2.weight", {C}));
    put(b + "ffn_norm.bias", read(h + "ln_2.bias", {C}));
    put(b + "ffn_up.weight", transposed(read(h + "mlp.c_fc.weight", {C, H})));
    put(b + "ffn_up.bias", read(h + "mlp.c_fc.bias", {H}));
    put(b + "ffn_down.weight", transposed(read(h + "mlp.c_proj.weight", {H, C})));
    put(b + "ffn_down.bias", read(h + "mlp.c_proj.bias", {C}));
  }
  put("output_norm.weight", read("ln_f.weight", {C}));
  put("output_norm.bias", read("ln_f.bias", {C}));
  if (!c.tie_head) put("output.weight", read("lm_head.weight", {V, C}));
  // Anything else is another model, except the causal-mask buffers old checkpoints carry and a
  // head tied to wte.
  for (const StEntry& e : f.entries()) {
    const bool buffer = e.name.ends_with(".attn.bias") || e.name.ends_with(".attn.masked_bias");
    AERO_CHECK(used.count(e.name) || buffer || (c.tie_head && e.name == "lm_head.weight"),
               "[import] ", st_path, ": unexpected tensor '", e.name,
               "' (not a GPT-2 checkpoint?)");
  }
  const fs::path vocab = d / "vocab.json", merges = d / "merges.txt";
  if (fs::exists(vocab) && fs::exists(merges))
    m.tokenizer_files = {vocab.string(), merges.string()};
  return m;
}

}  // namespace aero
