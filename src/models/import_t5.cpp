// Hugging Face T5 / mT5 import: part of the T5 row (models/t5.h). The names are already aero's
// (HF's own), so the import checks every tensor's name and shape and copies it.
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "models/t5.h"

namespace aero {
namespace {

namespace fs = std::filesystem;

// The safetensors files of a directory: one model.safetensors, or the shards an index names.
struct Shards {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, const SafetensorsFile*> where;  // tensor -> its file

  explicit Shards(const fs::path& d) {
    const fs::path single = d / "model.safetensors", index = d / "model.safetensors.index.json";
    if (fs::exists(single)) {
      add(single.string());
    } else if (fs::exists(index)) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(read_file(index.string()));
      } catch (const nlohmann::json::exception& e) {
        fail("[t5] ", index.string(), ": invalid JSON: ", e.what());
      }
      AERO_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), "[t5] ", index.string(),
                 ": no weight_map object");
      std::set<std::string> names;
      for (const auto& [tensor, file] : j["weight_map"].items()) {
        AERO_CHECK(file.is_string(), "[t5] ", index.string(), ": weight_map['", tensor,
                   "'] is not a file name");
        names.insert(file.get<std::string>());
      }
      for (const std::string& f : names) {
        AERO_CHECK(fs::exists(d / f), "[t5] ", index.string(), " names ", f, ", which is missing");
        add((d / f).string());
      }
    } else {
      const bool bin =
          fs::exists(d / "pytorch_model.bin") || fs::exists(d / "pytorch_model.bin.index.json");
      fail("[t5] ", d.string(), ": no model.safetensors or model.safetensors.index.json",
           bin ? "; pytorch_model.bin (a pickle) is not read: convert it to safetensors first "
                 "(e.g. `model.save_pretrained(dir, safe_serialization=True)` in transformers)"
               : "");
    }
  }
  void add(const std::string& path) {
    files.push_back(std::make_unique<SafetensorsFile>(path));
    for (const StEntry& e : files.back()->entries()) where[e.name] = files.back().get();
  }
  bool has(const std::string& n) const { return where.count(n) != 0; }
};

}  // namespace

ImportedModel read_hf_t5(const std::string& dir) {
  const fs::path d(dir);
  AERO_CHECK(fs::is_directory(d), "[t5] ", dir, ": no such directory");
  const std::string cfg_path = (d / "config.json").string();
  AERO_CHECK(fs::exists(cfg_path), "[t5] ", cfg_path,
             ": missing (a Hugging Face T5 directory has config.json, model.safetensors and "
             "spiece.model)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    fail("[t5] ", cfg_path, ": invalid JSON: ", e.what());
  }
  ImportedModel m{ModelConfig("t5"), {}, {}, {}};
  T5Config& c = m.cfg.as<T5Config>();
  std::string ffn;
  try {  // a field of the wrong JSON type is an error naming the file
    const std::string model_type = j.value("model_type", "t5");
    AERO_CHECK(model_type == "t5" || model_type == "mt5", "[t5] ", cfg_path, ": model_type is '",
               model_type, "', not t5 or mt5");

    auto get_int = [&](const char* key, int& dst, bool required) {
      if (!j.contains(key) || j[key].is_null()) {
        AERO_CHECK(!required, "[t5] ", cfg_path, ": missing integer '", key, "'");
        return;
      }
      AERO_CHECK(j[key].is_number_integer(), "[t5] ", cfg_path, ": '", key,
                 "' must be an integer, got ", j[key].dump());
      dst = j[key].get<int>();
    };
    for (auto [key, dst] :
         std::initializer_list<std::pair<const char*, int*>>{{"vocab_size", &c.vocab_size},
                                                             {"d_model", &c.d_model},
                                                             {"d_kv", &c.d_kv},
                                                             {"d_ff", &c.d_ff},
                                                             {"num_layers", &c.num_layers},
                                                             {"num_heads", &c.num_heads}})
      get_int(key, *dst, true);
    get_int("num_decoder_layers", c.num_decoder_layers, false);
    get_int("relative_attention_num_buckets", c.relative_attention_num_buckets, false);
    get_int("relative_attention_max_distance", c.relative_attention_max_distance, false);
    get_int("decoder_start_token_id", c.decoder_start_token_id, false);
    get_int("eos_token_id", c.eos_token_id, false);
    get_int("pad_token_id", c.pad_token_id, false);
    get_int("n_positions", c.n_positions, false);
    c.layer_norm_epsilon = j.value("layer_norm_epsilon", 1e-6f);
    c.dropout_rate = j.value("dropout_rate", 0.1f);
    c.initializer_factor = j.value("initializer_factor", 1.0f);
    // Old T5 configs have no feed_forward_proj: v1.0's relu.
    ffn = j.value("feed_forward_proj", std::string("relu"));
    c.feed_forward_proj = t5_ffn_names().parse(ffn, "[t5] " + cfg_path + ": feed_forward_proj");
    c.tie_word_embeddings = j.value("tie_word_embeddings", true);
  } catch (const nlohmann::json::exception& e) {
    fail("[t5] ", cfg_path, ": ", e.what());
  }

  const Shards st(d);
  // v1.0 vs v1.1 / mT5: the tensors must agree with the config.
  const bool gated_tensors = st.has("encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
  AERO_CHECK(gated_tensors == (c.feed_forward_proj == T5Ffn::gated_gelu), "[t5] ", dir,
             ": config.json says feed_forward_proj ", ffn, " but the checkpoint ",
             gated_tensors ? "has" : "has no", " encoder.block.0.layer.1.DenseReluDense.wi_0");
  AERO_CHECK(c.tie_word_embeddings || st.has("lm_head.weight"), "[t5] ", dir,
             ": tie_word_embeddings is false but there is no lm_head.weight");
  c.validate();
  // The layer counts against the tensors before the model is declared (a config claiming a
  // billion layers must not build them).
  for (auto [stack, layers] : {std::pair{"encoder", c.num_layers}, {"decoder", c.decoder_layers()}})
    AERO_CHECK(st.has(std::string(stack) + ".block." + std::to_string(layers - 1) +
                      ".layer.0.SelfAttention.q.weight"),
               "[t5] ", dir, ": config.json says ", layers, " ", stack, " layers but there is no ",
               stack, ".block.", layers - 1, ".layer.0.SelfAttention.q.weight");

  // Every parameter the model declares, read under its own name with its shape checked.
  ParamStore store;
  T5 model(c, store);
  std::set<std::string> used;
  for (const Param& p : store.params()) {
    std::string name = p.name;
    if (name == "shared.weight")
      for (const char* alt :
           {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"})
        if (st.has(alt)) {
          name = alt;
          break;
        }
    AERO_CHECK(st.has(name), "[t5] ", dir, ": no tensor '", p.name, "'",
               p.name == "shared.weight"
                   ? " (nor encoder.embed_tokens.weight or decoder.embed_tokens.weight)"
                   : "");
    const SafetensorsFile& f = *st.where.at(name);
    const StEntry& e = f.at(name);
    const std::vector<int64_t> want(p.shape.d.begin(), p.shape.d.begin() + p.shape.ndim);
    AERO_CHECK(e.shape == want, "[t5] ", f.path(), ": '", name, "' has shape ", e.shape_str(),
               ", config.json implies ", StEntry{"", StDType::F32, want}.shape_str());
    used.insert(name);
    m.weights.emplace_back(p.name, f.read_f32(name));
  }
  // Anything else is another model; the embedding's other names and a tied lm_head are copies.
  for (const auto& [name, f] : st.where) {
    const bool copy = name == "encoder.embed_tokens.weight" ||
                      name == "decoder.embed_tokens.weight" || name == "shared.weight" ||
                      (c.tie_word_embeddings && name == "lm_head.weight");
    AERO_CHECK(used.count(name) || copy, "[t5] ", f->path(), ": unexpected tensor '", name,
               "' (not a ", c.feed_forward_proj == T5Ffn::gated_gelu ? "T5 v1.1 / mT5" : "T5 v1.0",
               " checkpoint of this config?)");
  }
  const fs::path spiece = d / "spiece.model";
  if (fs::exists(spiece)) {
    m.tokenizer_files = {spiece.string()};
    // HF's T5 tokenizer: 100 sentinels after the pieces, <extra_id_N> = pieces + 99 - N.
    for (int n = 99; n >= 0; n--)
      m.special_tokens.push_back("<extra_id_" + std::to_string(n) + ">");
  }
  return m;
}

}  // namespace aero
