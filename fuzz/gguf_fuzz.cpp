// libFuzzer target: a .gguf file through GgufFile (counts, strings, arrays, tensor infos,
// alignment, offsets), then every value printed and every tensor read as f32.
#include "fuzz_util.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  const std::string path = fuzz::write_file("in.gguf", fuzz::as_text(data, size));
  fuzz::expect_clean([&] {
    GgufFile f(path);
    for (const auto& kv : f.metadata()) (void)kv.second.str_repr();
    for (const GgufTensorInfo& t : f.tensors()) {
      (void)t.shape_str();
      fuzz::expect_clean([&] { (void)f.read_f32(t.name); });
    }
  });
  return 0;
}
