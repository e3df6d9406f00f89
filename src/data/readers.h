// Readers: plain text, JSON Lines, CSV, MediaWiki XML dumps (plain or .bz2), HTML; directories
// walked recursively. Each streams documents to a callback so memory stays flat on huge inputs.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace aero {

struct Document {
  std::string text;    // paragraphs separated by '\n'
  std::string source;  // "file:line" or "file" or "dump.xml.bz2:Title", for messages
};

struct ReaderOptions {
  std::string format = "auto";  // auto (by extension) | text | jsonl | csv | wiki | html | man
  std::string jsonl_field = "text";
  std::vector<std::string> csv_columns = {"input_text", "target_text"};
};

struct ReadStats {
  uint64_t files = 0, documents = 0, bytes = 0;
  uint64_t missing_field = 0;  // rows dropped: field absent, not a string, or empty
  uint64_t skipped_pages = 0;  // wiki redirects and non-article namespaces
  uint64_t skipped_files = 0;  // unknown extensions inside a directory
};

using DocumentFn = std::function<void(Document&&)>;

// Reads a file or a directory (recursively, in sorted order) and calls fn per document.
void read_documents(const std::string& path, const ReaderOptions& opt, const DocumentFn& fn,
                    ReadStats& stats);

// The format read_documents picks for a file name: "x.xml.bz2" -> "wiki", "ls.1.gz" -> "man",
// "" if unknown.
std::string detect_format(const std::string& path);

// One reader per format; a file's documents go to fn.
void read_text(const std::string& path, const DocumentFn& fn, ReadStats& stats);
void read_jsonl(const std::string& path, const std::string& field, const DocumentFn& fn,
                ReadStats& stats);
// Every non-blank line of a JSON Lines file, parsed, with its 1-based line number; counts bytes
// in stats; a line that is not JSON is an error naming the file and line.
void for_each_json_line(const std::string& path, ReadStats& stats,
                        const std::function<void(const nlohmann::json&, uint64_t line_no)>& fn);
void read_wiki_dump(const std::string& path, const DocumentFn& fn, ReadStats& stats);
void read_html(const std::string& path, const DocumentFn& fn, ReadStats& stats);
// A man page (roff, plain or gzip-compressed): one document of its running text.
void read_man_page(const std::string& path, const DocumentFn& fn, ReadStats& stats);

// The whole of a gzip file, or of a plain file (zlib reads those as they are).
std::string read_gzip(const std::string& path);

// roff to plain text: requests and comments dropped, font and character escapes resolved, the
// text of .SH/.SS/.B/.I/... kept; paragraphs separated by '\n'.
// ".SH TÊN\ntest \\- check\n.PP\n\\fBtest\\fP x" -> "TÊN\ntest - check\ntest x\n".
std::string roff_to_text(std::string_view roff);

// CSV (RFC 4180): a header row, then records; quoted fields may hold commas, "" and newlines.
struct CsvRow {
  std::vector<std::string> fields;  // in the order of the requested columns
  uint64_t line = 0;                // where the record starts, 1-based
};
using CsvRowFn = std::function<void(CsvRow&&)>;
void read_csv(const std::string& path, const std::vector<std::string>& columns, const CsvRowFn& fn,
              ReadStats& stats);
// CSV as documents: the requested fields joined by '\n'.
void read_csv_documents(const std::string& path, const std::vector<std::string>& columns,
                        const DocumentFn& fn, ReadStats& stats);

// (input, target) rows of a CSV (columns named in its header) or JSON Lines file (fields), by
// extension; rows with a field absent, not a string or empty are dropped and counted in
// stats.missing_field (the seed drops NaN rows the same way).
struct TextPair {
  std::string input, target;
};
using PairFn = std::function<void(TextPair&&)>;
void read_pairs(const std::string& path, const std::string& input, const std::string& target,
                const PairFn& fn, ReadStats& stats);

// Wiki markup to article text: templates, references, tables, files and categories dropped;
// links reduced to their label; headings, bold, italics and list markers to plain text.
std::string strip_wiki_markup(std::string_view wikitext);

// HTML to visible text, through libxml2's HTML parser: scripts, styles and the head dropped,
// block elements on their own lines.
// encoding: "UTF-8", or null to follow the page's declared charset.
std::string html_to_text(std::string_view html, const std::string& source,
                         const char* encoding = "UTF-8");

// Throws "[data] file:line: invalid UTF-8 at byte N" when s is not valid UTF-8.
void check_utf8(std::string_view s, const std::string& path, uint64_t line);
// The same for a whole file's text: "[data] page.html:7: invalid UTF-8 at byte offset 312".
void check_utf8_text(std::string_view s, const std::string& path);

}  // namespace aero
