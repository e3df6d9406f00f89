// The registry: one row per architecture. A new architecture adds its row here (and its count
// below); nothing outside src/models/ names an architecture.
#include <iterator>

#include "models/gpt.h"
#include "models/llada.h"
#include "models/model.h"
#include "models/t5.h"

namespace aero {

namespace {

constexpr size_t kArchCount = 3;

const std::vector<const Arch*>& table() {
  static const std::vector<const Arch*> rows = [] {
    const Arch* all[] = {&gpt_arch(), &t5_arch(), &llada_arch()};
    static_assert(std::size(all) == kArchCount, "a row per architecture: update kArchCount");
    return std::vector<const Arch*>(std::begin(all), std::end(all));
  }();
  return rows;
}

std::string known_archs() {
  std::string s;
  for (const Arch* a : table()) s += (s.empty() ? "" : ", ") + std::string(a->name);
  return s;
}

}  // namespace

const EnumNames<ModelFamily>& family_names() {
  static const EnumNames<ModelFamily> n{{ModelFamily::causal_lm, "causal_lm"},
                                        {ModelFamily::masked_lm, "masked_lm"},
                                        {ModelFamily::seq2seq, "seq2seq"}};
  return n;
}

const std::vector<const Arch*>& archs() { return table(); }

const Arch& find_arch(const std::string& name) {
  for (const Arch* a : table())
    if (name == a->name) return *a;
  fail("[model] unknown architecture '", name, "' (known: ", known_archs(), ")");
}

const Importer& find_importer(const std::string& name) {
  for (const Arch* a : table())
    for (const Importer& i : a->importers)
      if (name == i.name) return i;
  fail("[import] unknown format '", name, "'");
}

ModelConfig::ModelConfig() : ModelConfig("gpt") {}

ModelConfig::ModelConfig(const std::string& arch)
    : arch_(&find_arch(arch)), cfg_(arch_->new_config()) {}

ModelConfig::ModelConfig(const ModelConfig& o) : arch_(o.arch_), cfg_(o.cfg_->clone()) {}

ModelConfig& ModelConfig::operator=(const ModelConfig& o) {
  if (this != &o) {
    arch_ = o.arch_;
    cfg_ = o.cfg_->clone();
  }
  return *this;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  AERO_CHECK(j.is_object(), "[config] model must be a JSON object");
  std::string arch = "gpt";
  if (j.contains("arch")) {
    AERO_CHECK(j["arch"].is_string(), "[config] model.arch: expected a string, got ",
               j["arch"].dump());
    arch = j["arch"].get<std::string>();
    bool known = false;
    for (const Arch* a : table()) known |= arch == a->name;
    AERO_CHECK(known, "[config] model.arch: unknown architecture '", arch,
               "' (known: ", known_archs(), ")");
  }
  ModelConfig c(arch);
  nlohmann::json fields = j;
  fields.erase("arch");
  c.cfg_->from_json(fields);
  return c;
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  j["arch"] = arch_->name;
  j.update(cfg_->to_json());
  return j;
}

void ModelConfig::set(const std::string& key, const std::string& value) {
  if (key == "arch") {
    *this = ModelConfig(value);
    return;
  }
  cfg_->set(key, value);
}

std::unique_ptr<Model> build_model(const ModelConfig& cfg, ParamStore& store) {
  cfg.validate();
  return cfg.arch().build(cfg, store);
}

}  // namespace aero
