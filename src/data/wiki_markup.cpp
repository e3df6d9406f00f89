// Wiki markup to plain article text. A small recursive scanner, not a full MediaWiki parser:
// it keeps what a reader sees as prose and drops the rest.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "data/readers.h"

namespace aero {

namespace {

// Elements whose content is dropped with them.
constexpr std::array<const char*, 9> kDropTags = {
    "ref", "gallery", "math", "timeline", "syntaxhighlight", "source", "score", "imagemap", "chem"};

// Link prefixes that are not prose: files, categories and interlanguage links.
bool is_non_prose_link(std::string_view target) {
  const size_t colon = target.find(':');
  if (colon == std::string_view::npos) return false;
  std::string ns(target.substr(0, colon));
  std::transform(ns.begin(), ns.end(), ns.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!ns.empty() && ns.front() == ' ') ns.erase(0, 1);
  static const char* const kNs[] = {"file",     "image", "category",  "tập tin",  "hình",
                                    "thể loại", "media", "wikipedia", "template", "bản mẫu",
                                    "tiêu bản", "help",  "trợ giúp",  "portal",   "chủ đề"};
  for (const char* n : kNs)
    if (ns == n) return true;
  // Interlanguage links: [[en:Title]], [[zh-yue:...]].
  return ns.size() >= 2 && ns.size() <= 12 &&
         std::all_of(ns.begin(), ns.end(), [](char c) { return std::islower(c) || c == '-'; });
}

// Offset just past the matching close of a construct opened at `open` (e.g. "{{" ... "}}"),
// counting nesting; text.size() when it never closes.
size_t skip_nested(std::string_view text, size_t pos, std::string_view open,
                   std::string_view close) {
  int depth = 0;
  while (pos < text.size()) {
    if (text.compare(pos, open.size(), open) == 0) {
      ++depth;
      pos += open.size();
    } else if (text.compare(pos, close.size(), close) == 0) {
      pos += close.size();
      if (--depth == 0) return pos;
    } else {
      ++pos;
    }
  }
  return text.size();
}

bool ieq_prefix(std::string_view text, size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) return false;
  for (size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[pos + i])) != word[i]) return false;
  return true;
}

// At '<': the offset past a dropped element ("<ref>..</ref>", "<ref/>", comments), past a plain
// tag (its content stays), or npos when this '<' is just text.
size_t skip_tag(std::string_view text, size_t pos) {
  if (text.compare(pos, 4, "<!--") == 0) {
    const size_t end = text.find("-->", pos + 4);
    return end == std::string_view::npos ? text.size() : end + 3;
  }
  const size_t gt = text.find('>', pos);
  if (gt == std::string_view::npos) return std::string_view::npos;
  const size_t name_at = pos + 1 + (pos + 1 < text.size() && text[pos + 1] == '/');
  if (name_at >= text.size() || !std::isalpha(static_cast<unsigned char>(text[name_at])))
    return std::string_view::npos;
  for (const char* tag : kDropTags) {
    const size_t n = std::strlen(tag);
    if (name_at != pos + 1 || !ieq_prefix(text, name_at, tag)) continue;
    const char after = name_at + n < text.size() ? text[name_at + n] : '>';
    if (after != '>' && after != ' ' && after != '/') continue;
    if (text[gt - 1] == '/') return gt + 1;  // self-closing
    const std::string close = std::string("</") + tag;
    size_t end = gt;
    while (true) {
      end = text.find("</", end);
      if (end == std::string_view::npos) return text.size();
      if (ieq_prefix(text, end, close)) break;
      end += 2;
    }
    const size_t close_gt = text.find('>', end);
    return close_gt == std::string_view::npos ? text.size() : close_gt + 1;
  }
  return gt + 1;
}

void strip_inline(std::string_view text, std::string& out);

// [[target|label]] -> label (itself stripped); [[target]] -> target; files etc. -> nothing.
void emit_link(std::string_view inner, std::string& out) {
  // [[:Thể loại:X]] and [[:en:Y]] are visible links to such pages, shown without the colon.
  const bool visible = inner.starts_with(':');
  if (visible)
    inner.remove_prefix(1);
  else if (is_non_prose_link(inner))
    return;
  // The label follows the last '|' that is not inside a nested link.
  size_t bar = std::string_view::npos;
  int depth = 0;
  for (size_t i = 0; i < inner.size(); ++i) {
    if (inner.compare(i, 2, "[[") == 0)
      ++depth, ++i;
    else if (inner.compare(i, 2, "]]") == 0)
      --depth, ++i;
    else if (inner[i] == '|' && depth == 0)
      bar = i;
  }
  std::string_view label = bar == std::string_view::npos ? inner : inner.substr(bar + 1);
  if (bar == std::string_view::npos) {
    const size_t hash = label.find('#');  // [[Page#Section]] reads as "Page"
    if (hash != std::string_view::npos && hash > 0) label = label.substr(0, hash);
  }
  strip_inline(label, out);
}

void strip_inline(std::string_view text, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '{' && text.compare(i, 2, "{{") == 0) {
      i = skip_nested(text, i, "{{", "}}");
    } else if (c == '{' && text.compare(i, 2, "{|") == 0) {
      i = skip_nested(text, i, "{|", "|}");
    } else if (c == '[' && text.compare(i, 2, "[[") == 0) {
      const size_t end = skip_nested(text, i, "[[", "]]");
      const size_t inner_end = end >= i + 4 && text.compare(end - 2, 2, "]]") == 0 ? end - 2 : end;
      emit_link(text.substr(i + 2, inner_end - (i + 2)), out);
      i = end;
    } else if (c == '[' &&
               (text.compare(i + 1, 4, "http") == 0 || text.compare(i + 1, 2, "//") == 0)) {
      const size_t end = text.find(']', i);
      if (end == std::string_view::npos) {
        out += c;
        ++i;
        continue;
      }
      const size_t space = text.find(' ', i);
      if (space != std::string_view::npos && space < end)
        strip_inline(text.substr(space + 1, end - space - 1), out);
      i = end + 1;
    } else if (c == '<') {
      const size_t end = skip_tag(text, i);
      if (end == std::string_view::npos) {
        out += c;
        ++i;
      } else {
        i = end;
      }
    } else if (c == '\'' && text.compare(i, 2, "''") == 0) {
      while (i < text.size() && text[i] == '\'') ++i;  // bold / italic markers
    } else if (c == '&') {
      static const std::pair<const char*, const char*> kEntities[] = {
          {"&nbsp;", " "},  {"&amp;", "&"},   {"&lt;", "<"},    {"&gt;", ">"},
          {"&quot;", "\""}, {"&ndash;", "–"}, {"&mdash;", "—"}, {"&#39;", "'"}};
      bool hit = false;
      for (const auto& [name, value] : kEntities) {
        const size_t n = std::strlen(name);
        if (text.compare(i, n, name) == 0) {
          out += value;
          i += n;
          hit = true;
          break;
        }
      }
      if (!hit) out += text[i++];
    } else if (c == '_' && text.compare(i, 2, "__") == 0) {
      const size_t end = text.find("__", i + 2);  // magic words: __TOC__, __NOTOC__
      const bool magic = end != std::string_view::npos && end - i < 24 &&
                         std::all_of(text.begin() + i + 2, text.begin() + end, [](char ch) {
                           return std::isupper(static_cast<unsigned char>(ch));
                         });
      if (magic) {
        i = end + 2;
      } else {
        out += c;
        ++i;
      }
    } else {
      out += c;
      ++i;
    }
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string strip_wiki_markup(std::string_view wikitext) {
  std::string flat;
  strip_inline(wikitext, flat);
  // Line-level markup: headings, list markers, horizontal rules, leftover table rows.
  std::string out;
  size_t start = 0;
  while (start <= flat.size()) {
    size_t end = flat.find('\n', start);
    if (end == std::string::npos) end = flat.size();
    std::string_view line = trim(std::string_view(flat).substr(start, end - start));
    start = end + 1;
    if (line.starts_with("=") && line.ends_with("=")) {
      while (!line.empty() && line.front() == '=') line.remove_prefix(1);
      while (!line.empty() && line.back() == '=') line.remove_suffix(1);
      line = trim(line);
    } else {
      if (line.starts_with("----") || line.starts_with("|") || line.starts_with("!")) continue;
      while (!line.empty() && std::strchr("*#:;", line.front())) line.remove_prefix(1);
      line = trim(line);
    }
    if (line.empty()) continue;
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace aero
