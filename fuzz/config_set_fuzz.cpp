// libFuzzer target: `--set section.key=value` strings (one per line) through apply_override on
// the default run config, then the result printed as `aero train` prints it.
#include "fuzz_util.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  std::string_view in = fuzz::as_text(data, size);
  RunConfig c;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    const std::string line(in.substr(0, nl));
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    fuzz::expect_clean([&] { apply_override(c, line); });
  }
  fuzz::expect_clean([&] {
    (void)run_config_to_json(c).dump();
    c.model.validate();
  });
  return 0;
}
