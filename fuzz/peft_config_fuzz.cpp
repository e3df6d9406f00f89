// libFuzzer target: a PEFT adapter's adapter_config.json through read_peft_adapter, as `aero
// import peft` and `aero finetune` read it, beside an adapter_model.safetensors holding one
// LoRA pair.
#include <filesystem>

#include "fuzz_util.h"
#include "models/peft.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  static const std::string dir = [] {
    std::filesystem::create_directories(fuzz::scratch_dir() + "/peft");
    // base_model.model.q: A (1, 2) and B (2, 1), zeros.
    const std::string header =
        R"({"base_model.model.q.lora_A.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
        R"("base_model.model.q.lora_B.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[8,16]}})";
    std::string file(8, '\0');
    for (int i = 0; i < 8; i++) file[size_t(i)] = char((header.size() >> (8 * i)) & 0xff);
    file += header + std::string(16, '\0');
    fuzz::write_file("peft/adapter_model.safetensors", file);
    return fuzz::scratch_dir() + "/peft";
  }();
  fuzz::write_file("peft/adapter_config.json", fuzz::as_text(data, size));
  fuzz::expect_clean([&] { (void)read_peft_adapter(dir); });
  return 0;
}
