#include "models/peft.h"

#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace aero {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "base_model.model.";

// "base_model.model.<module>.lora_A.weight" -> (<module>, 'A'); ('\0') for any other name.
std::pair<std::string, char> split_key(const std::string& key) {
  for (char which : {'A', 'B'}) {
    const std::string tail = std::string(".lora_") + which + ".weight";
    if (key.rfind(kPrefix, 0) == 0 && key.ends_with(tail) &&
        key.size() > std::strlen(kPrefix) + tail.size())
      return {key.substr(std::strlen(kPrefix), key.size() - std::strlen(kPrefix) - tail.size()),
              which};
  }
  return {"", '\0'};
}

constexpr const char* kTokenTail = ".token_adapter.trainable_tokens_delta";

// "shared.weight" -> "shared": the module a table belongs to.
std::string table_module(const Param& p) {
  return p.name.ends_with(".weight") ? p.name.substr(0, p.name.size() - 7) : p.name;
}

}  // namespace

std::vector<int> PeftAdapter::token_ids() const {
  std::vector<int> ids;
  for (const auto& [module, rows] : token_rows) {
    AERO_CHECK(ids.empty() || ids == rows.first, "[peft] trainable_token_indices differ between ",
               "tables; aero trains the same token ids in the embedding and the head");
    ids = rows.first;
  }
  return ids;
}

PeftAdapter read_peft_adapter(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string st_path = (fs::path(dir) / "adapter_model.safetensors").string();
  AERO_CHECK(fs::is_regular_file(cfg_path), "[peft] ", cfg_path, ": missing");
  if (!fs::is_regular_file(st_path)) {
    AERO_CHECK(!fs::exists(fs::path(dir) / "adapter_model.bin"), "[peft] ", dir,
               " holds adapter_model.bin (a pickle): save the adapter with safetensors "
               "(PEFT's default)");
    fail("[peft] ", st_path, ": missing");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    fail("[peft] ", cfg_path, ": invalid JSON: ", e.what());
  }
  PeftAdapter a;
  try {
    AERO_CHECK(j.is_object(), "[peft] ", cfg_path, ": not a JSON object");
    const std::string type = j.value("peft_type", "");
    AERO_CHECK(type == "LORA", "[peft] ", cfg_path, ": peft_type '", type,
               "' is not supported (aero reads LORA adapters)");
    auto refuse = [&](const char* key, bool bad, const std::string& why) {
      AERO_CHECK(!bad, "[peft] ", cfg_path, ": ", key, " ", why);
    };
    refuse("use_dora", j.value("use_dora", false), "(DoRA) is not supported");
    refuse("bias", j.contains("bias") && !j["bias"].is_null() && j["bias"] != "none",
           "must be \"none\" (trained biases are not supported)");
    refuse("fan_in_fan_out", j.value("fan_in_fan_out", false),
           "is set (Conv1D weights stored transposed): not supported");
    // Integers only: nlohmann converts a float such as 1e30 to int with undefined behaviour.
    auto int_of = [&](const nlohmann::json& v, const std::string& key) {
      const bool fits = (v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t(INT_MAX)) ||
                        (v.is_number_integer() && !v.is_number_unsigned() &&
                         v.get<int64_t>() >= INT_MIN && v.get<int64_t>() <= INT_MAX);
      AERO_CHECK(fits, "[peft] ", cfg_path, ": ", key, " must be an integer, got ", v.dump());
      return int(v.get<int64_t>());
    };
    auto ids_of = [&](const nlohmann::json& v, const std::string& key) {
      AERO_CHECK(v.is_array(), "[peft] ", cfg_path, ": ", key, " must be a list of token ids");
      std::vector<int> ids;
      for (const auto& id : v) ids.push_back(int_of(id, key));
      return ids;
    };
    a.lora.r = int_of(j.at("r"), "r");
    a.lora.alpha = j.at("lora_alpha").get<float>();
    a.lora.dropout = j.value("lora_dropout", 0.0f);
    a.lora.rslora = j.value("use_rslora", false);
    const auto& t = j.at("target_modules");
    if (t.is_string())
      a.lora.target_regex = t.get<std::string>();
    else
      a.lora.targets = t.get<std::vector<std::string>>();
    if (j.contains("trainable_token_indices") && !j["trainable_token_indices"].is_null()) {
      const auto& t = j["trainable_token_indices"];
      if (t.is_array())
        a.token_rows[""].first = ids_of(t, "trainable_token_indices");
      else
        for (const auto& [module, ids] : t.items())
          a.token_rows[module].first = ids_of(ids, "trainable_token_indices." + module);
    }
    if (j.contains("task_type") && j["task_type"].is_string()) a.task_type = j["task_type"];
    if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
      a.base_model = j["base_model_name_or_path"];
  } catch (const nlohmann::json::exception& e) {
    fail("[peft] ", cfg_path, ": ", e.what());
  }
  try {
    a.lora.validate();
  } catch (const Error& e) {
    fail("[peft] ", cfg_path, ": ", e.what());
  }
  SafetensorsFile f(st_path);
  for (const StEntry& e : f.entries()) {
    if (e.name.rfind(kPrefix, 0) == 0 && e.name.ends_with(kTokenTail)) {
      const std::string module = e.name.substr(
          std::strlen(kPrefix), e.name.size() - std::strlen(kPrefix) - std::strlen(kTokenTail));
      auto it = a.token_rows.find(module);
      if (it == a.token_rows.end() && a.token_rows.count("")) {
        // List form: the one table given is the input embedding.
        a.token_rows[module] = a.token_rows[""];
        a.token_rows.erase("");
        it = a.token_rows.find(module);
      }
      AERO_CHECK(it != a.token_rows.end(), "[peft] ", st_path, ": '", e.name,
                 "' but adapter_config.json's trainable_token_indices names no ", module);
      AERO_CHECK(e.shape.size() == 2 && e.shape[0] == int64_t(it->second.first.size()), "[peft] ",
                 st_path, ": '", e.name, "' has shape ", e.shape_str(), " for ",
                 it->second.first.size(), " token ids");
      it->second.second = f.read_f32(e.name);
      continue;
    }
    const auto [module, which] = split_key(e.name);
    if (which == '\0' && e.name.rfind(kPrefix, 0) == 0 &&
        (e.name.ends_with(".weight") || e.name.ends_with(".bias"))) {
      // A whole module (modules_to_save, or an embedding PEFT saved after a resize).
      a.modules[e.name.substr(std::strlen(kPrefix))] = f.read_f32(e.name);
      continue;
    }
    AERO_CHECK(which != '\0', "[peft] ", st_path, ": unexpected tensor '", e.name,
               "' (expected base_model.model.<module>.lora_A.weight / .lora_B.weight, or a "
               "whole module's .weight / .bias)");
    // An empty matrix would let r claim any size the file never has to hold.
    AERO_CHECK(e.shape.size() == 2 && e.shape[0] > 0 && e.shape[1] > 0, "[peft] ", st_path, ": '",
               e.name, "' has shape ", e.shape_str(), ", expected a non-empty matrix");
    const int64_t r = which == 'A' ? e.shape[0] : e.shape[1];
    AERO_CHECK(r == a.lora.r, "[peft] ", st_path, ": '", e.name, "' has rank ", r,
               " but adapter_config.json says r = ", a.lora.r);
    auto& slot = a.weights[module];
    (which == 'A' ? slot.first : slot.second) = f.read_f32(e.name);
  }
  for (const auto& [module, ab] : a.weights)
    AERO_CHECK(ab.first.defined() && ab.second.defined(), "[peft] ", st_path, ": module ", module,
               " has only one of lora_A and lora_B");
  AERO_CHECK(!a.weights.empty(), "[peft] ", st_path, ": no LoRA tensors");
  for (const auto& [module, rows] : a.token_rows)
    AERO_CHECK(rows.second.defined(), "[peft] ", st_path, ": no trainable_tokens_delta for ",
               module.empty() ? "the embedding" : module,
               " named in adapter_config.json's trainable_token_indices");
  return a;
}

int peft_vocab_size(const PeftAdapter& adapter, int base_vocab) {
  std::set<int> added;
  for (int id : adapter.token_ids()) {
    AERO_CHECK(id >= 0, "[peft] trainable_token_indices: token id ", id, " is negative");
    if (id >= base_vocab) added.insert(id);
  }
  // The set is sorted: the added ids are base_vocab, base_vocab + 1, ... when the last one is.
  AERO_CHECK(
      added.empty() || int64_t(*added.rbegin()) == int64_t(base_vocab) + int64_t(added.size()) - 1,
      "[peft] trainable_token_indices: token id ", added.empty() ? 0 : *added.rbegin(),
      " leaves a gap after the base's ", base_vocab, " rows (added tokens are ids ", base_vocab,
      ", ", int64_t(base_vocab) + 1, ", ... in turn)");
  return base_vocab + int(added.size());
}

void write_peft_adapter(const std::string& dir, const LoraConfig& cfg, const LoraAttachment& att,
                        const std::string& task_type, const std::string& base_model,
                        const TokenRowsAttachment* rows) {
  AERO_CHECK(!att.merged, "[peft] unmerge the adapter before saving it");
  fs::create_directories(dir);
  nlohmann::ordered_json j;
  j["peft_type"] = "LORA";
  j["task_type"] =
      task_type.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(task_type);
  j["base_model_name_or_path"] = base_model;
  j["r"] = cfg.r;
  j["lora_alpha"] = shortest_decimal(cfg.alpha);
  j["lora_dropout"] = shortest_decimal(cfg.dropout);
  if (cfg.target_regex.empty())
    j["target_modules"] = cfg.targets;
  else
    j["target_modules"] = cfg.target_regex;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["use_rslora"] = cfg.rslora;
  j["use_dora"] = false;
  j["modules_to_save"] = nullptr;
  j["inference_mode"] = true;
  std::vector<StTensorRef> t;
  for (size_t i = 0; i < att.modules.size(); i++) {
    const std::string m = kPrefix + att.modules[i]->name();
    t.emplace_back(m + ".lora_A.weight", att.adapters[i]->a().value);
    t.emplace_back(m + ".lora_B.weight", att.adapters[i]->b().value);
  }
  if (rows) {
    nlohmann::ordered_json idx = nlohmann::ordered_json::object();
    for (const TokenRows* r : {rows->embedding.get(), rows->head.get()}) {
      if (!r) continue;
      const std::string m = table_module(r->table());
      idx[m] = r->ids();
      t.emplace_back(kPrefix + m + kTokenTail, r->rows().value);
    }
    j["trainable_token_indices"] = idx;
  }
  write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), t, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "adapter_config.json").string(), j.dump(2) + "\n");
}

void load_peft_weights(const PeftAdapter& adapter, LoraAttachment& att) {
  std::set<std::string> used;
  for (size_t i = 0; i < att.modules.size(); i++) {
    const std::string& m = att.modules[i]->name();
    auto it = adapter.weights.find(m);
    AERO_CHECK(it != adapter.weights.end(), "[peft] the adapter has no weights for module ", m,
               " (trained on another model, or with other target_modules?)");
    const Param& a = att.adapters[i]->a();
    const Param& b = att.adapters[i]->b();
    AERO_CHECK(it->second.first.shape() == a.shape && it->second.second.shape() == b.shape,
               "[peft] module ", m, ": the adapter's A ", it->second.first.shape().str(), " and B ",
               it->second.second.shape().str(), " do not fit the model's ", a.shape.str(), " and ",
               b.shape.str());
    used.insert(m);
  }
  for (const auto& [m, ab] : adapter.weights)
    AERO_CHECK(used.count(m), "[peft] the adapter has weights for ", m,
               ", which the model has no such module for");
  for (size_t i = 0; i < att.modules.size(); i++) {
    const auto& [A, B] = adapter.weights.at(att.modules[i]->name());
    std::copy(A.f32(), A.f32() + A.numel(), att.adapters[i]->a().value.f32());
    std::copy(B.f32(), B.f32() + B.numel(), att.adapters[i]->b().value.f32());
  }
}

void load_peft_token_rows(const PeftAdapter& adapter, TokenRowsAttachment& rows) {
  std::set<std::string> used;
  for (TokenRows* r : {rows.embedding.get(), rows.head.get()}) {
    if (!r) continue;
    const std::string m = table_module(r->table());
    auto it = adapter.token_rows.find(m);
    AERO_CHECK(it != adapter.token_rows.end() || r != rows.embedding.get(),
               "[peft] the adapter has no token rows for ", m);
    if (it == adapter.token_rows.end()) continue;  // an embedding-only adapter on an untied head
    const Tensor& v = it->second.second;
    AERO_CHECK(v.shape() == r->rows().shape, "[peft] ", m, ": token rows ", v.shape().str(),
               " do not fit the model's ", r->rows().shape.str());
    std::copy(v.f32(), v.f32() + v.numel(), r->rows().value.f32());
    used.insert(m);
  }
  for (const auto& [m, rr] : adapter.token_rows)
    AERO_CHECK(used.count(m), "[peft] the adapter has token rows for ", m,
               ", which is not a token table of the model");
  rows.sync();
}

void load_peft_modules(const PeftAdapter& adapter, ParamStore& store) {
  for (const auto& [name, value] : adapter.modules) {
    // T5's encoder and decoder embed_tokens are its shared table under other names.
    std::string target = name;
    if (!store.has(target) && name.ends_with("embed_tokens.weight") && store.has("shared.weight"))
      target = "shared.weight";
    AERO_CHECK(store.has(target), "[peft] the adapter's whole module tensor '", name,
               "' names no parameter of the model");
    Param& p = store.get(target);
    AERO_CHECK(p.value.dtype() == DType::f32, "[peft] ", target, " is not stored in f32");
    const Shape& s = value.shape();
    bool fits = s.ndim == p.shape.ndim && s.ndim >= 1 && s[0] <= p.shape[0];
    for (int d = 1; fits && d < s.ndim; d++) fits = s[d] == p.shape[d];
    AERO_CHECK(fits, "[peft] the adapter's '", name, "' has shape ", s.str(), "; the model's ",
               target, " is ", p.shape.str(),
               " (rows may be fewer, as a table resized to a tokenizer; nothing else may differ)");
    // Rows past the saved ones (a table Hugging Face shrank to the tokenizer's length) stay
    // the base's.
    std::copy(value.f32(), value.f32() + value.numel(), p.value.f32());
  }
}

}  // namespace aero
