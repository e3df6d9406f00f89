// lora_bench: one LoRA fine-tuning step of seed 000's recipe on random weights of a T5 shape (a
// config JSON's model section; configs/mt5-base.json for the real one), the aero side of
// bench/lora.sh (bench/lora_torch.py is the PyTorch side, same shapes and counts).
//
//   lora_bench CONFIG.json [--batch 16] [--src 256] [--tgt 64] [--micro 2] [--warmup 1]
//              [--accum 8] [--base bf16|f32] [--precision bf16|fp32] [--checkpoint none|blocks]
//
// LoRA r 16, alpha 32, dropout 0.1 on q k v o wi_0 wi_1 wo, the model's own dropout, random
// source ids (B, src) and labels (B, tgt), the seq2seq loss. Times --micro micro-batches
// (forward + backward) after --warmup untimed ones, and the optimizer's part of a step
// (clip 0.5, AdamW, zero_grad); one optimizer step of --accum micro-batches is estimated as
// accum x the mean micro-batch + the optimizer's part. --base bf16 stores the frozen base in
// bf16 (as aero finetune does with train.precision = bf16). Prints one JSON line with the peak
// RSS of the whole process and the CPU seconds per micro-batch (micro_cpu_s).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/rng.h"
#include "core/threads.h"
#include "kernels/gemm_bf16.h"
#include "models/load.h"
#include "train/config.h"
#include "train/data_parallel.h"
#include "train/optimizer.h"
#include "train/trainer.h"

using namespace aero;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// User + system CPU seconds of the whole process: on a shared machine a steadier measure of the
// work than wall time (OMP_WAIT_POLICY=PASSIVE, as bench/lora.sh sets it: idle threads sleep).
double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: lora_bench CONFIG.json [--batch 16] [--src 256] [--tgt 64] [--micro 2] "
                 "[--warmup 1] [--accum 8] [--base bf16|f32] [--precision bf16|fp32] "
                 "[--checkpoint none|blocks]\n");
    return 2;
  }
  int B = 16, S = 256, T = 64, micro = 2, warmup = 1, accum = 8;
  std::string base = "bf16", precision = "bf16", checkpoint = "none";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--batch")
      B = std::atoi(v.c_str());
    else if (a == "--src")
      S = std::atoi(v.c_str());
    else if (a == "--tgt")
      T = std::atoi(v.c_str());
    else if (a == "--micro")
      micro = std::atoi(v.c_str());
    else if (a == "--warmup")
      warmup = std::atoi(v.c_str());
    else if (a == "--accum")
      accum = std::atoi(v.c_str());
    else if (a == "--base")
      base = v;
    else if (a == "--precision")
      precision = v;
    else if (a == "--checkpoint")
      checkpoint = v;
    else {
      std::fprintf(stderr, "lora_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    AERO_CHECK(base == "bf16" || base == "f32", "[lora_bench] --base is bf16 or f32, got ", base);
    AERO_CHECK(precision == "bf16" || precision == "fp32",
               "[lora_bench] --precision is bf16 or fp32, got ", precision);
    std::ifstream in(argv[1]);
    AERO_CHECK(in.good(), "[lora_bench] cannot read ", argv[1]);
    const nlohmann::json j = nlohmann::json::parse(in);
    const ModelConfig cfg = ModelConfig::from_json(j.at("model"));
    const int V = cfg.vocab_size();
    LoraConfig lc;
    lc.r = 16;
    lc.alpha = 32;
    lc.dropout = 0.1f;
    lc.targets = {"q", "k", "v", "o", "wi_0", "wi_1", "wo"};
    const bool bf16 = precision == "bf16" && bf16_hardware();
    ParamStore store;
    BuiltModel built = build_model(cfg, lc, store);
    store.finalize(1, /*gradients=*/true, /*frozen_bf16=*/bf16 && base == "bf16");
    const double rss_model = peak_rss_mb();
    OptimConfig oc;
    oc.kind = OptimKind::adamw;
    oc.lr = 3e-4f;
    oc.weight_decay = 0.01f;
    Optimizer opt(store, oc);
    const int parts = auto_data_parallel_parts(store.count(), B, num_threads());
    DataParallel dp(store, parts);
    TrainConfig tc;
    tc.checkpoint_activations = checkpoint;
    for (int k = 0; k < parts; k++) dp.tape(k).bf16_products = bf16;

    // Random ids of the seed's lengths: no padding (every row at its longest).
    Rng rng(7);
    Tensor src = Tensor::empty({B, S}, DType::i32), mask = Tensor::empty({B, S}, DType::i32);
    Tensor labels = Tensor::empty({B, T}, DType::i32), dec = Tensor::empty({B, T}, DType::i32);
    double micro_s = 0, micro_cpu = 0, loss = 0;
    for (int it = 0; it < warmup + micro; it++) {
      for (int64_t i = 0; i < int64_t(B) * S; i++) {
        src.i32()[i] = int32_t(2 + rng.next_u64() % uint64_t(V - 2));
        mask.i32()[i] = 1;
      }
      for (int64_t i = 0; i < int64_t(B) * T; i++)
        labels.i32()[i] = int32_t(2 + rng.next_u64() % uint64_t(V - 2));
      for (int b = 0; b < B; b++) {  // shift_right: the decoder starts from pad (0)
        dec.i32()[b * T] = 0;
        for (int t = 1; t < T; t++) dec.i32()[b * T + t] = labels.i32()[b * T + t - 1];
      }
      const double t0 = now(), c0 = cpu_s();
      double part_loss = 0;
      dp.run([&](int k, Tape& tape) {
        const int64_t b0 = dp.begin(k, B), b1 = dp.begin(k + 1, B);
        ModelInput mi;
        mi.ids = Tensor::wrap(dec.i32() + b0 * T, {b1 - b0, T}, DType::i32);
        mi.source_ids = Tensor::wrap(src.i32() + b0 * S, {b1 - b0, S}, DType::i32);
        mi.source_mask = Tensor::wrap(mask.i32() + b0 * S, {b1 - b0, S}, DType::i32);
        const Tensor y = Tensor::wrap(labels.i32() + b0 * T, {b1 - b0, T}, DType::i32);
        CrossEntropyOpts o;
        o.divisor = float(int64_t(B) * T * accum);
        tape.reset();
        tape.training = true;
        tape.checkpoint_every = tc.checkpoint_every_block();
        const Var l = cross_entropy(built.model->forward(tape, mi), y, o);
        tape.backward(l);
        part_loss += double(l.value().f32()[0]);
      });
      if (it >= warmup) {
        micro_s += now() - t0;
        micro_cpu += cpu_s() - c0;
      }
      loss = part_loss * accum;
    }
    micro_s /= micro;
    micro_cpu /= micro;
    const double t0 = now();
    opt.clip_grad_norm(0.5f);
    opt.step();
    store.zero_grad();
    const double opt_s = now() - t0;
    size_t act = 0;  // the tapes' peak arena bytes (activations and their gradients)
    for (int k = 0; k < parts; k++) act += dp.tape(k).peak_bytes();
    const nlohmann::json out = {
        {"side", "aero"},
        {"threads", num_threads()},
        {"parts", parts},
        {"base", bf16 && base == "bf16" ? "bf16" : "f32"},
        {"precision", bf16 ? std::string("bf16 on ") + bf16_kernel_name(bf16_kernel()) : "fp32"},
        {"checkpoint", checkpoint},
        {"params", store.count()},
        {"trainable", store.count("", /*trainable_only=*/true)},
        {"lora_modules", built.lora->modules.size()},
        {"loss", loss},
        {"micro_s", micro_s},
        {"micro_cpu_s", micro_cpu},
        {"optimizer_s", opt_s},
        {"step_s", accum * micro_s + opt_s},
        {"micro_timed", micro},
        {"rss_model_mb", rss_model},
        {"act_mb", double(act) / (1 << 20)},
        {"peak_rss_mb", peak_rss_mb()}};
    std::printf("%s\n", out.dump().c_str());
    if (dp.tape(0).profile) std::fprintf(stderr, "%s", dp.tape(0).profile_report().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
