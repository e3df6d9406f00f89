// LLaDA against its float64 PyTorch reference (tests/reference/llada_ref.py): the diffusion loss
// and every gradient for the same x0, masks and p; and the sampler (greedy, low_confidence /
// margin / entropy, blocks, CFG) token for token after every step.
// Tolerances as test_gpt_options.cpp: loss and gradients 1e-5 relative (float32 against float64).
#include <string>
#include <vector>

#include "infer/diffusion.h"
#include "models/llada.h"
#include "parity_util.h"
#include "train/objective.h"

using namespace aero;
using namespace aero::parity;

namespace {

struct Built {
  std::unique_ptr<SafetensorsFile> f;
  LladaConfig cfg;
  ParamStore store;
  std::unique_ptr<Llada> model;

  explicit Built(const std::string& file) : f(open_reference(file)) {
    auto i = [&](const char* k) { return std::stoi(meta(*f, k)); };
    cfg.vocab_size = i("vocab");
    cfg.block_size = i("block_size");
    cfg.n_layer = i("n_layer");
    cfg.n_head = i("n_head");
    cfg.n_embd = i("n_embd");
    cfg.ffn_hidden = i("ffn_hidden");
    cfg.pos = PosKind::rope;
    cfg.norm = NormKind::layernorm;
    cfg.act = ActKind::gelu;
    cfg.bias = false;
    cfg.mask_id = i("mask_id");
    model = std::make_unique<Llada>(cfg, store);
    store.finalize();
    for (Param& p : store.params()) f->read_into("param." + p.name, p.value);
  }
  std::vector<int32_t> ints(const std::string& name) {
    Tensor t = f->view(name);
    return {t.i32(), t.i32() + t.numel()};
  }
};

}  // namespace

TEST(LladaParity, LossAndGradients) {
  Built b("llada_loss.safetensors");
  const std::vector<int32_t> x0 = b.ints("x0"), mask = b.ints("mask");
  const Tensor p = b.f->view("p");
  DiffusionDraw d;
  d.rows = p.numel();
  d.cols = int64_t(x0.size()) / d.rows;
  for (size_t k = 0; k < x0.size(); k++) {
    const float pr = p.f32()[k / size_t(d.cols)];
    d.xt.push_back(mask[k] ? b.cfg.mask_id : x0[k]);
    d.target.push_back(mask[k] ? x0[k] : kIgnoreIndex);
    d.weight.push_back(mask[k] ? 1.0f / pr : 0.0f);
  }
  Tape tape;
  Var loss = diffusion_loss(*b.model, tape, d, float(d.rows * d.cols));
  tape.backward(loss);
  expect_close("loss", loss.value(), b.f->view("loss").reshape(Shape{}), 1e-5);
  for (Param& prm : b.store.params())
    expect_close("grad." + prm.name, prm.grad, b.f->view("grad." + prm.name), 1e-5);
}

class LladaSampleParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LladaSampleParity, EveryStepMatches) {
  Built b("llada_sample_" + GetParam() + ".safetensors");
  const std::vector<int32_t> prompt = b.ints("prompt");
  const Tensor states = b.f->view("states");
  DiffusionOpts o;
  o.gen_length = std::stoi(meta(*b.f, "gen_length"));
  o.block_length = std::stoi(meta(*b.f, "block_length"));
  o.steps = std::stoi(meta(*b.f, "steps"));
  o.remasking = remasking_names().parse(meta(*b.f, "remasking"), "remasking");
  o.cfg_scale = std::stof(meta(*b.f, "cfg_scale"));
  o.temperature = 0;
  const int64_t T = states.shape()[1];
  int n = 0;
  const DiffusionResult r = diffusion_generate(
      model_logits(*b.model), b.cfg.vocab_size, prompt, b.cfg.mask_id, -1, o,
      [&](const DiffusionStep& st) {
        ASSERT_LT(n, states.shape()[0]);
        const int32_t* want = states.i32() + n * T + int64_t(prompt.size());
        const std::vector<int32_t> w(want, want + o.gen_length);
        EXPECT_EQ(*st.answer, w) << "step " << n << " (block " << st.block << ")";
        n++;
      });
  EXPECT_EQ(n, states.shape()[0]);
  EXPECT_EQ(r.forwards, o.steps);
  std::printf("  %s: %d steps identical\n", GetParam().c_str(), n);
}

INSTANTIATE_TEST_SUITE_P(Cases, LladaSampleParity,
                         ::testing::Values("one_block", "blocks", "few_steps", "margin", "entropy",
                                           "cfg"));
