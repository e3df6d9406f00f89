// Training charts from a run's metrics.jsonl: SVG written as text and PNG rasterised here (a
// built-in 5x7 font, anti-aliased lines, zlib for the encoding), so no plotting library is
// needed on the training machine.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aero {

// One line of metrics.jsonl: "step" plus whichever numeric keys it had (null is skipped).
struct MetricsRow {
  int64_t step = 0;
  std::map<std::string, double> values;
};

// Reads JSON Lines; blank lines are skipped, anything else malformed is an aero::Error naming
// "file:line". Keys other than "step" must be numbers or null; unknown keys are kept.
std::vector<MetricsRow> read_metrics(const std::string& path);

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite y are left out when drawing
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

// (step, key) points of every row that has `key`.
Series metric_series(const std::vector<MetricsRow>& rows, const std::string& key,
                     const std::string& label);

// Rendered chart: an SVG document, and PNG bytes (RGB, width x height).
std::string render_svg(const Chart& chart, int width = 800, int height = 450);
std::vector<uint8_t> render_png(const Chart& chart, int width = 800, int height = 450);

// Writes prefix.svg and prefix.png atomically.
void write_chart(const Chart& chart, const std::string& prefix);

// RUN_DIR/metrics.jsonl -> RUN_DIR/loss.{svg,png} (train, val and test loss), lr.{svg,png},
// grad_norm.{svg,png}; a chart whose keys never appear is not written. Returns the paths.
std::vector<std::string> write_run_charts(const std::string& run_dir);

struct RunRef {
  std::string run_dir, label;
};

// `key` of several runs on one chart: out_prefix.{svg,png}. A run without `key` is an error.
void write_comparison_chart(const std::string& out_prefix, const std::vector<RunRef>& runs,
                            const std::string& key);

}  // namespace aero
