// The checkpoint directory, a container that knows no model: out_dir/ckpt-<step>/ holding
//   model.safetensors      the weights; metadata {"format": "aero.checkpoint", "version": "2",
//                          "arch": ..., "step": ...} (version 1, "aero.gpt", still loads)
//   optimizer.safetensors  optimizer moments and step (absent for an imported model)
//   config.json            the resolved run config {"model": {"arch": ...}, "train", "data"}
//   state.json             step, RNG states, best val loss, elapsed time, tokens seen
// written into out_dir/.tmp-ckpt-<step>/ (every file fsynced), renamed into place, parent
// fsynced. out_dir/latest and out_dir/best name the newest and the best checkpoint (one line,
// replaced atomically). Only the newest keep_last checkpoints and the best one are kept.
//
// A checkpoint may hold only the trainable part of a model (an adapter over a frozen base):
// then its metadata names the base ("base": a checkpoint directory), whose weights fill in the
// rest when it is loaded.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace aero {

inline constexpr const char* kCheckpointFormat = "aero.checkpoint";
inline constexpr const char* kCheckpointVersion = "2";
inline constexpr const char* kCheckpointFormatV1 = "aero.gpt";  // before architectures

struct CheckpointContents {
  std::string arch;  // the model's architecture, recorded in the weights' metadata
  std::vector<StTensorRef> weights;
  std::string base;  // non-empty: weights are a trainable subset over this base checkpoint
  std::vector<StTensorRef> optimizer;  // empty with no optimizer
  std::map<std::string, std::string> optimizer_meta;
  nlohmann::json config;  // config.json
  nlohmann::json state;   // state.json
};

// "ckpt-<step>", the directory name of a checkpoint.
std::string checkpoint_name(int64_t step);

// Writes a complete checkpoint of `step`, moves `latest` (and `best` when is_best) to it, then
// deletes checkpoints beyond keep_last (never the best). Returns its directory.
std::string write_checkpoint(const std::string& out_dir, int64_t step, const CheckpointContents& c,
                             int keep_last, bool is_best);

// Removes leftovers of a save that was killed (out_dir/.tmp-ckpt-*); returns how many.
int clean_partial_checkpoints(const std::string& out_dir);

// A checkpoint directory from a path: a checkpoint itself, or a run directory (its `latest`).
// Empty when `path` is a run directory without checkpoints.
std::string find_checkpoint(const std::string& path);

// A JSON file of a checkpoint (config.json, state.json), parsed; errors name the file.
nlohmann::json read_checkpoint_json(const std::string& ckpt_dir, const char* name);

// The path of a file a checkpoint must have; the error says the checkpoint is incomplete.
std::string checkpoint_file(const std::string& ckpt_dir, const char* name);

// What model.safetensors says of itself, checked: format and version known, arch as expected
// (a version-1 file is a GPT's).
struct CheckpointWeightsInfo {
  std::string arch;
  std::string base;  // "" for a whole model
  int version = 0;
};
CheckpointWeightsInfo check_checkpoint_weights(const SafetensorsFile& f,
                                               const std::string& expected_arch);

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

}  // namespace aero
