#include "train/checkpoint.h"

#include <cmath>

namespace aero {

nlohmann::json TrainState::to_json() const {
  nlohmann::json j;
  j["format"] = "aero.train_state";
  j["version"] = 1;
  j["step"] = step;
  j["tape_rng"] = tape_rng;
  j["data_seed"] = data_seed;
  j["best_val_loss"] = std::isfinite(best_val_loss) ? nlohmann::json(best_val_loss) : nullptr;
  if (std::isfinite(best_val_score)) j["best_val_score"] = best_val_score;
  j["best_step"] = best_step;
  j["evals_since_best"] = evals_since_best;
  j["elapsed_s"] = elapsed_s;
  j["tokens_seen"] = tokens_seen;
  return j;
}

TrainState TrainState::from_json(const nlohmann::json& j, const std::string& where) {
  TrainState s;
  try {
    AERO_CHECK(j.is_object() && j.value("format", "") == "aero.train_state", "[checkpoint] ", where,
               ": not an aero training state");
    // get<integer>() casts a JSON float, which overflows (undefined) for 1e30: integers only.
    const auto integer = [&](const nlohmann::json& v, const char* key) -> const nlohmann::json& {
      AERO_CHECK(v.is_number_integer(), "[checkpoint] ", where, ": '", key,
                 "' is not an integer: ", v.dump());
      return v;
    };
    AERO_CHECK(integer(j.at("version"), "version").get<int>() == 1, "[checkpoint] ", where,
               ": unsupported version ", j.at("version").dump());
    s.step = integer(j.at("step"), "step").get<int64_t>();
    for (const auto& r : j.at("tape_rng")) integer(r, "tape_rng");
    s.tape_rng = j.at("tape_rng").get<std::array<uint64_t, 4>>();
    s.data_seed = integer(j.at("data_seed"), "data_seed").get<uint64_t>();
    const auto& b = j.at("best_val_loss");
    s.best_val_loss = b.is_null() ? std::numeric_limits<double>::infinity() : b.get<double>();
    if (j.contains("best_val_score")) s.best_val_score = j.at("best_val_score").get<double>();
    s.best_step = integer(j.at("best_step"), "best_step").get<int64_t>();
    s.evals_since_best = integer(j.at("evals_since_best"), "evals_since_best").get<int>();
    s.elapsed_s = j.at("elapsed_s").get<double>();
    s.tokens_seen = integer(j.at("tokens_seen"), "tokens_seen").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail("[checkpoint] ", where, ": bad training state: ", e.what());
  }
  AERO_CHECK(s.step >= 0 && s.tokens_seen >= 0, "[checkpoint] ", where, ": negative step");
  return s;
}

std::string save_checkpoint(const std::string& out_dir, const ParamStore& store,
                            const Optimizer* opt, const RunConfig& cfg, const TrainState& st,
                            int keep_last, bool is_best, const std::string& base) {
  CheckpointContents c;
  c.arch = cfg.model.arch().name;
  c.base = base;
  for (const Param& p : store.params())
    if (base.empty() || p.trainable) c.weights.emplace_back(p.name, p.value);
  if (opt) {
    c.optimizer = opt->state_tensors();
    c.optimizer_meta = opt->state_metadata();
  }
  c.config = run_config_to_json(cfg);
  c.state = st.to_json();
  return write_checkpoint(out_dir, st.step, c, keep_last, is_best);
}

RunConfig read_checkpoint_config(const std::string& ckpt_dir) {
  return load_run_config(checkpoint_file(ckpt_dir, "config.json"));
}

TrainState read_checkpoint_state(const std::string& ckpt_dir) {
  return TrainState::from_json(read_checkpoint_json(ckpt_dir, "state.json"),
                               checkpoint_file(ckpt_dir, "state.json"));
}

void load_checkpoint(const std::string& ckpt_dir, const RunConfig& cfg, ParamStore& store,
                     Optimizer* opt) {
  const std::string arch = cfg.model.arch().name;
  if (!opt) return load_checkpoint_weights(ckpt_dir, arch, store);
  const std::string opt_path = checkpoint_file(ckpt_dir, "optimizer.safetensors");
  // Each load changes nothing when it fails; the weights are put back if the optimizer's does.
  const std::vector<float> before(store.values_data(), store.values_data() + store.buffer_floats());
  load_checkpoint_weights(ckpt_dir, arch, store);
  try {
    as_checkpoint_error([&] { opt->load_state(SafetensorsFile(opt_path)); });
  } catch (...) {
    std::copy(before.begin(), before.end(), store.values_data());
    throw;
  }
}

}  // namespace aero
