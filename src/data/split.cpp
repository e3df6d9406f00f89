#include "data/split.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>

#include "core/error.h"
#include "io/atomic_file.h"

namespace aero {

std::vector<uint8_t> split_assignment(uint64_t n, const std::array<double, 3>& ratios,
                                      uint64_t seed) {
  const double total = ratios[0] + ratios[1] + ratios[2];
  AERO_CHECK(ratios[0] >= 0 && ratios[1] >= 0 && ratios[2] >= 0 && total > 0,
             "[data] split ratios must be non-negative and not all zero");
  const auto n_val =
      static_cast<uint64_t>(std::llround(static_cast<double>(n) * ratios[1] / total));
  const auto n_test = std::min(
      n - n_val, static_cast<uint64_t>(std::llround(static_cast<double>(n) * ratios[2] / total)));
  std::vector<uint8_t> a(n, 0);
  std::fill(a.begin(), a.begin() + static_cast<int64_t>(n_val), 1);
  std::fill(a.begin() + static_cast<int64_t>(n_val),
            a.begin() + static_cast<int64_t>(n_val + n_test), 2);
  // Fisher-Yates with mt19937_64 directly, so the order is the same with every standard library.
  std::mt19937_64 rng(seed);
  for (uint64_t i = n; i > 1; --i) std::swap(a[i - 1], a[rng() % i]);
  return a;
}

std::string csv_quote(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

SplitResult split_documents(const std::string& input, const std::string& out_dir,
                            const SplitOptions& opt) {
  const std::string format = opt.reader.format == "auto" ? detect_format(input) : opt.reader.format;
  const bool csv = format == "csv";
  std::filesystem::create_directories(out_dir);
  SplitResult res;
  const char* names[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; ++s)
    res.paths[s] =
        (std::filesystem::path(out_dir) / (std::string(names[s]) + (csv ? ".csv" : ".txt")))
            .string();

  uint64_t n = 0;
  ReadStats stats;
  if (csv)
    read_csv(
        input, opt.reader.csv_columns, [&](CsvRow&&) { ++n; }, stats);
  else
    read_documents(
        input, opt.reader, [&](Document&&) { ++n; }, stats);
  const auto assign = split_assignment(n, opt.ratios, opt.seed);

  std::array<std::unique_ptr<AtomicFile>, 3> out;
  for (int s = 0; s < 3; ++s) out[s] = std::make_unique<AtomicFile>(res.paths[s]);
  uint64_t i = 0;
  ReadStats again;
  if (csv) {
    std::string header;
    for (const auto& c : opt.reader.csv_columns) {
      if (!header.empty()) header += ',';
      header += csv_quote(c);
    }
    header += '\n';
    for (auto& f : out) f->write(header);
    read_csv(
        input, opt.reader.csv_columns,
        [&](CsvRow&& row) {
          const int s = assign[i++];
          std::string line;
          for (const auto& f : row.fields) {
            if (!line.empty()) line += ',';
            line += csv_quote(f);
          }
          line += '\n';
          out[s]->write(line);
          ++res.documents[s];
        },
        again);
  } else {
    read_documents(
        input, opt.reader,
        [&](Document&& doc) {
          const int s = assign[i++];
          if (res.documents[s]++) out[s]->write("\n");
          out[s]->write(doc.text + "\n");
        },
        again);
  }
  AERO_CHECK(i == n, "[data] ", input, " changed while it was being split");
  for (auto& f : out) f->commit();
  return res;
}

}  // namespace aero
