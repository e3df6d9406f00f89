// aero export gguf --model CKPT --out FILE [--type f32|q8_0]: a model for llama.cpp.
// aero export peft --model RUN --out DIR: a LoRA fine-tune's adapter in PEFT's format.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "models/export_gguf.h"
#include "models/load.h"
#include "models/peft.h"

namespace aero::cli {

void add_export(CLI::App& app) {
  struct Args {
    std::string model, out, tokenizer, name;
    GgufExportOptions opt;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Export a model to another format");
  cmd->require_subcommand(1);
  auto* gguf = cmd->add_subcommand("gguf", "GGUF for llama.cpp (architecture gpt2 or llama)");
  gguf->add_option("--model,-m", a->model, "Checkpoint or run directory (its latest)")->required();
  gguf->add_option("--out,-o", a->out, "GGUF file to write")->required();
  gguf->add_option("--type", a->opt.type, "Type of the 2-D weights: f32, f16, bf16 or q8_0")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}))
      ->capture_default_str();
  gguf->add_option("--tokenizer", a->tokenizer,
                   "Tokenizer (default: the one named in the checkpoint's config)");
  gguf->add_option("--name", a->name, "general.name (default: the model directory's name)");
  gguf->callback([a] {
    LoadedModel m = load_model(a->model);
    a->opt.tokenizer = a->tokenizer.empty() ? m.tokenizer : a->tokenizer;
    AERO_CHECK(!a->tokenizer.empty() || m.tokenizer.empty() || std::filesystem::exists(m.tokenizer),
               "[export] the checkpoint's tokenizer (data.tokenizer) ", m.tokenizer,
               " does not exist from here; give it with --tokenizer");
    const Arch& arch = m.cfg.arch();
    AERO_CHECK(arch.stack != nullptr, "[export] a '", arch.name,
               "' model is not a transformer stack llama.cpp runs");
    // The exporter writes decoder (causal) architectures; a bidirectional stack would load as one.
    AERO_CHECK(arch.stack(m.cfg).causal, "[export] a '", arch.name,
               "' model attends in both directions; GGUF export writes causal models only");
    a->opt.name = a->name;
    if (a->opt.name.empty()) {
      const std::filesystem::path p = std::filesystem::absolute(a->model).lexically_normal();
      a->opt.name = (p.has_filename() ? p : p.parent_path()).filename().string();
    }
    const GgufExportReport r = export_gguf(arch.stack(m.cfg), *m.store, a->out, a->opt);
    std::printf("wrote %s: %s, %d tensors (", a->out.c_str(), r.arch.c_str(), r.tensors);
    if (r.converted)
      std::printf("%d %s, the rest f32", r.converted, a->opt.type.c_str());
    else
      std::printf("f32");
    std::printf("), vocabulary %d", r.vocab);
    if (r.padded) std::printf(" + %d padding tokens", r.padded);
    std::printf("\n");
    for (const std::string& w : r.warnings) std::fprintf(stderr, "aero: warning: %s\n", w.c_str());
  });

  auto* peft = cmd->add_subcommand("peft", "A LoRA fine-tune's adapter as a PEFT directory");
  peft->add_option("--model,-m", a->model, "LoRA run or checkpoint (aero finetune --lora)")
      ->required();
  peft->add_option("--out,-o", a->out,
                   "Directory to write (adapter_config.json, "
                   "adapter_model.safetensors)")
      ->required();
  peft->callback([a] {
    LoadedModel m = load_model(a->model);
    AERO_CHECK(m.lora, "[export] ", m.dir, " has no LoRA adapters (fine-tune with --lora)");
    const ModelFamily family = m.cfg.arch().family;
    const std::string task = family == ModelFamily::seq2seq     ? "SEQ_2_SEQ_LM"
                             : family == ModelFamily::causal_lm ? "CAUSAL_LM"
                                                                : "";
    write_peft_adapter(a->out, m.lora_cfg, *m.lora, task, read_checkpoint_model_config(m.dir).base,
                       m.rows.get());
    std::printf("wrote %s: %zu modules, r %d, %lld parameters", a->out.c_str(),
                m.lora->modules.size(), m.lora_cfg.r, static_cast<long long>(m.lora->params));
    if (m.rows)
      std::printf(" + %zu token rows (%lld parameters)", m.rows->embedding->ids().size(),
                  static_cast<long long>(m.rows->params));
    std::printf("\n");
  });
}

}  // namespace aero::cli