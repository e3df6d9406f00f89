// The store replicas share: sessions, per-key rate-limit buckets and API keys in PostgreSQL
// (libpq), same schema and semantics as the SQLite store. A lost connection is reopened and
// the call retried once; past that the call throws StoreUnavailable (the server answers 503).
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/keys.h"
#include "server/store/store.h"

namespace aero::server {

namespace pg {
class Pool;
}

// One pool per URL; the three stores below share it when their URLs are the same.
std::shared_ptr<pg::Pool> open_pg_pool(const std::string& url);

class PgSessionStore : public SessionStore {
 public:
  explicit PgSessionStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
  std::optional<std::vector<ChatMessage>> history(const std::string& id,
                                                  const std::string& key_id) override;
  bool exists(const std::string& id) override;
  std::optional<SessionInfo> info(const std::string& id, const std::string& key_id) override;
  bool append(const std::string& id, const std::string& key_id,
              const std::vector<ChatMessage>& messages, const std::string& turn_id) override;
  bool remove(const std::string& id, const std::string& key_id) override;
  std::vector<SessionInfo> list(const std::string& key_id, int limit = 100) override;
  bool healthy() override;
  void check() override;
  std::string describe() const override;

 private:
  std::shared_ptr<pg::Pool> pool_;
};

// Token buckets of limits.h in a table: every replica takes from the same budget.
class PgRateLimits : public RateLimits {
 public:
  PgRateLimits(std::shared_ptr<pg::Pool> pool, double requests_per_min, double tokens_per_min)
      : pool_(std::move(pool)), rpm_(requests_per_min), tpm_(tokens_per_min) {}
  int admit(const std::string& key) override;
  void charge(const std::string& key, double tokens) override;

 private:
  std::shared_ptr<pg::Pool> pool_;
  double rpm_, tpm_;
};

// The api_keys table, read at most every kRefresh: a revocation reaches every replica within
// that time, without a query per request. An unknown key re-reads a table older than
// kMissRefresh, so a key just created works at once (and a flood of wrong keys costs at most
// one query per kMissRefresh).
class PgKeySource : public KeySource {
 public:
  static constexpr auto kRefresh = std::chrono::milliseconds(500);
  static constexpr auto kMissRefresh = std::chrono::milliseconds(50);
  explicit PgKeySource(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
  bool required() override;
  std::optional<std::string> lookup(std::string_view key) override;

 private:
  void refresh_locked(std::chrono::milliseconds max_age);
  std::shared_ptr<pg::Pool> pool_;
  std::mutex mu_;
  std::vector<ApiKeyRecord> records_;
  std::chrono::steady_clock::time_point loaded_{};
  bool ever_loaded_ = false;
};

// `aero keys --store postgresql://...`.
class PgKeyAdmin : public KeyAdmin {
 public:
  explicit PgKeyAdmin(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
  std::pair<ApiKeyRecord, std::string> create(const std::string& name) override;
  void revoke_key(const std::string& id) override;
  std::vector<ApiKeyRecord> all() override;

 private:
  std::shared_ptr<pg::Pool> pool_;
};

}  // namespace aero::server
