// aero's Optimizer (over a ParamStore) and clipping against torch.optim, 5 steps of each kind
// from the same gradients (tests/reference/optim_ref.py). Both sides compute in float32 with
// the same formulas, so the tolerance is a few float32 roundings.
#include <string>
#include <vector>

#include "kernels/optim.h"
#include "parity_util.h"
#include "train/optimizer.h"

using namespace aero;
using namespace aero::parity;

namespace {

struct Case {
  const char* name;
  OptimConfig cfg;
};

}  // namespace

TEST(optim_parity, five_steps_match_torch_optim) {
  auto file = open_reference("optim.safetensors");
  const SafetensorsFile& f = *file;
  int steps = std::stoi(meta(f, "steps"));
  const Case cases[] = {
      {"sgd", {.kind = OptimKind::sgd, .lr = 0.1f, .weight_decay = 0.01f}},
      {"momentum",
       {.kind = OptimKind::momentum, .lr = 0.1f, .weight_decay = 0.01f, .momentum = 0.9f}},
      {"nesterov",
       {.kind = OptimKind::momentum,
        .lr = 0.1f,
        .weight_decay = 0.01f,
        .momentum = 0.9f,
        .nesterov = true}},
      {"rmsprop",
       {.kind = OptimKind::rmsprop,
        .lr = 1e-2f,
        .eps = 1e-8f,
        .weight_decay = 0.01f,
        .alpha = 0.99f}},
      {"adam",
       {.kind = OptimKind::adam,
        .lr = 1e-2f,
        .beta1 = 0.9f,
        .beta2 = 0.95f,
        .eps = 1e-8f,
        .weight_decay = 0.01f}},
      {"adamw",
       {.kind = OptimKind::adamw,
        .lr = 1e-2f,
        .beta1 = 0.9f,
        .beta2 = 0.95f,
        .eps = 1e-8f,
        .weight_decay = 0.1f}},
  };
  for (const Case& c : cases) {
    ParamStore s;
    s.declare("w", {5, 7}, Init::zeros);  // 2-D: decays
    s.declare("b", {37}, Init::zeros);    // 1-D: no decay, as in the reference's param groups
    s.finalize();
    for (const char* k : {"w", "b"}) f.read_into(std::string("init.") + k, s.value(k));
    Optimizer opt(s, c.cfg);
    std::printf("%s\n", c.name);
    for (int t = 0; t < steps; t++) {
      for (const char* k : {"w", "b"})
        f.read_into("grad." + std::to_string(t) + "." + k, s.grad(k));
      opt.step();
      for (const char* k : {"w", "b"}) {
        std::string name = std::string(c.name) + "." + std::to_string(t) + "." + k;
        expect_close(name, s.value(k), f.read_f32(name), 2e-6);
      }
    }
  }
}

TEST(optim_parity, clip_grad_norm_matches_torch) {
  auto file = open_reference("optim.safetensors");
  const SafetensorsFile& f = *file;
  for (std::string c : {"clip.above.", "clip.below."}) {
    Tensor w = f.read_f32(c + "in.w"), b = f.read_f32(c + "in.b");
    float* grads[] = {w.f32(), b.f32()};
    int64_t sizes[] = {w.numel(), b.numel()};
    double norm = clip_grad_norm(grads, sizes, 2, f.read_f32(c + "max_norm").f32()[0]);
    double want = f.read_f32(c + "norm").f32()[0];
    std::printf("  %-32s %.2e\n", (c + "norm").c_str(), std::fabs(norm - want) / want);
    EXPECT_NEAR(norm, want, 1e-6 * want);
    expect_close(c + "out.w", w, f.read_f32(c + "out.w"), 1e-6);
    expect_close(c + "out.b", b, f.read_f32(c + "out.b"), 1e-6);
  }
}
