// libFuzzer target: a checkpoint's model.safetensors through load_checkpoint_weights into a tiny
// GPT's store (format, arch, names, shapes, dtypes, a base checkpoint), as `aero generate` and
// `aero train --resume` load it. On failure the store must be unchanged.
#include <cstring>
#include <filesystem>
#include <vector>

#include "fuzz_util.h"
#include "models/gpt.h"
#include "models/load.h"

namespace {

// The model of fuzz/corpus/ckpt_weights/ (fuzz/make_seeds.cpp writes the same one).
struct Tiny {
  aero::ParamStore store;
  std::unique_ptr<aero::Gpt> gpt;
  Tiny() {
    aero::GptConfig g;
    g.vocab_size = 13;
    g.block_size = 8;
    g.n_layer = 1;
    g.n_head = 2;
    g.n_embd = 8;
    g.ffn_hidden = 16;
    gpt = std::make_unique<aero::Gpt>(g, store);
    store.finalize(1);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  static Tiny tiny;
  static const std::string dir = [] {
    std::filesystem::create_directories(fuzz::scratch_dir() + "/ckpt");
    return fuzz::scratch_dir() + "/ckpt";
  }();
  fuzz::write_file("ckpt/model.safetensors", fuzz::as_text(data, size));
  const float* values = tiny.store.values_data();
  const std::vector<float> before(values, values + tiny.store.buffer_floats());
  try {
    load_checkpoint_weights(dir, "gpt", tiny.store);
  } catch (const Error&) {
    if (std::memcmp(before.data(), values, before.size() * sizeof(float)) != 0) std::abort();
  }
  return 0;
}
