// Man pages: roff source (plain or gzip-compressed, "ls.1.gz") to running text.
#include <zlib.h>

#include <algorithm>

#include "core/error.h"
#include "core/lines.h"
#include "data/readers.h"

namespace aero {

std::string read_gzip(const std::string& path) {
  gzFile f = ::gzopen(path.c_str(), "rb");
  AERO_CHECK(f, "[data] cannot open ", path);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = ::gzread(f, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  int err = Z_OK;
  ::gzerror(f, &err);  // a cut-off stream ends with n == 0 and Z_BUF_ERROR
  ::gzclose(f);
  AERO_CHECK(n == 0 && err == Z_OK, "[data] ", path, ": corrupt or truncated gzip data");
  return out;
}

std::string roff_to_text(std::string_view roff) {
  std::string out, para;
  const auto flush = [&] {
    if (!para.empty()) out += para + "\n";
    para.clear();
  };
  const auto add_text = [&](std::string_view t) {
    std::string s;
    for (size_t i = 0; i < t.size(); i++) {
      if (t[i] != '\\' || i + 1 == t.size()) {
        if (t[i] != '"') s += t[i];
        continue;
      }
      const char e = t[++i];
      if (e == 'f') {  // \fB \fI \fR \fP \f(CW \f[B]
        if (i + 1 < t.size() && t[i + 1] == '(')
          i += 3;
        else if (i + 1 < t.size() && t[i + 1] == '[')
          i = std::min(t.find(']', i), t.size() - 1);
        else
          i += 1;
      } else if (e == '(' && i + 2 < t.size()) {  // \(aq \(em \(co ...
        const std::string_view name = t.substr(i + 1, 2);
        i += 2;
        if (name == "aq" || name == "cq")
          s += '\'';
        else if (name == "em" || name == "en")
          s += "—";
        else if (name == "dq" || name == "lq" || name == "rq")
          s += '"';
        else if (name == "co")
          s += "©";
      } else if (e == '*' && i + 1 < t.size()) {  // \*R \*(Tm: strings, dropped
        i += t[i + 1] == '(' ? 3 : 1;
      } else if (e == '-' || e == 'e' || e == '\\') {
        s += e == '-' ? '-' : '\\';
      } else if (e == ' ' || e == '~') {
        s += ' ';
      }
      // \& \c \| \^ and anything else: nothing
    }
    if (s.empty()) return;
    if (!para.empty()) para += ' ';
    para += s;
  };
  for_each_line(roff, [&](std::string_view line) {
    if (line.empty()) {
      flush();
      return;
    }
    if (line[0] != '.' && line[0] != '\'') {
      add_text(line);
      return;
    }
    if (line.starts_with(".\\\"") || line.starts_with("'\\\"")) return;  // comment
    const size_t sp = line.find_first_of(" \t");
    const std::string_view req = line.substr(1, sp == std::string_view::npos ? line.npos : sp - 1);
    const std::string_view arg =
        sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    if (req == "SH" || req == "SS") {
      flush();
      add_text(arg);
      flush();
    } else if (req == "B" || req == "I" || req == "BR" || req == "IR" || req == "RB" ||
               req == "BI" || req == "IB" || req == "RI" || req == "SM" || req == "SB") {
      add_text(arg);
    } else if (req == "PP" || req == "LP" || req == "P" || req == "TP" || req == "IP" ||
               req == "HP" || req == "sp" || req == "br") {
      flush();
      if (req == "IP") {  // .IP tag [indent]: the tag only (a bullet \(bu gives nothing)
        const size_t end = arg.starts_with('"') ? arg.find('"', 1) : arg.find_first_of(" \t");
        add_text(arg.substr(0, end == std::string_view::npos ? end : end + arg.starts_with('"')));
      }
    }
    // .TH .RS .RE .nf .fi .in .ad .na .if ... carry no running text
  });
  flush();
  return out;
}

void read_man_page(const std::string& path, const DocumentFn& fn, ReadStats& stats) {
  const std::string roff = read_gzip(path);
  stats.bytes += roff.size();
  std::string text = roff_to_text(roff);
  if (text.empty()) return;
  ++stats.documents;
  fn({std::move(text), path});
}

}  // namespace aero
