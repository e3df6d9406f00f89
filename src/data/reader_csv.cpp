// CSV per RFC 4180: fields separated by ',', records by CRLF or LF; a quoted field may hold
// commas, newlines and "" for a quote. Streamed through a fixed buffer.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "data/readers.h"

namespace aero {

namespace {

class CsvParser {
 public:
  explicit CsvParser(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb")) {
    AERO_CHECK(f_, "[data] cannot open ", path, ": ", std::strerror(errno));
  }
  ~CsvParser() { std::fclose(f_); }

  // Next record into fields; false at the end of the file.
  bool next(std::vector<std::string>& fields, uint64_t& start_line) {
    fields.clear();
    int c = get();
    if (c == EOF) return false;
    start_line = line_;
    std::string field;
    while (true) {
      if (c == '"' && field.empty()) {
        const uint64_t quote_line = line_;
        while (true) {
          c = get();
          AERO_CHECK(c != EOF, "[data] ", path_, ":", quote_line,
                     ": unterminated quote (a field opened with \" never closes)");
          if (c == '"') {
            c = get();
            if (c != '"') break;  // closing quote; "" is a literal quote
          }
          field += static_cast<char>(c);
        }
        AERO_CHECK(c == ',' || c == '\n' || c == '\r' || c == EOF, "[data] ", path_, ":", line_,
                   ": unexpected character after a closing quote");
      } else {
        while (c != ',' && c != '\n' && c != '\r' && c != EOF) {
          AERO_CHECK(c != '"', "[data] ", path_, ":", line_,
                     ": stray quote inside an unquoted field (quote the field and double the \")");
          field += static_cast<char>(c);
          c = get();
        }
      }
      check_utf8(field, path_, start_line);
      fields.push_back(std::move(field));
      field.clear();
      if (c == ',') {
        c = get();
        continue;
      }
      if (c == '\r') {
        c = get();
        if (c != '\n' && c != EOF) unget();
      }
      return true;
    }
  }

  uint64_t bytes() const { return bytes_; }

 private:
  int get() {
    if (pos_ == len_) {
      len_ = std::fread(buf_.get(), 1, kBuf, f_);
      pos_ = 0;
      AERO_CHECK(!std::ferror(f_), "[data] read error on ", path_);
      if (len_ == 0) return EOF;
    }
    const int c = static_cast<unsigned char>(buf_[pos_++]);
    ++bytes_;
    if (c == '\n') ++line_;
    return c;
  }
  // Only ever after a successful get(), so the byte is still in the buffer.
  void unget() {
    --pos_;
    --bytes_;
    if (buf_[pos_] == '\n') --line_;
  }

  static constexpr size_t kBuf = 1 << 16;
  std::string path_;
  std::FILE* f_;
  std::unique_ptr<char[]> buf_{new char[kBuf]};
  size_t pos_ = 0, len_ = 0;
  uint64_t line_ = 1, bytes_ = 0;
};

}  // namespace

void read_csv(const std::string& path, const std::vector<std::string>& columns, const CsvRowFn& fn,
              ReadStats& stats) {
  CsvParser p(path);
  std::vector<std::string> fields;
  uint64_t line = 0;
  AERO_CHECK(p.next(fields, line), "[data] ", path, ": empty file, expected a header row");
  if (!fields.empty() && fields[0].starts_with("\xEF\xBB\xBF")) fields[0].erase(0, 3);  // BOM
  std::vector<size_t> index;
  for (const auto& col : columns) {
    size_t i = 0;
    while (i < fields.size() && fields[i] != col) ++i;
    if (i == fields.size()) {
      std::string have;
      for (const auto& f : fields) have += (have.empty() ? "'" : ", '") + f + "'";
      fail("[data] ", path, ":1: no column '", col, "' in the header (it has ", have,
           "; name the columns with --columns, --input-column / --target-column or "
           "data.input_column / data.target_column)");
    }
    index.push_back(i);
  }
  while (p.next(fields, line)) {
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    CsvRow row;
    row.line = line;
    bool missing = false;
    for (size_t i : index) {
      if (i >= fields.size() || fields[i].empty()) {
        missing = true;
        break;
      }
      row.fields.push_back(std::move(fields[i]));
    }
    if (missing) {
      ++stats.missing_field;
      continue;
    }
    ++stats.documents;
    fn(std::move(row));
  }
  stats.bytes += p.bytes();
}

void read_csv_documents(const std::string& path, const std::vector<std::string>& columns,
                        const DocumentFn& fn, ReadStats& stats) {
  read_csv(
      path, columns,
      [&](CsvRow&& row) {
        Document doc{"", cat(path, ":", row.line)};
        for (const auto& f : row.fields) {
          if (!doc.text.empty()) doc.text += '\n';
          doc.text += f;
        }
        fn(std::move(doc));
      },
      stats);
}

}  // namespace aero
