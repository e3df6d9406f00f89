#include "io/checkpoint.h"

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

}  // namespace

std::string checkpoint_file(const std::string& dir, const char* name) {
  std::string p = (fs::path(dir) / name).string();
  AERO_CHECK(fs::is_regular_file(p), "[checkpoint] ", p, ": missing (incomplete checkpoint?)");
  return p;
}

std::string checkpoint_name(int64_t step) { return "ckpt-" + std::to_string(step); }

std::string write_checkpoint(const std::string& out_dir, int64_t step, const CheckpointContents& c,
                             int keep_last, bool is_best) {
  const std::string name = checkpoint_name(step);
  const fs::path dir = fs::path(out_dir) / name, tmp = fs::path(out_dir) / (kTmpPrefix + name);
  fs::create_directories(out_dir);
  fs::remove_all(tmp);
  fs::create_directory(tmp);
  // Every file below is fsynced before its rename inside tmp.
  std::map<std::string, std::string> meta = {{"format", kCheckpointFormat},
                                             {"version", kCheckpointVersion},
                                             {"arch", c.arch},
                                             {"step", std::to_string(step)}};
  if (!c.base.empty()) meta["base"] = c.base;
  write_safetensors((tmp / "model.safetensors").string(), c.weights, meta);
  if (!c.optimizer.empty() || !c.optimizer_meta.empty())
    write_safetensors((tmp / "optimizer.safetensors").string(), c.optimizer, c.optimizer_meta);
  write_file_atomic((tmp / "config.json").string(), c.config.dump(2) + "\n");
  write_file_atomic((tmp / "state.json").string(), c.state.dump(2) + "\n");
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

nlohmann::json read_checkpoint_json(const std::string& ckpt_dir, const char* name) {
  const std::string path = checkpoint_file(ckpt_dir, name);
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("[checkpoint] ", path, ": invalid JSON: ", e.what());
  }
}

CheckpointWeightsInfo check_checkpoint_weights(const SafetensorsFile& f,
                                               const std::string& expected_arch) {
  const auto& meta = f.metadata();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  CheckpointWeightsInfo info;
  const std::string format = get("format");
  if (format == kCheckpointFormatV1) {
    info.version = 1;
    info.arch = "gpt";
  } else {
    AERO_CHECK(format == kCheckpointFormat, "[checkpoint] ", f.path(), ": format '", format,
               "' is not an aero checkpoint's (", kCheckpointFormat, ")");
    AERO_CHECK(get("version") == kCheckpointVersion, "[checkpoint] ", f.path(), ": version '",
               get("version"), "' is not supported (this aero reads versions 1 and ",
               kCheckpointVersion, ")");
    info.version = 2;
    info.arch = get("arch");
    info.base = get("base");
  }
  AERO_CHECK(info.arch == expected_arch, "[checkpoint] ", f.path(), " holds a '", info.arch,
             "' model but its config.json describes a '", expected_arch, "'");
  return info;
}

}  // namespace aero
