// API keys: a JSON file of records holding only the SHA-256 of each key. A key is shown once,
// when it is created; the server identifies a caller by the key's id, never the key itself.
//
//   {"format": "aero-keys", "version": 1, "keys": [
//     {"id": "key_3f9a0c1d", "name": "alice", "sha256": "<64 hex>", "created": 1763800000,
//      "revoked": false}]}
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/store/store.h"

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

// What `aero keys` manages: a keys file here, or the keys table of a shared PostgreSQL store.
class KeyAdmin {
 public:
  virtual ~KeyAdmin() = default;
  // Creates a key; returns its record and the key itself (the only time it is known).
  virtual std::pair<ApiKeyRecord, std::string> create(const std::string& name) = 0;
  virtual void revoke_key(const std::string& id) = 0;  // error if unknown
  virtual std::vector<ApiKeyRecord> all() = 0;
};

// A key store by path or URL: postgresql://... or a keys file.
std::unique_ptr<KeyAdmin> open_key_admin(const std::string& store);

// A new key record with a random key: {record, key}.
std::pair<ApiKeyRecord, std::string> make_key(const std::string& name);

// The file behind `aero keys` (read-modify-write, saved atomically with mode 0600).
class KeyFile : public KeyAdmin {
 public:
  explicit KeyFile(std::string path);  // a missing file is an empty store
  // Creates a key; returns its record and the key itself (the only time it is known).
  std::pair<ApiKeyRecord, std::string> add(const std::string& name);
  void revoke(const std::string& id);  // error if unknown
  const std::vector<ApiKeyRecord>& records() const { return records_; }
  void save() const;
  // KeyAdmin: each change saved at once.
  std::pair<ApiKeyRecord, std::string> create(const std::string& name) override {
    auto made = add(name);
    save();
    return made;
  }
  void revoke_key(const std::string& id) override {
    revoke(id);
    save();
  }
  std::vector<ApiKeyRecord> all() override { return records_; }

 private:
  std::string path_;
  std::vector<ApiKeyRecord> records_;
};

// The server's view: re-reads the file when it changes on disk, so `aero keys revoke` takes
// effect on the next request without a restart (on every replica, when the file is shared).
// Thread-safe.
class KeyRegistry : public KeySource {
 public:
  explicit KeyRegistry(std::string path);  // empty path: no keys, every caller is anonymous
  bool required() override;
  std::optional<std::string> lookup(std::string_view key) override;

 private:
  void refresh_locked();
  std::string path_;
  std::mutex mu_;
  std::vector<ApiKeyRecord> records_;
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
};

}  // namespace aero::server
