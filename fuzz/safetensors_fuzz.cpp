// libFuzzer target: a .safetensors file through SafetensorsFile (header, dtypes, shapes, data
// offsets), then every tensor read as the importers and checkpoint loaders read it.
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  const std::string path = fuzz::write_file("in.safetensors", fuzz::as_text(data, size));
  fuzz::expect_clean([&] {
    SafetensorsFile f(path);
    for (const StEntry& e : f.entries()) {
      (void)e.shape_str();
      fuzz::expect_clean([&] { (void)f.read_f32(e.name); });
      fuzz::expect_clean([&] { (void)f.view(e.name); });
    }
  });
  return 0;
}
