// aero plot RUN_DIR...: charts of a run's metrics.jsonl next to it (loss, lr, grad_norm), or
// with --compare one chart of --key across runs; PNG and SVG by default, PDF on request.
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
    std::vector<std::string> runs, labels, formats{"png", "svg"};
    bool compare = false;
    std::string key = "val_loss", out = "compare";
    PlotOptions plot;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "plot", "Charts from RUN_DIR/metrics.jsonl: loss, lr and grad_norm as .png and .svg");
  cmd->add_option("runs", o->runs, "run directories (each holds metrics.jsonl)")->required();
  cmd->add_flag("--compare", o->compare, "one chart of --key with a line per run");
  cmd->add_option("--key", o->key, "metric to compare (loss, val_loss, lr, ...)")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output prefix of the comparison: OUT.png, OUT.svg, ...")
      ->capture_default_str();
  cmd->add_option("--label", o->labels, "legend label per run, in order (default: directory name)");
  cmd->add_option("--format", o->formats, "chart formats: png, svg, pdf (repeatable or a,b)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--log", o->plot.log_loss, "loss on a log scale");
  cmd->add_option("--smoothing", o->plot.smoothing,
                  "EMA weight of the smoothed train-loss line, as in TensorBoard (0: off)")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  cmd->add_option("--title", o->plot.title,
                  "chart title (default: the run's directory name, or --key with --compare)");
  cmd->add_option("--size", o->plot.width, "chart width in pixels (height: 9/16 of it)")
      ->capture_default_str();
  cmd->callback([o] {
    o->plot.formats.clear();
    for (const std::string& f : o->formats) o->plot.formats.push_back(parse_chart_format(f));
    o->plot.height = o->plot.width * 9 / 16;
    if (!o->compare) {
      AERO_CHECK(o->labels.empty(), "[plot] --label only applies with --compare");
      for (const std::string& run : o->runs) {
        std::vector<std::string> files = write_run_charts(run, o->plot);
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
    for (const std::string& f : write_comparison_chart(o->out, refs, o->key, o->plot))
      std::printf("%s\n", f.c_str());
  });
}

}  // namespace aero::cli
