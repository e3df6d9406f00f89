#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace aero {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTmpPrefix = ".tmp-ckpt-";
constexpr const char* kOldPrefix = ".old-ckpt-";

// Runs fn; an error from a lower layer ("[safetensors] f: ...") becomes "[checkpoint] f: ...".
template <typename Fn>
auto as_checkpoint_error(Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("[checkpoint]", 0) == 0) throw;
    if (!msg.empty() && msg[0] == '[') msg = msg.substr(std::min(msg.size(), msg.find("] ") + 2));
    fail("[checkpoint] ", msg);
  }
}

// Step of "ckpt-<step>", or -1.
int64_t step_of(const std::string& name) {
  if (name.rfind("ckpt-", 0) != 0 || name.size() == 5) return -1;
  for (size_t i = 5; i < name.size(); i++)
    if (name[i] < '0' || name[i] > '9') return -1;
  return std::stoll(name.substr(5));
}

std::string read_pointer(const std::string& out_dir, const char* which) {
  fs::path p = fs::path(out_dir) / which;
  if (!fs::exists(p)) return "";
  std::string s = read_file(p.string());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void write_pointer(const std::string& out_dir, const char* which, const std::string& name) {
  write_file_atomic((fs::path(out_dir) / which).string(), name + "\n");
}

std::string require_file(const std::string& dir, const char* name) {
  std::string p = (fs::path(dir) / name).string();
  AERO_CHECK(fs::is_regular_file(p), "[checkpoint] ", p, ": missing (incomplete checkpoint?)");
  return p;
}

}  // namespace

nlohmann::json TrainState::to_json() const {
  nlohmann::json j;
  j["format"] = "aero.train_state";
  j["version"] = 1;
  j["step"] = step;
  j["tape_rng"] = tape_rng;
  j["data_seed"] = data_seed;
  j["best_val_loss"] = std::isfinite(best_val_loss) ? nlohmann::json(best_val_loss) : nullptr;
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
    AERO_CHECK(j.at("version").get<int>() == 1, "[checkpoint] ", where, ": unsupported version ",
               j.at("version").dump());
    s.step = j.at("step").get<int64_t>();
    s.tape_rng = j.at("tape_rng").get<std::array<uint64_t, 4>>();
    s.data_seed = j.at("data_seed").get<uint64_t>();
    const auto& b = j.at("best_val_loss");
    s.best_val_loss = b.is_null() ? std::numeric_limits<double>::infinity() : b.get<double>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.evals_since_best = j.at("evals_since_best").get<int>();
    s.elapsed_s = j.at("elapsed_s").get<double>();
    s.tokens_seen = j.at("tokens_seen").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail("[checkpoint] ", where, ": bad training state: ", e.what());
  }
  AERO_CHECK(s.step >= 0 && s.tokens_seen >= 0, "[checkpoint] ", where, ": negative step");
  return s;
}

std::string checkpoint_name(int64_t step) { return "ckpt-" + std::to_string(step); }

std::string save_checkpoint(const std::string& out_dir, const ParamStore& store,
                            const Optimizer* opt, const RunConfig& cfg, const TrainState& st,
                            int keep_last, bool is_best) {
  const std::string name = checkpoint_name(st.step);
  const fs::path dir = fs::path(out_dir) / name, tmp = fs::path(out_dir) / (kTmpPrefix + name);
  fs::create_directories(out_dir);
  fs::remove_all(tmp);
  fs::create_directory(tmp);
  // Every file below is fsynced before its rename inside tmp.
  std::vector<StTensorRef> weights;
  for (const Param& p : store.params()) weights.emplace_back(p.name, p.value);
  write_safetensors((tmp / "model.safetensors").string(), weights,
                    {{"format", "aero.gpt"}, {"step", std::to_string(st.step)}});
  if (opt) opt->save((tmp / "optimizer.safetensors").string());
  write_file_atomic((tmp / "config.json").string(), run_config_to_json(cfg).dump(2) + "\n");
  write_file_atomic((tmp / "state.json").string(), st.to_json().dump(2) + "\n");
  fsync_dir(tmp.string());
  if (fs::exists(dir)) {  // the same step saved again (a resumed run): replace it
    const fs::path old = fs::path(out_dir) / (kOldPrefix + name);
    fs::remove_all(old);
    fs::rename(dir, old);
    fs::rename(tmp, dir);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, dir);
  }
  fsync_dir(out_dir);
  write_pointer(out_dir, "latest", name);
  if (is_best) write_pointer(out_dir, "best", name);
  fsync_dir(out_dir);
  // Only now that the new checkpoint is complete: drop the oldest beyond keep_last.
  const std::string best = read_pointer(out_dir, "best");
  std::vector<std::pair<int64_t, fs::path>> all;
  for (const auto& e : fs::directory_iterator(out_dir)) {
    int64_t s = step_of(e.path().filename().string());
    if (s >= 0 && e.is_directory()) all.emplace_back(s, e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + size_t(std::max(keep_last, 1)) < all.size(); i++)
    if (all[i].second.filename() != best && all[i].second.filename() != name)
      fs::remove_all(all[i].second);
  return dir.string();
}

int clean_partial_checkpoints(const std::string& out_dir) {
  if (!fs::is_directory(out_dir)) return 0;
  int n = 0;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(out_dir)) entries.push_back(e.path());
  for (const fs::path& p : entries) {
    const std::string f = p.filename().string();
    if (f.rfind(kTmpPrefix, 0) == 0) {
      fs::remove_all(p);
      n++;
    } else if (f.rfind(kOldPrefix, 0) == 0) {
      // Killed while replacing a checkpoint of the same step: the old one is complete; put it
      // back if the new one never arrived.
      const fs::path dir = fs::path(out_dir) / ("ckpt-" + f.substr(std::strlen(kOldPrefix)));
      if (fs::exists(dir))
        fs::remove_all(p);
      else
        fs::rename(p, dir);
      n++;
    }
  }
  return n;
}

std::string find_checkpoint(const std::string& path) {
  AERO_CHECK(fs::is_directory(path), "[checkpoint] ", path, ": no such directory");
  if (fs::exists(fs::path(path) / "model.safetensors")) return path;
  const std::string name = read_pointer(path, "latest");
  if (name.empty()) return "";
  const fs::path dir = fs::path(path) / name;
  AERO_CHECK(step_of(name) >= 0 && fs::is_directory(dir), "[checkpoint] ",
             (fs::path(path) / "latest").string(), ": names '", name,
             "', which is not a checkpoint directory here");
  return dir.string();
}

RunConfig read_checkpoint_config(const std::string& ckpt_dir) {
  return load_run_config(require_file(ckpt_dir, "config.json"));
}

TrainState read_checkpoint_state(const std::string& ckpt_dir) {
  const std::string path = require_file(ckpt_dir, "state.json");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("[checkpoint] ", path, ": invalid JSON: ", e.what());
  }
  return TrainState::from_json(j, path);
}

void load_checkpoint_weights(const std::string& ckpt_dir, ParamStore& store, Optimizer* opt) {
  const std::string model_path = require_file(ckpt_dir, "model.safetensors");
  const std::string opt_path = opt ? require_file(ckpt_dir, "optimizer.safetensors") : "";
  // Stage every weight first, so a bad file changes nothing.
  Tensor staged = Tensor::zeros({std::max<int64_t>(1, store.buffer_floats())});
  as_checkpoint_error([&] {
    SafetensorsFile f(model_path);
    for (const Param& p : store.params()) {
      AERO_CHECK(f.has(p.name), "[checkpoint] ", model_path, ": no tensor '", p.name,
                 "' (a checkpoint of another model configuration?)");
      f.read_into(p.name, Tensor::wrap(staged.f32() + p.offset, p.shape));
    }
    for (const StEntry& e : f.entries())
      AERO_CHECK(store.has(e.name), "[checkpoint] ", model_path, ": unexpected tensor '", e.name,
                 "' (a checkpoint of another model configuration?)");
  });
  // Optimizer::load_state stages too and changes nothing when it throws.
  if (opt) as_checkpoint_error([&] { opt->load_state(SafetensorsFile(opt_path)); });
  for (Param& p : store.params())
    std::copy(staged.f32() + p.offset, staged.f32() + p.offset + p.numel(), p.value.f32());
}

LoadedModel load_model(const std::string& path) {
  LoadedModel m;
  m.dir = find_checkpoint(path);
  AERO_CHECK(!m.dir.empty(), "[checkpoint] ", path, " holds no checkpoint");
  m.cfg = read_checkpoint_config(m.dir);
  m.store = std::make_unique<ParamStore>();
  m.gpt = std::make_unique<Gpt>(m.cfg.model, *m.store);
  m.store->finalize(0);
  load_checkpoint_weights(m.dir, *m.store, nullptr);
  return m;
}

}  // namespace aero
