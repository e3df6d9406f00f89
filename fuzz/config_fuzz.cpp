// libFuzzer target: a run config file (configs/*.json, a checkpoint's config.json) through
// load_run_config, then validated and printed as `aero train` does.
#include "fuzz_util.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  const std::string path = fuzz::write_file("config.json", fuzz::as_text(data, size));
  fuzz::expect_clean([&] {
    RunConfig c = load_run_config(path);
    (void)run_config_to_json(c).dump();
    c.model.validate();
  });
  return 0;
}
