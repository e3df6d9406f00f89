// aero plot RUN_DIR...: charts of a run's metrics.jsonl next to it (loss, lr, grad_norm as SVG
// and PNG), or with --compare one chart of --key across runs.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "train/plot.h"

namespace aero::cli {

void add_plot(CLI::App& app) {
  struct Opts {
    std::vector<std::string> runs, labels;
    bool compare = false;
    std::string key = "val_loss", out = "compare";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "plot", "Charts from RUN_DIR/metrics.jsonl: loss, lr and grad_norm as .svg and .png");
  cmd->add_option("runs", o->runs, "run directories (each holds metrics.jsonl)")->required();
  cmd->add_flag("--compare", o->compare, "one chart of --key with a line per run");
  cmd->add_option("--key", o->key, "metric to compare (loss, val_loss, lr, ...)")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output prefix of the comparison: OUT.svg and OUT.png")
      ->capture_default_str();
  cmd->add_option("--label", o->labels, "legend label per run, in order (default: directory name)");
  cmd->callback([o] {
    if (!o->compare) {
      AERO_CHECK(o->labels.empty(), "[plot] --label only applies with --compare");
      for (const std::string& run : o->runs) {
        std::vector<std::string> files = write_run_charts(run);
        AERO_CHECK(!files.empty(), "[plot] ", run,
                   "/metrics.jsonl has none of loss, val_loss, test_loss, lr, grad_norm");
        for (const std::string& f : files) std::printf("%s\n", f.c_str());
      }
      return;
    }
    AERO_CHECK(o->labels.empty() || o->labels.size() == o->runs.size(), "[plot] ", o->labels.size(),
               " labels for ", o->runs.size(), " runs");
    std::vector<RunRef> refs;
    for (size_t i = 0; i < o->runs.size(); i++) {
      std::filesystem::path dir = std::filesystem::path(o->runs[i]).lexically_normal();
      std::string name = (dir.has_filename() ? dir : dir.parent_path()).filename().string();
      refs.push_back({o->runs[i], o->labels.empty() ? name : o->labels[i]});
    }
    write_comparison_chart(o->out, refs, o->key);
    std::printf("%s.svg\n%s.png\n", o->out.c_str(), o->out.c_str());
  });
}

}  // namespace aero::cli
