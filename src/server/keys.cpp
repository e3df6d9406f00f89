#include "server/keys.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"

namespace aero::server {

using nlohmann::json;

namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

// n random bytes from the OS (std::random_device reads getrandom / /dev/urandom on Linux).
std::string random_hex(size_t n) {
  std::random_device rd;
  std::vector<unsigned char> b(n);
  for (auto& x : b) x = static_cast<unsigned char>(rd());
  return hex(b.data(), n);
}

std::vector<ApiKeyRecord> read_records(const std::string& path) {
  std::vector<ApiKeyRecord> out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return out;
  try {
    json j = json::parse(ss.str());
    AERO_CHECK(j.is_object() && j.value("format", "") == "aero-keys", "[keys] ", path,
               ": not an aero key store (format must be \"aero-keys\")");
    AERO_CHECK(j.value("version", 0) == 1, "[keys] ", path, ": unsupported version ",
               j.value("version", 0));
    for (const json& k : j.at("keys")) {
      ApiKeyRecord r;
      r.id = k.at("id").get<std::string>();
      r.name = k.value("name", "");
      r.sha256 = k.at("sha256").get<std::string>();
      r.created = k.value("created", int64_t(0));
      r.revoked = k.value("revoked", false);
      AERO_CHECK(r.sha256.size() == 64, "[keys] ", path, ": key ", r.id, " has a bad sha256");
      out.push_back(std::move(r));
    }
  } catch (const json::exception& e) {
    fail("[keys] ", path, ": ", e.what());
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  AERO_CHECK(EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) == 1,
             "[keys] SHA-256 failed (OpenSSL)");
  return hex(md, n);
}

KeyFile::KeyFile(std::string path) : path_(std::move(path)) { records_ = read_records(path_); }

std::pair<ApiKeyRecord, std::string> make_key(const std::string& name) {
  ApiKeyRecord r;
  std::string key = "sk-aero-" + random_hex(24);
  r.id = "key_" + random_hex(4);
  r.name = name;
  r.sha256 = sha256_hex(key);
  r.created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  return {r, key};
}

std::pair<ApiKeyRecord, std::string> KeyFile::add(const std::string& name) {
  auto made = make_key(name);
  records_.push_back(made.first);
  return made;
}

void KeyFile::revoke(const std::string& id) {
  for (ApiKeyRecord& r : records_)
    if (r.id == id) {
      r.revoked = true;
      return;
    }
  fail("[keys] no key with id ", id, " in ", path_, " (see `aero keys list`)");
}

void KeyFile::save() const {
  json keys = json::array();
  for (const ApiKeyRecord& r : records_)
    keys.push_back({{"id", r.id},
                    {"name", r.name},
                    {"sha256", r.sha256},
                    {"created", r.created},
                    {"revoked", r.revoked}});
  json j = {{"format", "aero-keys"}, {"version", 1}, {"keys", keys}};
  AtomicFile f(path_);
  f.write(j.dump(2) + "\n");
  f.commit();
  ::chmod(path_.c_str(), 0600);
}

KeyRegistry::KeyRegistry(std::string path) : path_(std::move(path)) {
  if (!path_.empty()) {
    std::lock_guard lock(mu_);
    refresh_locked();
  }
}

void KeyRegistry::refresh_locked() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    records_.clear();
    mtime_ns_ = size_ = -1;
    return;
  }
  const int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == mtime_ns_ && int64_t(st.st_size) == size_) return;
  records_ = read_records(path_);
  mtime_ns_ = mtime;
  size_ = st.st_size;
}

bool KeyRegistry::required() {
  if (path_.empty()) return false;
  std::lock_guard lock(mu_);
  try {
    refresh_locked();
  } catch (const Error&) {
    return true;  // a broken store locks everyone out rather than opening the server
  }
  return !records_.empty();
}

std::optional<std::string> KeyRegistry::lookup(std::string_view key) {
  if (path_.empty()) return std::nullopt;
  const std::string h = sha256_hex(key);
  std::lock_guard lock(mu_);
  try {
    refresh_locked();
  } catch (const Error&) {
    return std::nullopt;
  }
  for (const ApiKeyRecord& r : records_)
    if (!r.revoked && r.sha256 == h) return r.id;
  return std::nullopt;
}

}  // namespace aero::server
