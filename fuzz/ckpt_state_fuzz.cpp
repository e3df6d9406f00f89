// libFuzzer target: a checkpoint's state.json (step, RNG state, data seed, best loss) through
// read_checkpoint_state, as `aero train --resume` reads it.
#include <filesystem>

#include "fuzz_util.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  static const std::string dir = [] {
    std::filesystem::create_directories(fuzz::scratch_dir() + "/ckpt");
    return fuzz::scratch_dir() + "/ckpt";
  }();
  fuzz::write_file("ckpt/state.json", fuzz::as_text(data, size));
  fuzz::expect_clean([&] { (void)read_checkpoint_state(dir); });
  return 0;
}
