#include "train/plot.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"

namespace aero {

std::vector<MetricsRow> read_metrics(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  AERO_CHECK(in, "[plot] cannot open ", path, " (a run directory holds metrics.jsonl)");
  std::vector<MetricsRow> rows;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); n++) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto where = [&] { return cat("[plot] ", path, ":", n, ": "); };
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    AERO_CHECK(!j.is_discarded(), where(), "not valid JSON");
    AERO_CHECK(j.is_object(), where(), "expected a JSON object, got ", j.type_name());
    auto step = j.find("step");
    AERO_CHECK(step != j.end() && step->is_number_integer(), where(),
               "\"step\" is missing or not an integer");
    MetricsRow row;
    row.step = step->get<int64_t>();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "step" || it->is_null()) continue;
      AERO_CHECK(it->is_number(), where(), "\"", it.key(), "\" is not a number");
      row.values[it.key()] = it->get<double>();
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Series metric_series(const std::vector<MetricsRow>& rows, const std::string& key,
                     const std::string& label) {
  Series s{label, {}, {}};
  for (const MetricsRow& r : rows) {
    auto it = r.values.find(key);
    if (it == r.values.end()) continue;
    s.x.push_back(double(r.step));
    s.y.push_back(it->second);
  }
  return s;
}

ChartFormat parse_chart_format(const std::string& name) {
  if (name == "png") return ChartFormat::png;
  if (name == "svg") return ChartFormat::svg;
  if (name == "pdf") return ChartFormat::pdf;
  fail("[plot] unknown chart format '", name, "' (png, svg or pdf)");
}

const char* chart_extension(ChartFormat f) {
  switch (f) {
    case ChartFormat::png:
      return "png";
    case ChartFormat::svg:
      return "svg";
    case ChartFormat::pdf:
      return "pdf";
  }
  return "png";
}

std::vector<double> ema_smooth(const std::vector<double>& y, double weight) {
  AERO_CHECK(weight >= 0 && weight < 1, "[plot] smoothing ", weight, " is outside [0, 1)");
  std::vector<double> out(y.size());
  double last = 0, debias = 1;
  for (size_t i = 0; i < y.size(); i++) {
    if (!std::isfinite(y[i])) {
      out[i] = y[i];
      continue;
    }
    last = last * weight + (1 - weight) * y[i];
    debias *= weight;
    out[i] = last / (1 - debias);
  }
  return out;
}

namespace {

// 1, 2 or 5 times a power of ten nearest x: 0.00024 -> 0.0002, 2600 -> 2000, 3200 -> 5000.
double nice_number(double x) {
  double e = std::floor(std::log10(x)), f = x / std::pow(10.0, e);
  double n = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return n * std::pow(10.0, e);
}

std::vector<double> linear_ticks(double lo, double hi) {
  double step = nice_number((hi - lo) / 5);
  std::vector<double> t;
  double first = std::floor(lo / step + 1e-9) * step, last = std::ceil(hi / step - 1e-9) * step;
  for (int64_t i = 0; first + double(i) * step <= last + step * 1e-6; i++) {
    double v = first + double(i) * step;
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  return t;
}

// m * 10^k for every k and every m in `mults` inside [lo, hi].
std::vector<double> decade_ticks(double lo, double hi, const std::vector<int>& mults) {
  std::vector<double> t;
  for (int k = int(std::floor(std::log10(lo))) - 1; k <= int(std::ceil(std::log10(hi))); k++)
    for (int m : mults) {
      double v = m * std::pow(10.0, k);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
    }
  return t;
}

}  // namespace

std::vector<double> chart_ticks(double lo, double hi, bool log) {
  AERO_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "[plot] no axis for [", lo, ", ",
             hi, "]");
  if (!log) return linear_ticks(lo, hi);
  AERO_CHECK(lo > 0, "[plot] a log axis needs positive values, got ", lo);
  std::vector<double> t = decade_ticks(lo, hi, {1});
  if (t.size() > 8) {  // many decades: every second or third one
    size_t every = (t.size() + 7) / 8;
    std::vector<double> thin;
    for (size_t i = 0; i < t.size(); i += every) thin.push_back(t[i]);
    return thin;
  }
  if (t.size() >= 3) return t;
  t = decade_ticks(lo, hi, {1, 2, 5});
  if (t.size() >= 3) return t;
  t = decade_ticks(lo, hi, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  if (t.size() >= 3) return t;
  // Less than a factor of ~3: linear steps inside the range.
  t.clear();
  for (double v : linear_ticks(lo, hi))
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
  return t;
}

namespace {

struct Rgb {
  uint8_t r, g, b;
};
// Okabe and Ito's palette, told apart under every common colour-vision deficiency; yellow is
// last because it is faint on white.
const Rgb kPalette[] = {{0x00, 0x72, 0xB2}, {0xD5, 0x5E, 0x00}, {0x00, 0x9E, 0x73},
                        {0xCC, 0x79, 0xA7}, {0xE6, 0x9F, 0x00}, {0x56, 0xB4, 0xE9},
                        {0x00, 0x00, 0x00}, {0xF0, 0xE4, 0x42}};
constexpr const char* kFont = "DejaVu Sans";  // covers Vietnamese; fontconfig picks a fallback
constexpr size_t kMarkersBelow = 60;          // series this sparse (val loss) get a dot per point

void set_color(cairo_t* cr, Rgb c, double alpha = 1) {
  cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha);
}

Rgb series_color(const Series& s, size_t i) {
  size_t k = s.color >= 0 ? size_t(s.color) : i;
  return kPalette[k % std::size(kPalette)];
}

// Text as Cairo draws it: NFC, so "e" + combining marks becomes one precomposed glyph of the
// font, and invalid UTF-8 becomes U+FFFD instead of putting the Cairo context in an error state.
std::string display_text(const std::string& s) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
  if (U_SUCCESS(err)) {
    icu::UnicodeString n = nfc->normalize(u, err);
    if (U_SUCCESS(err)) u = n;
  }
  std::string out;
  return u.toUTF8String(out);
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  int decimals = 0;

  double frac(double v) const {
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
               : (v - lo) / (hi - lo);
  }
  bool valid(double v) const { return std::isfinite(v) && (!log || v > 0); }

  std::string label(double v) const {
    char buf[64];
    if (log || std::max(std::fabs(lo), std::fabs(hi)) >= 1e6 || (decimals > 4 && v != 0))
      std::snprintf(buf, sizeof buf, "%g", v);
    else
      std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
  }
};

Axis make_axis(double lo, double hi, bool log) {
  Axis a;
  a.log = log;
  if (log) {
    // 4% of the decades as margin, so the extreme points do not touch the frame.
    double l0 = std::log10(lo), l1 = std::log10(hi), pad = std::max((l1 - l0) * 0.04, 0.02);
    a.lo = std::pow(10.0, l0 - pad);
    a.hi = std::pow(10.0, l1 + pad);
    a.ticks = chart_ticks(a.lo, a.hi, true);
  } else {
    if (!(hi > lo)) {
      double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
      lo -= pad, hi += pad;
    }
    a.ticks = chart_ticks(lo, hi, false);
    a.lo = a.ticks.front();
    a.hi = a.ticks.back();
    double step = a.ticks.size() > 1 ? a.ticks[1] - a.ticks[0] : 1;
    a.decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  }
  return a;
}

double text_width(cairo_t* cr, const std::string& s, double size) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Text with its baseline starting at x (align 0), centred on x (0.5) or ending at x (1).
void draw_text(cairo_t* cr, const std::string& s, double x, double y, double size,
               double align = 0) {
  double w = text_width(cr, s, size);
  cairo_move_to(cr, x - w * align, y);
  cairo_show_text(cr, s.c_str());
}

struct Plot {
  double left, top, right, bottom;
  Axis x, y;
  double px(double v) const { return left + x.frac(v) * (right - left); }
  double py(double v) const { return bottom - y.frac(v) * (bottom - top); }
};

Plot make_plot(cairo_t* cr, const Chart& chart, const std::vector<Series>& series, int width,
               int height) {
  double inf = std::numeric_limits<double>::infinity();
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); i++) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (chart.log_y && s.y[i] <= 0))
        continue;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  AERO_CHECK(xlo <= xhi, "[plot] chart '", chart.title, "' has no ",
             chart.log_y ? "positive finite" : "finite", " points");
  Plot p;
  p.x = make_axis(xlo, xhi, false);
  if (chart.log_y && ylo == yhi) ylo /= 1.5, yhi *= 1.5;
  p.y = make_axis(ylo, yhi, chart.log_y);
  double widest = 0;
  for (double t : p.y.ticks) widest = std::max(widest, text_width(cr, p.y.label(t), 12));
  p.left = 14 + 15 + 10 + widest + 8;  // margin, rotated y label, gap, tick labels, tick
  p.top = 52;
  p.right = width - 16 - text_width(cr, p.x.label(p.x.hi), 12) / 2;
  p.bottom = height - 58;
  return p;
}

// Whole-pixel lines land on pixel centres, so 1-pixel grid lines stay sharp in the PNG.
double crisp(double v) { return std::floor(v) + 0.5; }

void draw_chart(cairo_t* cr, const Chart& in, int width, int height) {
  Chart chart = in;
  chart.title = display_text(chart.title);
  chart.x_label = display_text(chart.x_label);
  chart.y_label = display_text(chart.y_label);
  for (Series& s : chart.series) s.label = display_text(s.label);

  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  Plot p = make_plot(cr, chart, chart.series, width, height);

  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  // Grid, ticks and tick labels.
  const Rgb grid{225, 225, 225}, ink{40, 40, 40};
  cairo_set_line_width(cr, 1);
  for (double t : p.x.ticks) {
    double x = crisp(p.px(t));
    set_color(cr, grid);
    cairo_move_to(cr, x, p.top);
    cairo_line_to(cr, x, p.bottom);
    cairo_stroke(cr);
    set_color(cr, ink);
    cairo_move_to(cr, x, p.bottom);
    cairo_line_to(cr, x, p.bottom + 5);
    cairo_stroke(cr);
    draw_text(cr, p.x.label(t), x, p.bottom + 20, 12, 0.5);
  }
  for (double t : p.y.ticks) {
    double y = crisp(p.py(t));
    set_color(cr, grid);
    cairo_move_to(cr, p.left, y);
    cairo_line_to(cr, p.right, y);
    cairo_stroke(cr);
    set_color(cr, ink);
    cairo_move_to(cr, p.left - 5, y);
    cairo_line_to(cr, p.left, y);
    cairo_stroke(cr);
    draw_text(cr, p.y.label(t), p.left - 8, y + 4, 12, 1);
  }
  cairo_rectangle(cr, crisp(p.left), crisp(p.top), std::round(p.right - p.left),
                  std::round(p.bottom - p.top));
  cairo_stroke(cr);

  // Title, axis labels (the y label reads bottom to top).
  draw_text(cr, chart.title, width / 2.0, 30, 17, 0.5);
  draw_text(cr, chart.x_label, (p.left + p.right) / 2, height - 16, 14, 0.5);
  cairo_save(cr);
  cairo_translate(cr, 26, (p.top + p.bottom) / 2);
  cairo_rotate(cr, -M_PI / 2);
  draw_text(cr, chart.y_label, 0, 0, 14, 0.5);
  cairo_restore(cr);

  // Series, clipped to the frame; a point off the axis (non-finite, <= 0 on a log axis) breaks
  // the line.
  cairo_save(cr);
  cairo_rectangle(cr, p.left, p.top, p.right - p.left, p.bottom - p.top);
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  for (size_t i = 0; i < chart.series.size(); i++) {
    const Series& s = chart.series[i];
    Rgb c = series_color(s, i);
    size_t n = std::min(s.x.size(), s.y.size()), shown = 0;
    bool pen = false;
    for (size_t k = 0; k < n; k++) {
      if (!std::isfinite(s.x[k]) || !p.y.valid(s.y[k])) {
        pen = false;
        continue;
      }
      (pen ? cairo_line_to : cairo_move_to)(cr, p.px(s.x[k]), p.py(s.y[k]));
      pen = true;
      shown++;
    }
    set_color(cr, c, s.faint ? 0.3 : 1);
    cairo_set_line_width(cr, s.faint ? 1.2 : 2);
    cairo_stroke(cr);
    if (s.faint || shown >= kMarkersBelow) continue;
    for (size_t k = 0; k < n; k++) {
      if (!std::isfinite(s.x[k]) || !p.y.valid(s.y[k])) continue;
      cairo_new_sub_path(cr);
      cairo_arc(cr, p.px(s.x[k]), p.py(s.y[k]), 3, 0, 2 * M_PI);
    }
    cairo_fill(cr);
  }
  cairo_restore(cr);

  // Legend at the top right inside the frame; series without a label are left out of it.
  std::vector<size_t> listed;
  double widest = 0;
  for (size_t i = 0; i < chart.series.size(); i++)
    if (!chart.series[i].label.empty()) {
      listed.push_back(i);
      widest = std::max(widest, text_width(cr, chart.series[i].label, 12));
    }
  if (listed.empty()) return;
  const double row = 19, lw = 44 + widest, lh = 8 + row * double(listed.size());
  const double lx = crisp(p.right - 10 - lw), ly = crisp(p.top + 10);
  cairo_rectangle(cr, lx, ly, std::round(lw), std::round(lh));
  cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
  cairo_fill_preserve(cr);
  set_color(cr, {160, 160, 160});
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t r = 0; r < listed.size(); r++) {
    const Series& s = chart.series[listed[r]];
    double y = ly + 4 + row * (double(r) + 0.5);
    set_color(cr, series_color(s, listed[r]), s.faint ? 0.3 : 1);
    cairo_set_line_width(cr, s.faint ? 1.2 : 2);
    cairo_move_to(cr, lx + 8, y);
    cairo_line_to(cr, lx + 34, y);
    cairo_stroke(cr);
    set_color(cr, ink);
    draw_text(cr, s.label, lx + 40, y + 4.5, 12);
  }
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int n) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), n);
  return CAIRO_STATUS_SUCCESS;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// Cairo's SVG surface draws text as glyph outlines, so the words of a chart would be lost to
// search, screen readers and tests; the title and a description (axes, legend) go in as SVG's
// own <title> and <desc> text.
std::string add_svg_text(const std::string& svg, const Chart& chart) {
  size_t open = svg.find("<svg");
  size_t end = open == std::string::npos ? open : svg.find('>', open);
  AERO_CHECK(end != std::string::npos, "[plot] Cairo wrote no <svg> element");
  std::string desc = cat("x: ", chart.x_label, "; y: ", chart.y_label);
  std::string lines;
  for (const Series& s : chart.series)
    if (!s.label.empty()) lines += (lines.empty() ? "" : ", ") + s.label;
  if (!lines.empty()) desc += "; lines: " + lines;
  return cat(svg.substr(0, end + 1), "\n<title>", xml_escape(display_text(chart.title)),
             "</title>\n<desc>", xml_escape(display_text(desc)), "</desc>", svg.substr(end + 1));
}

struct SurfaceFree {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};

}  // namespace

std::string render_chart(const Chart& chart, ChartFormat format, int width, int height) {
  AERO_CHECK(width >= 200 && height >= 150 && width <= 16384 && height <= 16384, "[plot] chart of ",
             width, "x", height, " is outside 200x150 .. 16384x16384");
  std::string out;
  std::unique_ptr<cairo_surface_t, SurfaceFree> surface;
  switch (format) {
    case ChartFormat::png:
      surface.reset(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height));
      break;
    case ChartFormat::svg:
      surface.reset(cairo_svg_surface_create_for_stream(append_bytes, &out, width, height));
      cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PX);
      break;
    case ChartFormat::pdf:
      surface.reset(cairo_pdf_surface_create_for_stream(append_bytes, &out, width, height));
      cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_TITLE,
                                     display_text(chart.title).c_str());
      cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_CREATOR, "aero");
      break;
  }
  cairo_t* cr = cairo_create(surface.get());
  try {
    draw_chart(cr, chart, width, height);
  } catch (...) {
    cairo_destroy(cr);
    throw;
  }
  cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  AERO_CHECK(st == CAIRO_STATUS_SUCCESS, "[plot] Cairo could not draw '", chart.title,
             "': ", cairo_status_to_string(st));
  if (format == ChartFormat::png)
    st = cairo_surface_write_to_png_stream(surface.get(), append_bytes, &out);
  cairo_surface_finish(surface.get());
  if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surface.get());
  AERO_CHECK(st == CAIRO_STATUS_SUCCESS, "[plot] Cairo could not write the ",
             chart_extension(format), " of '", chart.title, "': ", cairo_status_to_string(st));
  return format == ChartFormat::svg ? add_svg_text(out, chart) : out;
}

std::vector<std::string> write_chart(const Chart& chart, const std::string& prefix,
                                     const PlotOptions& opts) {
  AERO_CHECK(!opts.formats.empty(), "[plot] no chart format chosen");
  // Render everything before writing anything, so an error leaves no half-updated set.
  std::vector<std::pair<std::string, std::string>> files;
  for (ChartFormat f : opts.formats)
    files.emplace_back(cat(prefix, ".", chart_extension(f)),
                       render_chart(chart, f, opts.width, opts.height));
  std::vector<std::string> written;
  for (const auto& [path, bytes] : files) {
    write_file_atomic(path, bytes);
    written.push_back(path);
  }
  return written;
}

namespace {

bool has_points(const Chart& c) {
  for (const Series& s : c.series)
    if (!s.x.empty()) return true;
  return false;
}

// A loss line as raw (faint) + smoothed, or as it is when there is nothing to smooth.
void add_loss_series(Chart& c, Series raw, int color, double smoothing,
                     const std::string& raw_label, const std::string& smooth_label) {
  raw.color = color;
  if (smoothing <= 0 || raw.y.size() < 2) {
    c.series.push_back(std::move(raw));
    return;
  }
  Series smooth = raw;
  smooth.y = ema_smooth(raw.y, smoothing);
  smooth.label = smooth_label;
  raw.label = raw_label;
  raw.faint = true;
  c.series.push_back(std::move(raw));
  c.series.push_back(std::move(smooth));
}

std::string run_name(const std::string& run_dir) {
  // "runs/a/" -> "a"
  std::filesystem::path dir = std::filesystem::path(run_dir).lexically_normal();
  return (dir.has_filename() ? dir : dir.parent_path()).filename().string();
}

}  // namespace

std::vector<std::string> write_run_charts(const std::string& run_dir, const PlotOptions& opts) {
  auto rows = read_metrics((std::filesystem::path(run_dir) / "metrics.jsonl").string());
  const std::string run = opts.title.empty() ? run_name(run_dir) : opts.title;
  std::vector<std::string> written;
  auto emit = [&](Chart& c, const char* file) {
    if (!has_points(c)) return;
    std::string prefix = (std::filesystem::path(run_dir) / file).string();
    for (std::string& f : write_chart(c, prefix, opts)) written.push_back(std::move(f));
  };

  Chart loss{cat("loss · ", run),
             "step",
             opts.log_loss ? "cross-entropy (nats, log scale)" : "cross-entropy (nats)",
             {},
             opts.log_loss};
  Series train = metric_series(rows, "loss", "train loss");
  if (!train.x.empty())
    add_loss_series(loss, std::move(train), 0, opts.smoothing, "train loss (raw)",
                    cat("train loss (EMA ", opts.smoothing, ")"));
  int color = 1;
  for (auto [key, label] : {std::pair{"val_loss", "val loss"}, {"test_loss", "test loss"}}) {
    Series s = metric_series(rows, key, label);
    s.color = color++;
    if (!s.x.empty()) loss.series.push_back(std::move(s));
  }
  emit(loss, "loss");

  Chart lr{cat("learning rate · ", run), "step", "lr", {metric_series(rows, "lr", "lr")}};
  emit(lr, "lr");
  Chart gn{cat("gradient norm · ", run),
           "step",
           "grad norm",
           {metric_series(rows, "grad_norm", "grad norm")}};
  emit(gn, "grad_norm");
  return written;
}

std::vector<std::string> write_comparison_chart(const std::string& out_prefix,
                                                const std::vector<RunRef>& runs,
                                                const std::string& key, const PlotOptions& opts) {
  AERO_CHECK(!runs.empty(), "[plot] a comparison needs at least one run");
  const bool is_loss = key.find("loss") != std::string::npos;
  const bool log = opts.log_loss && is_loss;
  Chart c{opts.title.empty() ? key : opts.title, "step", log ? key + " (log scale)" : key, {}, log};
  for (size_t i = 0; i < runs.size(); i++) {
    std::string path = (std::filesystem::path(runs[i].run_dir) / "metrics.jsonl").string();
    Series s = metric_series(read_metrics(path), key, runs[i].label);
    AERO_CHECK(!s.x.empty(), "[plot] ", path, " has no \"", key, "\" values to compare");
    // Only the train loss is noisy enough to smooth; val loss is already an average.
    add_loss_series(c, std::move(s), int(i), key == "loss" ? opts.smoothing : 0, "", runs[i].label);
  }
  return write_chart(c, out_prefix, opts);
}

}  // namespace aero
