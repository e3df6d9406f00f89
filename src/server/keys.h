// API keys: a JSON file of records holding only the SHA-256 of each key. A key is shown once,
// when it is created; the server identifies a caller by the key's id, never the key itself.
//
//   {"format": "aero-keys", "version": 1, "keys": [
//     {"id": "key_3f9a0c1d", "name": "alice", "sha256": "<64 hex>", "created": 1763800000,
//      "revoked": false}]}
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aero::server {

// "abc" -> "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" (OpenSSL EVP).
std::string sha256_hex(std::string_view data);

struct ApiKeyRecord {
  std::string id;
  std::string name;
  std::string sha256;
  int64_t created = 0;  // unix seconds
  bool revoked = false;
};

// The file behind `aero keys` (read-modify-write, saved atomically with mode 0600).
class KeyFile {
 public:
  explicit KeyFile(std::string path);  // a missing file is an empty store
  // Creates a key; returns its record and the key itself (the only time it is known).
  std::pair<ApiKeyRecord, std::string> add(const std::string& name);
  void revoke(const std::string& id);  // error if unknown
  const std::vector<ApiKeyRecord>& records() const { return records_; }
  void save() const;

 private:
  std::string path_;
  std::vector<ApiKeyRecord> records_;
};

// The server's view: re-reads the file when it changes on disk, so `aero keys revoke` takes
// effect on the next request without a restart. Thread-safe.
class KeyRegistry {
 public:
  explicit KeyRegistry(std::string path);  // empty path: no keys, every caller is anonymous
  // True when at least one key (revoked or not) exists: then every request needs a key.
  bool required();
  // The id of the key, or nullopt when it is unknown or revoked.
  std::optional<std::string> lookup(std::string_view key);

 private:
  void refresh_locked();
  std::string path_;
  std::mutex mu_;
  std::vector<ApiKeyRecord> records_;
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
};

}  // namespace aero::server
