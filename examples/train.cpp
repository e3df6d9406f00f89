// Trains a model from a config file, as `aero train --config` does, then samples from it:
//   aero_train_example CONFIG [section.key=value ...]
#include <aero/aero.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONFIG [section.key=value ...]\n", argv[0]);
    return 2;
  }
  try {
    std::vector<std::string> overrides(argv + 2, argv + argc);
    aero::api::TrainResult r = aero::api::train(argv[1], overrides);
    std::printf("trained %lld steps, val loss %.3f, checkpoint %s\n",
                static_cast<long long>(r.steps), r.val_loss, r.checkpoint.c_str());

    aero::api::Model model = aero::api::Model::load(r.run_dir);
    aero::api::GenerateOptions opts;
    opts.max_new_tokens = 20;
    opts.temperature = 0;  // greedy: the most likely continuation
    std::printf("sample: %s\n", model.generate("the", opts).text.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
