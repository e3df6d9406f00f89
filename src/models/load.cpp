#include "models/load.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/peft.h"

namespace aero {

namespace fs = std::filesystem;

namespace {

// Where p's tensor in f goes, at `data`: the whole parameter, or the first rows of a token table
// grown past the file's vocabulary (Param::file_rows_min; the other rows stay as they are until
// the added tokens' rows fill them).
Tensor destination(const SafetensorsFile& f, const Param& p, void* data, DType dtype) {
  const StEntry& e = f.at(p.name);
  if (p.file_rows_min > 0 && p.shape.ndim == 2 && e.shape.size() == 2 &&
      e.shape[1] == p.shape.d[1] && e.shape[0] >= p.file_rows_min && e.shape[0] < p.shape.d[0])
    return Tensor::wrap(data, {e.shape[0], e.shape[1]}, dtype);
  return Tensor::wrap(data, p.shape, dtype);
}

// What read_into would refuse for a bf16-stored parameter, checked before anything is read.
void check_bf16_source(const SafetensorsFile& f, const Param& p) {
  const StEntry& e = f.at(p.name);
  const Tensor d = destination(f, p, nullptr, DType::bf16);
  bool same = int(e.shape.size()) == d.ndim();
  for (int i = 0; same && i < d.ndim(); i++) same = e.shape[size_t(i)] == d.size(i);
  AERO_CHECK(same, "[safetensors] ", f.path(), ": tensor '", p.name, "' has shape ", e.shape_str(),
             " but expected ", d.shape().str());
  AERO_CHECK(e.dtype == StDType::F32 || e.dtype == StDType::F16 || e.dtype == StDType::BF16,
             "[safetensors] ", f.path(), ": tensor '", p.name, "' has dtype ",
             st_dtype_name(e.dtype), ", which cannot be read as bf16");
}

}  // namespace

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
  if (lora.r > 0 && !lora.trainable_tokens.empty()) {
    const std::vector<int32_t> ids(lora.trainable_tokens.begin(), lora.trainable_tokens.end());
    const TokenTables tables = b.model->token_tables();
    b.rows = attach_token_rows(tables, store, ids);
    const int64_t first = *std::min_element(ids.begin(), ids.end());
    for (Param* p : {tables.embedding ? &tables.embedding->weight_param() : nullptr,
                     tables.head ? &tables.head->weight_param() : nullptr})
      if (p && first > 0) p->file_rows_min = first;
  }
  return b;
}

void load_checkpoint_weights(const std::string& ckpt_dir, const std::string& arch,
                             ParamStore& store, bool init, const std::string& base_dir) {
  const std::string model_path = checkpoint_file(ckpt_dir, "model.safetensors");
  // f32 weights are staged first and bf16-stored ones (a frozen base) are checked first, so a
  // bad file changes nothing; the bf16 ones are then read straight into the store, so loading
  // a bf16 base never holds a second copy of it.
  Tensor staged = Tensor::zeros({std::max<int64_t>(1, store.buffer_floats())});
  std::map<std::string, const SafetensorsFile*> source;  // the file each parameter comes from
  std::unique_ptr<SafetensorsFile> model_file, base_file;
  std::string base;
  auto take = [&](const SafetensorsFile& f, const Param& p) {
    if (p.is_bf16())
      check_bf16_source(f, p);
    else
      f.read_into(p.name, destination(f, p, staged.f32() + p.offset, DType::f32));
    source[p.name] = &f;
  };
  as_checkpoint_error([&] {
    model_file = std::make_unique<SafetensorsFile>(model_path);
    const SafetensorsFile& f = *model_file;
    base = check_checkpoint_weights(f, arch).base;
    // The given base as it is, not relative to the checkpoint as a recorded one is.
    if (!base.empty() && !base_dir.empty()) base = fs::absolute(base_dir).string();
    for (const StEntry& e : f.entries())
      AERO_CHECK(store.has(e.name), "[checkpoint] ", model_path, ": unexpected tensor '", e.name,
                 "' (a checkpoint of another model configuration?)");
    for (const Param& p : store.params())
      if (f.has(p.name)) take(f, p);
  });
  if (!base.empty()) {
    // The trainable part over a base: the base's weights fill in every other parameter.
    const std::string base_path = checkpoint_file(
        find_checkpoint(fs::path(base).is_absolute()
                            ? base
                            : (fs::path(ckpt_dir) / base).lexically_normal().string()),
        "model.safetensors");
    as_checkpoint_error([&] {
      base_file = std::make_unique<SafetensorsFile>(base_path);
      const SafetensorsFile& f = *base_file;
      check_checkpoint_weights(f, arch);
      for (const Param& p : store.params())
        if (!source.count(p.name) && f.has(p.name)) take(f, p);
    });
  }
  for (const Param& p : store.params())
    AERO_CHECK(source.count(p.name) || (init && p.trainable), "[checkpoint] ", model_path,
               ": no tensor '", p.name, "'", base.empty() ? "" : " (nor in its base " + base + ")",
               " (a checkpoint of another model configuration?)");
  for (Param& p : store.params()) {
    auto it = source.find(p.name);
    if (it == source.end()) continue;
    if (p.is_bf16()) {
      const Tensor d = destination(*it->second, p, p.value.raw(), DType::bf16);
      as_checkpoint_error([&] { it->second->read_into(p.name, d); });
      std::fill(p.value.data<uint16_t>() + d.numel(), p.value.data<uint16_t>() + p.numel(),
                uint16_t(0));  // rows past the file's, as the staged f32 ones
    } else
      std::copy(staged.f32() + p.offset, staged.f32() + p.offset + p.numel(), p.value.f32());
  }
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
  m.rows = std::move(b.rows);
  m.store->finalize(0, /*gradients=*/false);  // loaded to run: no gradient buffer
  load_checkpoint_weights(m.dir, m.cfg.arch().name, *m.store);
  if (m.rows) m.rows->sync();
  return m;
}

LoadedModel load_model(const std::string& base, const std::string& adapter) {
  LoadedModel m;
  const std::string base_dir = find_checkpoint(base);
  AERO_CHECK(!base_dir.empty(), "[checkpoint] ", base, " holds no checkpoint");
  const CheckpointModelConfig b = read_checkpoint_model_config(base_dir);
  AERO_CHECK(fs::is_directory(adapter), "[adapter] ", adapter, ": no such directory");
  const bool peft = fs::exists(fs::path(adapter) / "adapter_config.json");
  PeftAdapter ad;
  if (peft) {
    ad = read_peft_adapter(adapter);
    m.dir = base_dir;
    m.cfg = b.model;
    m.lora_cfg = ad.lora;
    m.lora_cfg.trainable_tokens = ad.token_ids();
    m.tokenizer = b.tokenizer;
    // Added tokens past the base's rows: the tables grow to hold them.
    const int vocab = peft_vocab_size(ad, m.cfg.vocab_size());
    if (vocab > m.cfg.vocab_size()) m.cfg.set("vocab_size", std::to_string(vocab));
  } else {
    m.dir = find_checkpoint(adapter);
    AERO_CHECK(!m.dir.empty(), "[adapter] ", adapter,
               " is neither a PEFT adapter directory (adapter_config.json) nor an aero run or "
               "checkpoint");
    CheckpointModelConfig c = read_checkpoint_model_config(m.dir);
    AERO_CHECK(c.lora.r > 0, "[adapter] ", m.dir,
               " holds no LoRA adapter (a full fine-tune is a model of its own: pass it as "
               "--model)");
    AERO_CHECK(c.model.arch().name == b.model.arch().name, "[adapter] ", m.dir, " adapts a ",
               c.model.arch().name, " model; the base ", base_dir, " is a ", b.model.arch().name);
    m.cfg = std::move(c.model);
    m.lora_cfg = c.lora;
    m.tokenizer = c.tokenizer.empty() ? b.tokenizer : c.tokenizer;
  }
  m.store = std::make_unique<ParamStore>();
  BuiltModel built = build_model(m.cfg, m.lora_cfg, *m.store);
  m.model = std::move(built.model);
  m.lora = std::move(built.lora);
  m.rows = std::move(built.rows);
  m.store->finalize(0, /*gradients=*/false);
  if (peft) {
    load_checkpoint_weights(base_dir, m.cfg.arch().name, *m.store, /*init=*/true);
    load_peft_modules(ad, *m.store);
    load_peft_weights(ad, *m.lora);
    if (m.rows) load_peft_token_rows(ad, *m.rows);
  } else {
    load_checkpoint_weights(m.dir, m.cfg.arch().name, *m.store, false, base_dir);
  }
  if (m.rows) m.rows->sync();
  return m;
}

DetachedAdapter load_detached_adapter(const std::string& base, const std::string& adapter) {
  LoadedModel m = load_model(base, adapter);
  const CheckpointModelConfig b = read_checkpoint_model_config(find_checkpoint(base));
  AERO_CHECK(m.cfg.vocab_size() == b.model.vocab_size(), "[adapter] ", adapter,
             " adds tokens past the base's ", b.model.vocab_size(),
             " rows; it cannot share the base with other adapters (merge it: one --adapter ",
             "without --unmerged)");
  AERO_CHECK(m.lora, "[adapter] ", adapter, " holds no LoRA adapter");
  if (fs::exists(fs::path(adapter) / "adapter_config.json"))
    AERO_CHECK(read_peft_adapter(adapter).modules.empty(), "[adapter] ", adapter,
               " replaces whole modules of the base (modules_to_save); it cannot share the base "
               "with other adapters (merge it: one --adapter without --unmerged)");
  DetachedAdapter d;
  d.weights = std::make_shared<const LoraWeights>(detach_lora(*m.lora, m.rows.get()));
  d.tokenizer = m.tokenizer;
  return d;
}

}  // namespace aero
