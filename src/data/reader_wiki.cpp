// MediaWiki XML dumps, plain or bzip2, streamed through expat: only the current page is held.
#include <bzlib.h>
#include <expat.h>

#include <strings.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "data/readers.h"

namespace aero {

namespace {

// Plain or bzip2 bytes, chosen by the file's magic rather than its name.
class DumpStream {
 public:
  explicit DumpStream(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb")) {
    AERO_CHECK(f_, "[data] cannot open ", path, ": ", std::strerror(errno));
    char magic[3] = {};
    const size_t n = std::fread(magic, 1, 3, f_);
    std::rewind(f_);
    if (n == 3 && std::memcmp(magic, "BZh", 3) == 0) {
      int err = BZ_OK;
      bz_ = BZ2_bzReadOpen(&err, f_, 0, 0, nullptr, 0);
      AERO_CHECK(err == BZ_OK, "[data] ", path, ": cannot open bzip2 stream");
    }
  }
  ~DumpStream() {
    if (bz_) {
      int err;
      BZ2_bzReadClose(&err, bz_);
    }
    std::fclose(f_);
  }

  // Reads up to n decompressed bytes; 0 at the end.
  size_t read(char* buf, size_t n) {
    if (!bz_) {
      const size_t got = std::fread(buf, 1, n, f_);
      AERO_CHECK(!std::ferror(f_), "[data] read error on ", path_);
      return got;
    }
    if (bz_done_) return 0;
    int err = BZ_OK;
    const int got = BZ2_bzRead(&err, bz_, buf, static_cast<int>(n));
    if (err == BZ_STREAM_END) {
      // Multi-stream files (pbzip2, Wikipedia's multistream dumps): continue with the next one.
      void* unused = nullptr;
      int n_unused = 0;
      BZ2_bzReadGetUnused(&err, bz_, &unused, &n_unused);
      std::vector<char> rest(static_cast<char*>(unused), static_cast<char*>(unused) + n_unused);
      BZ2_bzReadClose(&err, bz_);
      bz_ = nullptr;
      int c = std::fgetc(f_);
      if (n_unused == 0 && c == EOF) {
        bz_done_ = true;
      } else {
        if (c != EOF) std::ungetc(c, f_);
        bz_ = BZ2_bzReadOpen(&err, f_, 0, 0, rest.empty() ? nullptr : rest.data(),
                             static_cast<int>(rest.size()));
        AERO_CHECK(err == BZ_OK, "[data] ", path_, ": cannot open the next bzip2 stream");
      }
      total_ += static_cast<uint64_t>(got);
      // 0 bytes here is the end of one stream, not of the file.
      return got > 0 || bz_done_ ? static_cast<size_t>(got) : read(buf, n);
    }
    AERO_CHECK(err == BZ_OK, "[data] ", path_, ": ",
               err == BZ_UNEXPECTED_EOF ? "truncated bzip2 stream" : "corrupt bzip2 data",
               " near compressed byte ", std::ftell(f_), " (decompressed byte ", total_ + got,
               "); re-download the dump");
    total_ += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }

 private:
  std::string path_;
  std::FILE* f_;
  BZFILE* bz_ = nullptr;
  bool bz_done_ = false;
  uint64_t total_ = 0;
};

struct Page {
  std::string title, ns, text;
  bool redirect = false;
};

struct WikiParser {
  const std::string* path;
  const DocumentFn* fn;
  ReadStats* stats;
  std::vector<std::string> stack;  // element names from the root
  Page page;
  std::string* capture = nullptr;  // the field text goes into, or null

  static void on_start(void* self, const XML_Char* name, const XML_Char**) {
    auto* p = static_cast<WikiParser*>(self);
    const std::string n = name;
    p->stack.push_back(n);
    p->capture = nullptr;
    if (n == "page")
      p->page = Page{};
    else if (n == "redirect")
      p->page.redirect = true;
    else if (n == "title" && p->parent_is("page"))
      p->capture = &p->page.title;
    else if (n == "ns" && p->parent_is("page"))
      p->capture = &p->page.ns;
    else if (n == "text" && p->parent_is("revision"))
      p->capture = &p->page.text;
  }

  static void on_end(void* self, const XML_Char* name) {
    auto* p = static_cast<WikiParser*>(self);
    p->capture = nullptr;
    if (!p->stack.empty()) p->stack.pop_back();
    if (std::strcmp(name, "page") == 0) p->finish_page();
  }

  static void on_text(void* self, const XML_Char* s, int len) {
    auto* p = static_cast<WikiParser*>(self);
    if (p->capture) p->capture->append(s, static_cast<size_t>(len));
  }

  bool parent_is(const char* name) const {
    return stack.size() >= 2 && stack[stack.size() - 2] == name;
  }

  void finish_page() {
    const bool article = page.ns.empty() || page.ns == "0";
    // Old dumps mark redirects only in the text: "#REDIRECT [[...]]", Vietnamese "#đổi".
    const std::string& t = page.text;
    const bool redirect_text =
        t.starts_with('#') &&
        (strncasecmp(t.c_str(), "#redirect", 9) == 0 || t.starts_with("#đổi") ||
         t.starts_with("#Đổi") || t.starts_with("#ĐỔI"));
    if (!article || page.redirect || redirect_text) {
      ++stats->skipped_pages;
      return;
    }
    Document doc{strip_wiki_markup(page.text), cat(*path, ":", page.title)};
    if (doc.text.empty()) {
      ++stats->skipped_pages;
      return;
    }
    ++stats->documents;
    (*fn)(std::move(doc));
  }
};

}  // namespace

void read_wiki_dump(const std::string& path, const DocumentFn& fn, ReadStats& stats) {
  DumpStream in(path);
  std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> owner(XML_ParserCreate("UTF-8"),
                                                                     &XML_ParserFree);
  XML_Parser xp = owner.get();
  AERO_CHECK(xp, "[data] out of memory creating the XML parser");
  WikiParser wp{&path, &fn, &stats, {}, {}, nullptr};
  XML_SetUserData(xp, &wp);
  XML_SetElementHandler(xp, WikiParser::on_start, WikiParser::on_end);
  XML_SetCharacterDataHandler(xp, WikiParser::on_text);
  std::vector<char> buf(1 << 16);
  while (true) {
    const size_t n = in.read(buf.data(), buf.size());
    stats.bytes += n;
    AERO_CHECK(XML_Parse(xp, buf.data(), static_cast<int>(n), n == 0) != XML_STATUS_ERROR,
               "[data] ", path, ":", XML_GetCurrentLineNumber(xp), ":",
               XML_GetCurrentColumnNumber(xp), ": invalid XML (",
               XML_ErrorString(XML_GetErrorCode(xp)), ")");
    if (n == 0) break;
  }
}

}  // namespace aero
