#include "models/load.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace aero {

namespace fs = std::filesystem;

CheckpointModelConfig read_checkpoint_model_config(const std::string& ckpt_dir) {
  const nlohmann::json j = read_checkpoint_json(ckpt_dir, "config.json");
  const std::string where = (fs::path(ckpt_dir) / "config.json").string();
  CheckpointModelConfig c;
  try {
    AERO_CHECK(j.is_object() && j.contains("model"), "[config] no model section");
    c.model = ModelConfig::from_json(j.at("model"));
    c.model.validate();
    if (j.contains("data") && j["data"].is_object() && j["data"].contains("tokenizer"))
      c.tokenizer = j["data"]["tokenizer"].get<std::string>();
    if (j.contains("lora")) lora_config_fields().from_json(c.lora, j["lora"]);
    if (j.contains("train") && j["train"].is_object() && j["train"].contains("init_from"))
      c.base = j["train"]["init_from"].get<std::string>();
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind('[', 0) == 0 && msg.find("] ") != std::string::npos)
      msg = msg.substr(msg.find("] ") + 2);
    fail("[checkpoint] ", where, ": ", msg);
  } catch (const nlohmann::json::exception& e) {
    fail("[checkpoint] ", where, ": ", e.what());
  }
  return c;
}

BuiltModel build_model(const ModelConfig& cfg, const LoraConfig& lora, ParamStore& store) {
  BuiltModel b;
  b.model = build_model(cfg, store);
  if (lora.r > 0)
    b.lora = std::make_unique<LoraAttachment>(attach_lora(b.model->linears(), store, lora));
  return b;
}

void load_checkpoint_weights(const std::string& ckpt_dir, const std::string& arch,
                             ParamStore& store, bool init) {
  const std::string model_path = checkpoint_file(ckpt_dir, "model.safetensors");
  // Stage every weight first, so a bad file changes nothing.
  Tensor staged = Tensor::zeros({std::max<int64_t>(1, store.buffer_floats())});
  std::set<std::string> filled;
  std::string base;
  as_checkpoint_error([&] {
    SafetensorsFile f(model_path);
    base = check_checkpoint_weights(f, arch).base;
    for (const StEntry& e : f.entries())
      AERO_CHECK(store.has(e.name), "[checkpoint] ", model_path, ": unexpected tensor '", e.name,
                 "' (a checkpoint of another model configuration?)");
    for (const Param& p : store.params())
      if (f.has(p.name)) {
        f.read_into(p.name, Tensor::wrap(staged.f32() + p.offset, p.shape));
        filled.insert(p.name);
      }
  });
  if (!base.empty()) {
    // The trainable part over a base: the base's weights fill in every other parameter.
    const std::string base_path = checkpoint_file(
        find_checkpoint(fs::path(base).is_absolute()
                            ? base
                            : (fs::path(ckpt_dir) / base).lexically_normal().string()),
        "model.safetensors");
    as_checkpoint_error([&] {
      SafetensorsFile f(base_path);
      check_checkpoint_weights(f, arch);
      for (const Param& p : store.params())
        if (!filled.count(p.name) && f.has(p.name)) {
          f.read_into(p.name, Tensor::wrap(staged.f32() + p.offset, p.shape));
          filled.insert(p.name);
        }
    });
  }
  for (const Param& p : store.params())
    AERO_CHECK(filled.count(p.name) || (init && p.trainable), "[checkpoint] ", model_path,
               ": no tensor '", p.name, "'", base.empty() ? "" : " (nor in its base " + base + ")",
               " (a checkpoint of another model configuration?)");
  for (Param& p : store.params())
    if (filled.count(p.name))
      std::copy(staged.f32() + p.offset, staged.f32() + p.offset + p.numel(), p.value.f32());
}

LoadedModel load_model(const std::string& path) {
  LoadedModel m;
  m.dir = find_checkpoint(path);
  AERO_CHECK(!m.dir.empty(), "[checkpoint] ", path, " holds no checkpoint");
  CheckpointModelConfig c = read_checkpoint_model_config(m.dir);
  m.cfg = std::move(c.model);
  m.lora_cfg = c.lora;
  m.tokenizer = std::move(c.tokenizer);
  m.store = std::make_unique<ParamStore>();
  BuiltModel b = build_model(m.cfg, m.lora_cfg, *m.store);
  m.model = std::move(b.model);
  m.lora = std::move(b.lora);
  m.store->finalize(0);
  load_checkpoint_weights(m.dir, m.cfg.arch().name, *m.store);
  return m;
}

}  // namespace aero
