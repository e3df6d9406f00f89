// libFuzzer target: a Hugging Face T5 / mT5 config.json through read_hf_t5, as `aero import
// hf-t5` reads it (beside a model.safetensors without tensors: the config is read and checked
// first, then the missing tensors are an error).
#include <filesystem>

#include "fuzz_util.h"
#include "models/t5.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  static const std::string dir = [] {
    std::filesystem::create_directories(fuzz::scratch_dir() + "/t5");
    fuzz::write_file("t5/model.safetensors", std::string("\x02\0\0\0\0\0\0\0{}", 10));
    return fuzz::scratch_dir() + "/t5";
  }();
  fuzz::write_file("t5/config.json", fuzz::as_text(data, size));
  fuzz::expect_clean([&] { (void)read_hf_t5(dir); });
  return 0;
}
