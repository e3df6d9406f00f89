// aero plot: metrics.jsonl parsing (errors name file:line) and the SVG / PNG charts.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/atomic_file.h"
#include "test_data_util.h"
#include "train/plot.h"

using namespace aero;
using aero::test::ScratchDir;

namespace {

// A 300-step run: train loss every 10 steps, val loss every 100, lr warmup then decay.
std::string synthetic_metrics() {
  std::string s;
  for (int step = 0; step <= 300; step += 10) {
    double lr = step < 50 ? 3e-4 * step / 50 : 3e-4 * (1 - (step - 50) / 300.0);
    s += cat(
        "{\"step\": ", step, ", \"loss\": ", 4.0 * std::exp(-step / 150.0) + 1.0, ", \"lr\": ", lr,
        ", \"grad_norm\": ", 1.5 + std::sin(step / 20.0), ", \"tokens_per_s\": 12000.5",
        step % 100 == 0 ? cat(", \"val_loss\": ", 4.2 * std::exp(-step / 160.0) + 1.1) : "", "}\n");
  }
  return s + "\n";  // a trailing blank line is fine
}

uint32_t be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; i++) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}

// The PNG's signature, IHDR size and the decoded RGB rows (IDAT inflated).
std::vector<uint8_t> decode_png(const std::string& png, uint32_t* w, uint32_t* h) {
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  *w = be32(png, 16);
  *h = be32(png, 20);
  size_t at = 8 + 12 + 13;  // after the IHDR chunk
  EXPECT_EQ(png.substr(at + 4, 4), "IDAT");
  uint32_t n = be32(png, at);
  std::vector<uint8_t> raw(size_t(*h) * (size_t(*w) * 3 + 1));
  uLongf size = raw.size();
  EXPECT_EQ(uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(png.data() + at + 8), n),
            Z_OK);
  EXPECT_EQ(size, raw.size());
  return raw;
}

// Pixels close to the colour (the first series is drawn in (31, 119, 180)).
int64_t count_color(const std::vector<uint8_t>& raw, uint32_t w, uint8_t r, uint8_t g, uint8_t b) {
  int64_t n = 0;
  size_t row = size_t(w) * 3 + 1;
  for (size_t y = 0; y < raw.size() / row; y++)
    for (size_t x = 0; x < w; x++) {
      const uint8_t* p = &raw[y * row + 1 + x * 3];
      n += std::abs(p[0] - r) < 8 && std::abs(p[1] - g) < 8 && std::abs(p[2] - b) < 8;
    }
  return n;
}

void expect_error(const std::string& path, const std::string& what) {
  try {
    read_metrics(path);
    ADD_FAILURE() << "no error for " << what;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(plot, reads_metrics_with_missing_keys_and_nulls) {
  ScratchDir d("plot_read");
  auto rows = read_metrics(d.write("m.jsonl",
                                   "{\"step\": 1, \"loss\": 2.5}\n\n"
                                   "{\"step\": 2, \"val_loss\": null, \"lr\": 1e-3}\r\n"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].step, 2);
  EXPECT_EQ(rows[0].values.at("loss"), 2.5);
  EXPECT_EQ(rows[1].values.count("val_loss"), 0u);
  Series s = metric_series(rows, "lr", "lr");
  EXPECT_EQ(s.x, std::vector<double>{2});
}

TEST(plot, malformed_lines_name_file_and_line) {
  ScratchDir d("plot_errors");
  std::string ok = "{\"step\": 1, \"loss\": 2}\n";
  expect_error(d.write("a.jsonl", ok + "{\"step\": 2, \"loss\": \n"), "a.jsonl:2: not valid JSON");
  expect_error(d.write("b.jsonl", ok + ok + "{\"loss\": 1}\n"), "b.jsonl:3: \"step\" is missing");
  expect_error(d.write("c.jsonl", "{\"step\": 1.5}\n"), "c.jsonl:1: \"step\"");
  expect_error(d.write("d.jsonl", "{\"step\": 1, \"loss\": \"x\"}\n"),
               "d.jsonl:1: \"loss\" is not a number");
  expect_error(d.write("e.jsonl", "[1, 2]\n"), "e.jsonl:1: expected a JSON object");
  expect_error(d.file("missing.jsonl"), "cannot open");
}

TEST(plot, run_charts_svg_and_png) {
  ScratchDir d("plot_run");
  d.write("metrics.jsonl", synthetic_metrics());
  auto files = write_run_charts(d.path.string());
  ASSERT_EQ(files.size(), 6u);
  std::string svg = read_file(d.file("loss.svg"));
  EXPECT_EQ(svg.find("<svg"), 0u);
  for (const char* want :
       {"<polyline", "train loss", "val loss", ">step<", ">0<", ">300<", ">5<", "<circle"})
    EXPECT_NE(svg.find(want), std::string::npos) << want;
  EXPECT_EQ(svg.find("test loss"), std::string::npos);  // no test_loss in the metrics
  std::string lr = read_file(d.file("lr.svg"));
  EXPECT_NE(lr.find(">0.0003<"), std::string::npos);
  for (const char* name : {"loss.png", "lr.png", "grad_norm.png"}) {
    uint32_t w = 0, h = 0;
    auto raw = decode_png(read_file(d.file(name)), &w, &h);
    EXPECT_EQ(w, 800u);
    EXPECT_EQ(h, 450u);
    EXPECT_GT(count_color(raw, w, 31, 119, 180), 500) << name << ": the first series is drawn";
  }
  uint32_t w = 0, h = 0;
  auto raw = decode_png(read_file(d.file("loss.png")), &w, &h);
  EXPECT_GT(count_color(raw, w, 255, 127, 14), 100) << "val loss (second series) is drawn";
}

TEST(plot, chart_without_its_keys_is_skipped) {
  ScratchDir d("plot_skip");
  d.write("metrics.jsonl", "{\"step\": 0, \"loss\": 3}\n{\"step\": 5, \"loss\": 2}\n");
  auto files = write_run_charts(d.path.string());
  EXPECT_EQ(files.size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(d.file("lr.svg")));
}

TEST(plot, comparison_of_runs) {
  ScratchDir d("plot_compare");
  std::filesystem::create_directories(d.path / "all");
  std::filesystem::create_directories(d.path / "final");
  d.write("all/metrics.jsonl", synthetic_metrics());
  d.write("final/metrics.jsonl",
          "{\"step\": 0, \"val_loss\": 4.5}\n{\"step\": 100, \"val_loss\": 3.0}\n"
          "{\"step\": 200, \"val_loss\": 2.6}\n");
  write_comparison_chart(
      d.file("cmp"), {{d.file("all"), "all tokens"}, {d.file("final"), "final token"}}, "val_loss");
  std::string svg = read_file(d.file("cmp.svg"));
  for (const char* want : {"all tokens", "final token", ">val_loss<"})
    EXPECT_NE(svg.find(want), std::string::npos) << want;
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1))
    polylines++;
  EXPECT_EQ(polylines, 2u);
  uint32_t w = 0, h = 0;
  auto raw = decode_png(read_file(d.file("cmp.png")), &w, &h);
  EXPECT_GT(count_color(raw, w, 255, 127, 14), 100);
  std::filesystem::create_directories(d.path / "none");
  d.write("none/metrics.jsonl", "{\"step\": 1, \"loss\": 2}\n");
  EXPECT_THROW(write_comparison_chart(d.file("x"), {{d.file("none"), "n"}}, "val_loss"), Error);
}
