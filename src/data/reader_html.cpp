// HTML through libxml2's HTML parser (it recovers from the tag soup real pages contain).
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "data/readers.h"
#include "io/atomic_file.h"
#include "tokenizer/utf8.h"

namespace aero {

namespace {

bool is_hidden(const char* name) {
  static const char* const kHidden[] = {"script", "style",  "noscript", "head",   "template",
                                        "svg",    "iframe", "object",   "button", "select"};
  for (const char* h : kHidden)
    if (std::strcmp(name, h) == 0) return true;
  return false;
}

bool is_block(const char* name) {
  static const char* const kBlock[] = {
      "p",       "div",     "br",     "li",     "ul",     "ol",         "h1",  "h2",
      "h3",      "h4",      "h5",     "h6",     "tr",     "td",         "th",  "table",
      "section", "article", "header", "footer", "pre",    "blockquote", "dt",  "dd",
      "hr",      "nav",     "aside",  "main",   "figure", "figcaption", "form"};
  for (const char* b : kBlock)
    if (std::strcmp(name, b) == 0) return true;
  return false;
}

void walk(xmlNode* node, std::string& out) {
  for (xmlNode* n = node; n; n = n->next) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content) out += reinterpret_cast<const char*>(n->content);
    } else if (n->type == XML_ELEMENT_NODE) {
      const char* name = reinterpret_cast<const char*>(n->name);
      // Not shown: hidden elements, and those marked hidden with the HTML attribute.
      if (is_hidden(name) || xmlHasProp(n, BAD_CAST "hidden")) continue;
      const bool block = is_block(name);
      if (block) out += '\n';
      walk(n->children, out);
      if (block) out += '\n';
    }
  }
}

}  // namespace

std::string html_to_text(std::string_view html, const std::string& source, const char* encoding) {
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
      htmlReadMemory(html.data(), static_cast<int>(html.size()), source.c_str(), encoding,
                     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                         HTML_PARSE_NONET | HTML_PARSE_COMPACT),
      &xmlFreeDoc);
  AERO_CHECK(doc, "[data] ", source, ": cannot parse as HTML");
  std::string raw;
  walk(xmlDocGetRootElement(doc.get()), raw);
  // One paragraph per line: whitespace runs inside a block become one space.
  std::string out;
  bool space = false, newline = false;
  for (char c : raw) {
    if (c == '\n') {
      newline = !out.empty();
      space = false;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
    } else {
      if (newline)
        out += '\n';
      else if (space)
        out += ' ';
      newline = space = false;
      out += c;
    }
  }
  return out;
}

void read_html(const std::string& path, const DocumentFn& fn, ReadStats& stats) {
  const std::string html = read_file(path);
  stats.bytes += html.size();
  // UTF-8 unless the page declares another charset (legacy Vietnamese pages: windows-1258,
  // VISCII); libxml2 converts those to UTF-8.
  const char* encoding = "UTF-8";
  if (utf8_invalid_offset(html) != std::string::npos) {
    std::string head = html.substr(0, 4096);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (head.find("charset=") != std::string::npos &&
        head.find("charset=utf-8") == std::string::npos &&
        head.find("charset=\"utf-8") == std::string::npos)
      encoding = nullptr;
    else
      check_utf8_text(html, path);
  }
  Document doc{html_to_text(html, path, encoding), path};
  if (doc.text.empty()) return;
  ++stats.documents;
  fn(std::move(doc));
}

}  // namespace aero
