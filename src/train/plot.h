// Training charts from a run's metrics.jsonl, drawn by Cairo: PNG, SVG and PDF with antialiased
// lines and real fonts (fontconfig, DejaVu Sans), so titles, labels and legends may be
// Vietnamese.
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
  std::vector<double> x, y;  // same length; non-finite y (and y <= 0 on a log axis) break the line
  int color = -1;            // palette index; -1: the series' position in the chart
  bool faint = false;        // drawn thin and translucent: the raw line under its smoothed one
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
};

// (step, key) points of every row that has `key`.
Series metric_series(const std::vector<MetricsRow>& rows, const std::string& key,
                     const std::string& label);

enum class ChartFormat { png, svg, pdf };

// "png" -> ChartFormat::png; anything else is an aero::Error listing the formats.
ChartFormat parse_chart_format(const std::string& name);
const char* chart_extension(ChartFormat f);

struct PlotOptions {
  std::vector<ChartFormat> formats{ChartFormat::png, ChartFormat::svg};
  bool log_loss = false;   // loss on a log axis (lr and grad norm stay linear)
  double smoothing = 0.6;  // EMA weight of the smoothed train-loss line; 0: raw line only
  std::string title;       // names the run in titles instead of its directory
  int width = 800, height = 450;
};

// TensorBoard's smoothing: an exponential moving average divided by (1 - weight^n), so the line
// starts at the first value instead of rising from zero. Non-finite values pass through.
// ema_smooth({0, 10}, 0.5) -> {0, 6.667}
std::vector<double> ema_smooth(const std::vector<double>& y, double weight);

// Tick values of an axis covering [lo, hi]: linear 1-2-5 steps ([0.13, 4.2] -> 0, 1, ..., 5), or
// on a log axis decades, then 1-2-5 or 1..9 within them when the range spans few decades.
std::vector<double> chart_ticks(double lo, double hi, bool log);

// The chart as a file's bytes in the given format.
std::string render_chart(const Chart& chart, ChartFormat format, int width = 800, int height = 450);

// Writes prefix.<ext> atomically for each format in opts.formats; returns the paths.
std::vector<std::string> write_chart(const Chart& chart, const std::string& prefix,
                                     const PlotOptions& opts = {});

// RUN_DIR/metrics.jsonl -> RUN_DIR/loss.* (train loss raw and smoothed, val and test loss),
// lr.*, grad_norm.*; a chart whose keys never appear is not written. Returns the paths.
std::vector<std::string> write_run_charts(const std::string& run_dir, const PlotOptions& opts = {});

struct RunRef {
  std::string run_dir, label;
};

// `key` of several runs on one chart, one colour per run (smoothed with a faint raw line for
// "loss"): out_prefix.<ext>. A run without `key` is an error. Returns the paths.
std::vector<std::string> write_comparison_chart(const std::string& out_prefix,
                                                const std::vector<RunRef>& runs,
                                                const std::string& key,
                                                const PlotOptions& opts = {});

}  // namespace aero
