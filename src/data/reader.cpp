#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/readers.h"
#include "tokenizer/utf8.h"

namespace aero {

void check_utf8(std::string_view s, const std::string& path, uint64_t line) {
  const size_t bad = utf8_invalid_offset(s);
  AERO_CHECK(bad == std::string_view::npos, "[data] ", path, ":", line, ": invalid UTF-8 at byte ",
             bad + 1, " of the line; convert the file to UTF-8 (iconv -f ... -t UTF-8)");
}

void check_utf8_text(std::string_view s, const std::string& path) {
  const size_t bad = utf8_invalid_offset(s);
  if (bad == std::string_view::npos) return;
  const uint64_t line = 1 + static_cast<uint64_t>(std::count(s.begin(), s.begin() + bad, '\n'));
  fail("[data] ", path, ":", line, ": invalid UTF-8 at byte offset ", bad,
       "; convert the file to UTF-8 (iconv -f ... -t UTF-8)");
}

std::string detect_format(const std::string& path) {
  std::string p = path;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto ends = [&](const char* s) { return p.ends_with(s); };
  if (ends(".txt") || ends(".text")) return "text";
  if (ends(".jsonl") || ends(".ndjson")) return "jsonl";
  if (ends(".csv")) return "csv";
  if (ends(".xml") || ends(".xml.bz2")) return "wiki";
  if (ends(".html") || ends(".htm") || ends(".xhtml")) return "html";
  // Man pages: a section number (1-9, maybe with a suffix: "3pm") as the last extension, or
  // before ".gz".
  std::string_view stem = p;
  if (stem.ends_with(".gz")) stem.remove_suffix(3);
  const size_t dot = stem.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < stem.size() && stem[dot + 1] >= '1' &&
      stem[dot + 1] <= '9' && stem.size() - dot <= 5 &&
      std::all_of(stem.begin() + dot + 2, stem.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
    return "man";
  return "";
}

namespace {

void read_file_as(const std::string& path, const std::string& format, const ReaderOptions& opt,
                  const DocumentFn& fn, ReadStats& stats) {
  ++stats.files;
  if (format == "text") return read_text(path, fn, stats);
  if (format == "jsonl") return read_jsonl(path, opt.jsonl_field, fn, stats);
  if (format == "csv") return read_csv_documents(path, opt.csv_columns, fn, stats);
  if (format == "wiki") return read_wiki_dump(path, fn, stats);
  if (format == "html") return read_html(path, fn, stats);
  if (format == "man") return read_man_page(path, fn, stats);
  fail("[data] unknown format '", format, "' for ", path,
       " (use --format text|jsonl|csv|wiki|html|man)");
}

}  // namespace

void read_documents(const std::string& path, const ReaderOptions& opt, const DocumentFn& fn,
                    ReadStats& stats) {
  namespace fs = std::filesystem;
  AERO_CHECK(fs::exists(path), "[data] no such file or directory: ", path);
  if (!fs::is_directory(path)) {
    const std::string format = opt.format == "auto" ? detect_format(path) : opt.format;
    AERO_CHECK(
        !format.empty(), "[data] ", path,
        ": unknown file type; name it .txt .jsonl .csv .xml .xml.bz2 .html .1.gz or pass --format");
    read_file_as(path, format, opt, fn, stats);
    return;
  }
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(path))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());  // reproducible order
  for (const auto& f : files) {
    const std::string format = opt.format == "auto" ? detect_format(f) : opt.format;
    if (format.empty()) {
      ++stats.skipped_files;
      continue;
    }
    read_file_as(f, format, opt, fn, stats);
  }
}

}  // namespace aero
