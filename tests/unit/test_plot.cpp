// aero plot: metrics.jsonl parsing (errors name file:line), the EMA smoothing and axis ticks,
// and the structure of the charts Cairo writes: PNG size and drawn pixels (read back through
// Cairo), SVG that parses and carries its Vietnamese title as text, PDF. No golden images.
#include <cairo.h>
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

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
    double noise = 0.3 * std::sin(step * 1.7);
    s += cat("{\"step\": ", step, ", \"loss\": ", 4.0 * std::exp(-step / 150.0) + 1.0 + noise,
             ", \"lr\": ", lr, ", \"grad_norm\": ", 1.5 + std::sin(step / 20.0),
             ", \"tokens_per_s\": 12000.5",
             step % 100 == 0 ? cat(", \"val_loss\": ", 4.2 * std::exp(-step / 160.0) + 1.1) : "",
             "}\n");
  }
  return s + "\n";  // a trailing blank line is fine
}

struct Png {
  int width = 0, height = 0;
  std::vector<uint32_t> pixels;  // 0x00RRGGBB

  // Pixels within 8 of the colour in every channel.
  int64_t count(uint32_t rgb) const {
    int64_t n = 0;
    for (uint32_t p : pixels) {
      bool near = true;
      for (int shift : {0, 8, 16})
        near = near && std::abs(int((p >> shift) & 255) - int((rgb >> shift) & 255)) < 8;
      n += near;
    }
    return n;
  }
  int64_t non_white() const {
    int64_t n = 0;
    for (uint32_t p : pixels) n += (p & 0xFFFFFF) != 0xFFFFFF;
    return n;
  }
};

// Read back by Cairo itself: the file is a PNG any reader accepts.
Png read_png(const std::string& path) {
  Png png;
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS) << path;
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(s);
    png.width = cairo_image_surface_get_width(s);
    png.height = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < png.height; y++)
      for (int x = 0; x < png.width; x++)
        png.pixels.push_back(reinterpret_cast<const uint32_t*>(data + size_t(y) * stride)[x] &
                             0xFFFFFF);
  }
  cairo_surface_destroy(s);
  return png;
}

// The text of every element named `name` in an SVG, parsed by libxml2 (an error fails the
// test).
std::vector<std::string> svg_texts(const std::string& svg, const char* name) {
  std::vector<std::string> out;
  xmlDocPtr doc = xmlReadMemory(svg.data(), int(svg.size()), "chart.svg", "UTF-8", XML_PARSE_NONET);
  EXPECT_NE(doc, nullptr) << "the SVG does not parse";
  if (!doc) return out;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  EXPECT_STREQ(reinterpret_cast<const char*>(root->name), "svg");
  std::vector<xmlNodePtr> todo{root};
  while (!todo.empty()) {
    xmlNodePtr n = todo.back();
    todo.pop_back();
    for (xmlNodePtr c = n->children; c; c = c->next)
      if (c->type == XML_ELEMENT_NODE) todo.push_back(c);
    if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name)) {
      xmlChar* t = xmlNodeGetContent(n);
      out.emplace_back(reinterpret_cast<const char*>(t));
      xmlFree(t);
    }
  }
  xmlFreeDoc(doc);
  return out;
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) n++;
  return n;
}

constexpr uint32_t kBlue = 0x0072B2, kVermillion = 0xD55E00;  // Okabe-Ito, series 0 and 1

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

TEST(plot, ema_smoothing_is_debiased_as_in_tensorboard) {
  auto s = ema_smooth({0, 10}, 0.5);
  EXPECT_DOUBLE_EQ(s[0], 0);
  EXPECT_NEAR(s[1], 10 * 0.5 / 0.75, 1e-12);  // (0.5 * 0 + 0.5 * 10) / (1 - 0.5^2)
  for (double v : ema_smooth({3, 3, 3, 3}, 0.9)) EXPECT_NEAR(v, 3, 1e-12);  // no ramp from zero
  EXPECT_EQ(ema_smooth({1, 2, 5}, 0), (std::vector<double>{1, 2, 5}));
  auto nan = ema_smooth({1, NAN, 1}, 0.6);
  EXPECT_TRUE(std::isnan(nan[1]));
  EXPECT_NEAR(nan[2], 1, 1e-12);
  EXPECT_THROW(ema_smooth({1}, 1.0), Error);
}

TEST(plot, ticks_linear_and_log) {
  EXPECT_EQ(chart_ticks(0.13, 4.2, false), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  auto decades = chart_ticks(0.5, 200, true);
  ASSERT_EQ(decades.size(), 3u);
  EXPECT_NEAR(decades[0], 1, 1e-12);
  EXPECT_NEAR(decades[2], 100, 1e-9);
  auto narrow = chart_ticks(1.5, 4.5, true);  // within one decade: 2, 3, 4
  ASSERT_EQ(narrow.size(), 3u);
  EXPECT_NEAR(narrow[0], 2, 1e-12);
  EXPECT_LE(chart_ticks(1e-9, 1e6, true).size(), 8u);
  EXPECT_THROW(chart_ticks(0, 10, true), Error);
}

TEST(plot, run_charts_png_and_svg_with_a_vietnamese_run_name) {
  ScratchDir d("plot_run");
  const std::string run = "thử-nghiệm";  // NFC, as a user types it
  std::filesystem::create_directories(d.path / run);
  d.write(run + "/metrics.jsonl", synthetic_metrics());
  auto files = write_run_charts(d.file(run));
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "loss.png");
  EXPECT_EQ(std::filesystem::path(files[1]).filename(), "loss.svg");

  for (const char* name : {"loss.png", "lr.png", "grad_norm.png"}) {
    Png png = read_png(d.file(run + "/" + name));
    EXPECT_EQ(png.width, 800) << name;
    EXPECT_EQ(png.height, 450) << name;
    EXPECT_GT(png.count(kBlue), 300) << name << ": the first series is drawn";
    EXPECT_GT(png.non_white(), 5000) << name << ": axes, text and lines are drawn";
  }
  Png loss = read_png(d.file(run + "/loss.png"));
  EXPECT_GT(loss.count(kVermillion), 50) << "val loss (second series) is drawn";

  std::string svg = read_file(d.file(run + "/loss.svg"));
  EXPECT_EQ(svg_texts(svg, "title"), std::vector<std::string>{"loss · " + run});
  auto desc = svg_texts(svg, "desc");
  ASSERT_EQ(desc.size(), 1u);
  for (const char* want : {"x: step", "train loss (raw)", "train loss (EMA 0.6)", "val loss"})
    EXPECT_NE(desc[0].find(want), std::string::npos) << want << " in " << desc[0];
  EXPECT_EQ(desc[0].find("test loss"), std::string::npos);  // no test_loss in the metrics
  EXPECT_GT(count_of(svg, "<path"), 10u) << "Cairo drew lines and glyphs";
}

TEST(plot, vietnamese_title_is_carried_unchanged_in_svg_and_pdf) {
  ScratchDir d("plot_title");
  d.write("metrics.jsonl", synthetic_metrics());
  PlotOptions o;
  o.title = "Huấn luyện mô hình tiếng Việt: đường cong mất mát";
  o.formats = {ChartFormat::svg, ChartFormat::pdf, ChartFormat::png};
  auto files = write_run_charts(d.path.string(), o);
  EXPECT_EQ(files.size(), 9u);
  std::string svg = read_file(d.file("loss.svg"));
  EXPECT_EQ(svg_texts(svg, "title"), std::vector<std::string>{"loss · " + o.title});
  EXPECT_EQ(svg_texts(read_file(d.file("lr.svg")), "title"),
            std::vector<std::string>{"learning rate · " + o.title});
  EXPECT_EQ(read_file(d.file("loss.pdf")).substr(0, 5), "%PDF-");
  EXPECT_GT(read_png(d.file("loss.png")).count(kBlue), 300);
}

TEST(plot, log_scale_skips_non_positive_points) {
  Chart c{"log", "step", "loss", {{"a", {0, 1, 2, 3, 4}, {10, 0, 1, -1, 0.1}}}, true};
  ScratchDir d("plot_log");
  write_chart(c, d.file("log"), PlotOptions{});
  Png png = read_png(d.file("log.png"));
  EXPECT_GT(png.count(kBlue), 20);
  c.series[0].y = {0, -1, 0, 0, 0};
  EXPECT_THROW(render_chart(c, ChartFormat::png), Error);
  c.log_y = false;
  EXPECT_NO_THROW(render_chart(c, ChartFormat::png));
}

TEST(plot, chart_without_its_keys_is_skipped) {
  ScratchDir d("plot_skip");
  d.write("metrics.jsonl", "{\"step\": 0, \"loss\": 3}\n{\"step\": 5, \"loss\": 2}\n");
  auto files = write_run_charts(d.path.string());
  EXPECT_EQ(files.size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(d.file("lr.svg")));
  EXPECT_THROW(parse_chart_format("gif"), Error);
}

TEST(plot, comparison_of_runs) {
  ScratchDir d("plot_compare");
  std::filesystem::create_directories(d.path / "all");
  std::filesystem::create_directories(d.path / "final");
  d.write("all/metrics.jsonl", synthetic_metrics());
  d.write("final/metrics.jsonl",
          "{\"step\": 0, \"loss\": 4.5, \"val_loss\": 4.5}\n{\"step\": 100, \"loss\": 3.2}\n"
          "{\"step\": 200, \"loss\": 2.9, \"val_loss\": 2.6}\n");
  PlotOptions o;
  o.log_loss = true;
  auto files = write_comparison_chart(
      d.file("cmp"), {{d.file("all"), "mọi token"}, {d.file("final"), "token cuối"}}, "loss", o);
  EXPECT_EQ(files, (std::vector<std::string>{d.file("cmp.png"), d.file("cmp.svg")}));
  std::string svg = read_file(d.file("cmp.svg"));
  EXPECT_EQ(svg_texts(svg, "title"), std::vector<std::string>{"loss"});
  auto desc = svg_texts(svg, "desc");
  ASSERT_EQ(desc.size(), 1u);
  EXPECT_NE(desc[0].find("lines: mọi token, token cuối"), std::string::npos) << desc[0];
  EXPECT_NE(desc[0].find("y: loss (log scale)"), std::string::npos) << desc[0];
  Png png = read_png(d.file("cmp.png"));
  EXPECT_GT(png.count(kBlue), 100);
  EXPECT_GT(png.count(kVermillion), 100);
  std::filesystem::create_directories(d.path / "none");
  d.write("none/metrics.jsonl", "{\"step\": 1, \"loss\": 2}\n");
  EXPECT_THROW(write_comparison_chart(d.file("x"), {{d.file("none"), "n"}}, "val_loss"), Error);
}
