#include "train/plot.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
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

namespace {

struct Rgb {
  uint8_t r, g, b;
};
const Rgb kPalette[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
const Rgb kBlack{0, 0, 0}, kGrid{225, 225, 225}, kText{40, 40, 40};
constexpr size_t kMarkersBelow = 60;  // series this sparse (val loss) get a dot per point

Rgb color(size_t i) { return kPalette[i % std::size(kPalette)]; }

// 1, 2 or 5 times a power of ten nearest x: 0.00024 -> 0.0002, 2600 -> 2000, 3200 -> 5000.
double nice_number(double x) {
  double e = std::floor(std::log10(x)), f = x / std::pow(10.0, e);
  double n = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return n * std::pow(10.0, e);
}

struct Axis {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> ticks;
  int decimals = 0;

  std::string label(double v) const {
    char buf[64];
    if (std::fabs(v) < step * 1e-6) return "0";
    if (std::max(std::fabs(lo), std::fabs(hi)) >= 1e6 || (step < 1e-4 && v != 0))
      std::snprintf(buf, sizeof buf, "%.3g", v);
    else
      std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
  }
};

// Five to eight ticks at nice values covering [lo, hi]: [0.13, 4.2] -> 0, 1, 2, 3, 4, 5.
Axis make_axis(double lo, double hi) {
  if (!(hi > lo)) {
    double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  Axis a;
  a.step = nice_number((hi - lo) / 5);
  a.lo = std::floor(lo / a.step) * a.step;
  a.hi = std::ceil(hi / a.step) * a.step;
  for (double t = a.lo; t <= a.hi + a.step * 1e-9; t += a.step) a.ticks.push_back(t);
  a.decimals = std::max(0, int(-std::floor(std::log10(a.step) + 1e-9)));
  return a;
}

// Where everything goes, shared by the SVG and the PNG.
struct Layout {
  int width = 0, height = 0;
  double left = 80, top = 44, right = 0, bottom = 0;
  Axis x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * (right - left); }
  double py(double v) const { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - top); }
};

Layout make_layout(const Chart& chart, int width, int height) {
  AERO_CHECK(width >= 200 && height >= 150, "[plot] chart of ", width, "x", height,
             " is too small");
  double inf = std::numeric_limits<double>::infinity();
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf;
  for (const Series& s : chart.series)
    for (size_t i = 0; i < s.x.size(); i++) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  AERO_CHECK(xlo <= xhi, "[plot] chart '", chart.title, "' has no finite points");
  Layout l;
  l.width = width;
  l.height = height;
  l.x = make_axis(xlo, xhi);
  l.y = make_axis(ylo, yhi);
  // Room for the longest y tick label (12 px per character in the PNG font) and half of the
  // last x label on the right.
  size_t longest = 0;
  for (double t : l.y.ticks) longest = std::max(longest, l.y.label(t).size());
  l.left = 40.0 + 12.0 * double(longest);
  l.right = width - 12.0 - 6.0 * double(l.x.label(l.x.hi).size());
  l.bottom = height - 56.0;
  return l;
}

std::vector<std::pair<double, double>> finite_points(const Series& s, const Layout& l) {
  std::vector<std::pair<double, double>> p;
  for (size_t i = 0; i < s.x.size(); i++)
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) p.push_back({l.px(s.x[i]), l.py(s.y[i])});
  return p;
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

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

// 5x7 glyphs, one byte per row, bit 4 leftmost; lower case draws as upper case.
const uint8_t* glyph(char c) {
  static const std::map<char, std::array<uint8_t, 7>> font = {
      {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
      {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
      {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
      {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
      {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
      {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
      {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
      {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
      {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
      {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
      {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
      {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
      {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
      {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
      {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
      {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
      {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
      {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
      {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
      {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
      {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
      {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
      {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
      {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
      {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
      {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
      {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
      {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
      {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
      {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
      {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
      {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
      {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
      {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
      {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
      {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
      {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
      {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
      {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
      {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
      {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
      {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
      {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
      {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
      {' ', {0, 0, 0, 0, 0, 0, 0}},
      {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
  };
  char u = (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
  auto it = font.find(u);
  return (it != font.end() ? it : font.find('?'))->second.data();
}

// An RGB image with alpha-blended drawing.
class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), rgb_(size_t(w) * h * 3, 255) {}

  void blend(int x, int y, Rgb c, double a) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_ || a <= 0) return;
    a = std::min(a, 1.0);
    uint8_t* p = &rgb_[(size_t(y) * w_ + x) * 3];
    p[0] = uint8_t(std::lround(p[0] + (c.r - p[0]) * a));
    p[1] = uint8_t(std::lround(p[1] + (c.g - p[1]) * a));
    p[2] = uint8_t(std::lround(p[2] + (c.b - p[2]) * a));
  }

  // Anti-aliased line of the given width: coverage falls off with the distance to the segment,
  // walked along its longer axis.
  void line(double x0, double y0, double x1, double y1, double width, Rgb c) {
    double dx = x1 - x0, dy = y1 - y0, len = std::hypot(dx, dy);
    double reach = width / 2 + 1;
    if (len < 1e-9) return disc(x0, y0, width / 2, c);
    bool steep = std::fabs(dy) > std::fabs(dx);
    double a0 = steep ? y0 : x0, a1 = steep ? y1 : x1, da = steep ? dy : dx;
    double b0 = steep ? x0 : y0, db = steep ? dx : dy;
    double slope_scale = std::fabs(da) / len;  // minor-axis distance -> perpendicular distance
    int from = int(std::floor(std::min(a0, a1))), to = int(std::ceil(std::max(a0, a1)));
    for (int a = from; a <= to; a++) {
      double t = std::clamp((a - a0) / da, 0.0, 1.0);
      double b = b0 + t * db;
      for (int m = int(std::floor(b - reach)); m <= int(std::ceil(b + reach)); m++) {
        double d = std::fabs(m - b) * slope_scale;
        double cover = std::clamp(width / 2 + 0.5 - d, 0.0, 1.0);
        if (steep)
          blend(m, a, c, cover);
        else
          blend(a, m, c, cover);
      }
    }
  }

  void disc(double cx, double cy, double r, Rgb c) {
    for (int y = int(cy - r - 1); y <= int(cy + r + 1); y++)
      for (int x = int(cx - r - 1); x <= int(cx + r + 1); x++)
        blend(x, y, c, std::clamp(r + 0.5 - std::hypot(x - cx, y - cy), 0.0, 1.0));
  }

  void rect(int x0, int y0, int x1, int y1, Rgb c) {
    for (int y = y0; y <= y1; y++)
      for (int x = x0; x <= x1; x++) blend(x, y, c, 1);
  }

  // Text with its top-left corner at (x, y); `up` turns it 90 degrees counter-clockwise, so it
  // reads bottom to top starting at (x, y) as its bottom-left corner.
  void text(int x, int y, const std::string& s, int scale, Rgb c, bool up = false) {
    for (size_t i = 0; i < s.size(); i++) {
      const uint8_t* g = glyph(s[i]);
      int origin = int(i) * 6 * scale;
      for (int gy = 0; gy < 7; gy++)
        for (int gx = 0; gx < 5; gx++) {
          if (!(g[gy] & (0x10 >> gx))) continue;
          for (int sy = 0; sy < scale; sy++)
            for (int sx = 0; sx < scale; sx++) {
              int u = origin + gx * scale + sx, v = gy * scale + sy;
              if (up)
                blend(x + v, y - u, c, 1);
              else
                blend(x + u, y + v, c, 1);
            }
        }
    }
  }

  static int text_width(const std::string& s, int scale) {
    return s.empty() ? 0 : int(s.size()) * 6 * scale - scale;
  }

  std::vector<uint8_t> png() const;

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;
};

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
}

void put_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  put_u32(out, uint32_t(data.size()));
  size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  uLong crc = crc32(0L, out.data() + start, uInt(out.size() - start));
  put_u32(out, uint32_t(crc));
}

// PNG: 8-bit RGB, no interlace, filter 0 on every row, one zlib-compressed IDAT.
std::vector<uint8_t> Canvas::png() const {
  std::vector<uint8_t> raw;
  raw.reserve(size_t(h_) * (size_t(w_) * 3 + 1));
  for (int y = 0; y < h_; y++) {
    raw.push_back(0);
    raw.insert(raw.end(), rgb_.begin() + size_t(y) * w_ * 3, rgb_.begin() + size_t(y + 1) * w_ * 3);
  }
  uLongf packed_size = compressBound(uLong(raw.size()));
  std::vector<uint8_t> packed(packed_size);
  AERO_CHECK(compress2(packed.data(), &packed_size, raw.data(), uLong(raw.size()), 9) == Z_OK,
             "[plot] zlib could not compress the image");
  packed.resize(packed_size);
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put_u32(ihdr, uint32_t(w_));
  put_u32(ihdr, uint32_t(h_));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // bit depth, RGB, deflate, filter, no interlace
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", {});
  return out;
}

}  // namespace

std::string render_svg(const Chart& chart, int width, int height) {
  Layout l = make_layout(chart, width, height);
  std::string s;
  auto add = [&](const auto&... parts) { s += cat(parts...); };
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width, "\" height=\"", height,
      "\" viewBox=\"0 0 ", width, " ", height, "\" font-family=\"sans-serif\">\n");
  add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  add("<text x=\"", width / 2, "\" y=\"26\" text-anchor=\"middle\" font-size=\"17\">",
      xml_escape(chart.title), "</text>\n");
  for (double t : l.x.ticks) {
    double x = l.px(t);
    add("<line x1=\"", x, "\" y1=\"", l.top, "\" x2=\"", x, "\" y2=\"", l.bottom, "\" stroke=\"",
        hex(kGrid), "\"/>\n");
    add("<text x=\"", x, "\" y=\"", l.bottom + 18, "\" text-anchor=\"middle\" font-size=\"12\">",
        l.x.label(t), "</text>\n");
  }
  for (double t : l.y.ticks) {
    double y = l.py(t);
    add("<line x1=\"", l.left, "\" y1=\"", y, "\" x2=\"", l.right, "\" y2=\"", y, "\" stroke=\"",
        hex(kGrid), "\"/>\n");
    add("<text x=\"", l.left - 6, "\" y=\"", y + 4, "\" text-anchor=\"end\" font-size=\"12\">",
        l.y.label(t), "</text>\n");
  }
  add("<rect x=\"", l.left, "\" y=\"", l.top, "\" width=\"", l.right - l.left, "\" height=\"",
      l.bottom - l.top, "\" fill=\"none\" stroke=\"black\"/>\n");
  add("<text x=\"", (l.left + l.right) / 2, "\" y=\"", height - 14,
      "\" text-anchor=\"middle\" font-size=\"14\">", xml_escape(chart.x_label), "</text>\n");
  add("<text transform=\"translate(18 ", (l.top + l.bottom) / 2,
      ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">", xml_escape(chart.y_label),
      "</text>\n");
  for (size_t i = 0; i < chart.series.size(); i++) {
    auto pts = finite_points(chart.series[i], l);
    std::string c = hex(color(i));
    add("<polyline fill=\"none\" stroke=\"", c, "\" stroke-width=\"2\" points=\"");
    for (auto [x, y] : pts) add(x, ",", y, " ");
    add("\"/>\n");
    if (pts.size() < kMarkersBelow)
      for (auto [x, y] : pts)
        add("<circle cx=\"", x, "\" cy=\"", y, "\" r=\"3\" fill=\"", c, "\"/>\n");
  }
  // Legend, top right inside the plot.
  double lx = l.right - 12, ly = l.top + 10;
  size_t longest = 0;
  for (const Series& se : chart.series) longest = std::max(longest, se.label.size());
  double lw = 40 + 7.5 * double(longest);
  add("<rect x=\"", lx - lw, "\" y=\"", ly, "\" width=\"", lw, "\" height=\"",
      8 + 18 * chart.series.size(), "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999\"/>\n");
  for (size_t i = 0; i < chart.series.size(); i++) {
    double y = ly + 16 + 18 * double(i);
    add("<line x1=\"", lx - lw + 6, "\" y1=\"", y - 4, "\" x2=\"", lx - lw + 28, "\" y2=\"", y - 4,
        "\" stroke=\"", hex(color(i)), "\" stroke-width=\"2\"/>\n");
    add("<text x=\"", lx - lw + 34, "\" y=\"", y, "\" font-size=\"12\">",
        xml_escape(chart.series[i].label), "</text>\n");
  }
  add("</svg>\n");
  return s;
}

std::vector<uint8_t> render_png(const Chart& chart, int width, int height) {
  Layout l = make_layout(chart, width, height);
  Canvas cv(width, height);
  const int big = 2, small = 1;
  int L = int(l.left), T = int(l.top), R = int(l.right), B = int(l.bottom);
  for (double t : l.x.ticks) {
    int x = int(std::lround(l.px(t)));
    cv.rect(x, T, x, B, kGrid);
    cv.rect(x, B, x, B + 4, kBlack);
    std::string s = l.x.label(t);
    cv.text(x - Canvas::text_width(s, small + 1) / 2, B + 8, s, small + 1, kText);
  }
  for (double t : l.y.ticks) {
    int y = int(std::lround(l.py(t)));
    cv.rect(L, y, R, y, kGrid);
    cv.rect(L - 4, y, L, y, kBlack);
    std::string s = l.y.label(t);
    cv.text(L - 8 - Canvas::text_width(s, small + 1), y - 7, s, small + 1, kText);
  }
  cv.rect(L, T, R, T, kBlack);
  cv.rect(L, B, R, B, kBlack);
  cv.rect(L, T, L, B, kBlack);
  cv.rect(R, T, R, B, kBlack);
  cv.text(width / 2 - Canvas::text_width(chart.title, big) / 2, 12, chart.title, big, kText);
  cv.text((L + R) / 2 - Canvas::text_width(chart.x_label, big) / 2, height - 22, chart.x_label, big,
          kText);
  cv.text(6, (T + B) / 2 + Canvas::text_width(chart.y_label, big) / 2, chart.y_label, big, kText,
          /*up=*/true);
  for (size_t i = 0; i < chart.series.size(); i++) {
    auto pts = finite_points(chart.series[i], l);
    for (size_t k = 1; k < pts.size(); k++)
      cv.line(pts[k - 1].first, pts[k - 1].second, pts[k].first, pts[k].second, 2.0, color(i));
    if (pts.size() < kMarkersBelow || pts.size() == 1)
      for (auto [x, y] : pts) cv.disc(x, y, 3, color(i));
  }
  int longest = 0;
  for (const Series& se : chart.series)
    longest = std::max(longest, Canvas::text_width(se.label, 2));
  int lw = 44 + longest, lx = R - 12 - lw, ly = T + 10, lh = 8 + 20 * int(chart.series.size());
  cv.rect(lx, ly, lx + lw, ly + lh, {255, 255, 255});
  cv.rect(lx, ly, lx + lw, ly, {150, 150, 150});
  cv.rect(lx, ly + lh, lx + lw, ly + lh, {150, 150, 150});
  cv.rect(lx, ly, lx, ly + lh, {150, 150, 150});
  cv.rect(lx + lw, ly, lx + lw, ly + lh, {150, 150, 150});
  for (size_t i = 0; i < chart.series.size(); i++) {
    int y = ly + 6 + 20 * int(i);
    cv.line(lx + 6, y + 7, lx + 30, y + 7, 2.0, color(i));
    cv.text(lx + 36, y, chart.series[i].label, 2, kText);
  }
  return cv.png();
}

void write_chart(const Chart& chart, const std::string& prefix) {
  std::string svg = render_svg(chart);
  std::vector<uint8_t> png = render_png(chart);
  write_file_atomic(prefix + ".svg", svg);
  write_file_atomic(prefix + ".png",
                    std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

namespace {

bool has_points(const Chart& c) {
  for (const Series& s : c.series)
    if (!s.x.empty()) return true;
  return false;
}

}  // namespace

std::vector<std::string> write_run_charts(const std::string& run_dir) {
  auto rows = read_metrics((std::filesystem::path(run_dir) / "metrics.jsonl").string());
  // "runs/a/" -> "a": the run's name goes in the titles.
  std::filesystem::path dir = std::filesystem::path(run_dir).lexically_normal();
  std::string run = (dir.has_filename() ? dir : dir.parent_path()).filename().string();
  struct Spec {
    const char* file;
    const char* title;
    const char* y_label;
    std::vector<std::pair<const char*, const char*>> keys;  // key, legend label
  };
  const Spec specs[] = {
      {"loss",
       "loss",
       "cross-entropy (nats)",
       {{"loss", "train loss"}, {"val_loss", "val loss"}, {"test_loss", "test loss"}}},
      {"lr", "learning rate", "lr", {{"lr", "lr"}}},
      {"grad_norm", "gradient norm", "grad norm", {{"grad_norm", "grad norm"}}},
  };
  std::vector<std::string> written;
  for (const Spec& sp : specs) {
    Chart c{cat(sp.title, " - ", run), "step", sp.y_label, {}};
    for (auto [key, label] : sp.keys) {
      Series s = metric_series(rows, key, label);
      if (!s.x.empty()) c.series.push_back(std::move(s));
    }
    if (!has_points(c)) continue;
    std::string prefix = (std::filesystem::path(run_dir) / sp.file).string();
    write_chart(c, prefix);
    written.push_back(prefix + ".svg");
    written.push_back(prefix + ".png");
  }
  return written;
}

void write_comparison_chart(const std::string& out_prefix, const std::vector<RunRef>& runs,
                            const std::string& key) {
  AERO_CHECK(!runs.empty(), "[plot] a comparison needs at least one run");
  Chart c{key, "step", key, {}};
  for (const RunRef& r : runs) {
    std::string path = (std::filesystem::path(r.run_dir) / "metrics.jsonl").string();
    Series s = metric_series(read_metrics(path), key, r.label);
    AERO_CHECK(!s.x.empty(), "[plot] ", path, " has no \"", key, "\" values to compare");
    c.series.push_back(std::move(s));
  }
  write_chart(c, out_prefix);
}

}  // namespace aero
