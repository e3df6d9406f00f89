#include "server/store/postgres.h"

#include <chrono>
#include <cmath>
#include <map>

#include "server/store/pg.h"

namespace aero::server {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string num(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::vector<ApiKeyRecord> read_keys(PGconn* c) {
  pg::Result r =
      pg::exec(c, "SELECT id, name, sha256, created, revoked FROM api_keys ORDER BY created, id");
  std::vector<ApiKeyRecord> out;
  for (int i = 0; i < r.rows(); i++)
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.integer(i, 3), r.text(i, 4) == "t"});
  return out;
}

}  // namespace

std::shared_ptr<pg::Pool> open_pg_pool(const std::string& url) {
  // Network threads read, the store thread writes, /health pings: a few connections suffice.
  return std::make_shared<pg::Pool>(url, 4);
}

std::optional<std::vector<ChatMessage>> PgSessionStore::history(const std::string& id,
                                                                const std::string& key_id) {
  std::optional<std::vector<ChatMessage>> out;
  pool_->run([&](PGconn* c) {
    out.reset();
    pg::Result r =
        pg::exec(c,
                 "SELECT s.key_id, m.role, m.content FROM sessions s LEFT JOIN messages m"
                 " ON m.session_id = s.id WHERE s.id = $1 ORDER BY m.seq",
                 {id});
    if (r.rows() == 0 || r.text(0, 0) != key_id) return;
    out.emplace();
    for (int i = 0; i < r.rows(); i++)
      if (!r.null(i, 1)) out->push_back({r.text(i, 1), r.text(i, 2)});
  });
  return out;
}

bool PgSessionStore::exists(const std::string& id) {
  bool found = false;
  pool_->run([&](PGconn* c) {
    found = pg::exec(c, "SELECT 1 FROM sessions WHERE id = $1", {id}).rows() > 0;
  });
  return found;
}

std::optional<SessionInfo> PgSessionStore::info(const std::string& id, const std::string& key_id) {
  std::optional<SessionInfo> out;
  pool_->run([&](PGconn* c) {
    out.reset();
    pg::Result r = pg::exec(c,
                            "SELECT id, key_id, created, updated, title, (SELECT count(*) FROM "
                            "messages WHERE session_id = sessions.id) FROM sessions WHERE id = $1",
                            {id});
    if (r.rows() == 0 || r.text(0, 1) != key_id) return;
    out = SessionInfo{r.text(0, 0), r.text(0, 1),         r.real(0, 2),
                      r.real(0, 3), int(r.integer(0, 5)), r.text(0, 4)};
  });
  return out;
}

bool PgSessionStore::append(const std::string& id, const std::string& key_id,
                            const std::vector<ChatMessage>& messages, const std::string& turn_id) {
  bool ok = false;
  pool_->run([&](PGconn* c) {
    const std::string now = num(now_s());
    pg::exec(c, "BEGIN");
    pg::exec(c,
             "INSERT INTO sessions (id, key_id, created, updated, title) VALUES ($1, $2, $3, $3, "
             "$4) ON CONFLICT (id) DO NOTHING",
             {id, key_id, now, session_title(messages)});
    // The row lock orders two replicas appending to one session.
    pg::Result owner = pg::exec(c, "SELECT key_id FROM sessions WHERE id = $1 FOR UPDATE", {id});
    if (owner.rows() == 0 || owner.text(0, 0) != key_id) {
      pg::exec(c, "ROLLBACK");
      ok = false;
      return;
    }
    ok = true;
    // A retry after a connection lost at COMMIT: the first attempt may have landed.
    if (!turn_id.empty() &&
        pg::exec(c, "SELECT 1 FROM messages WHERE session_id = $1 AND turn_id = $2 LIMIT 1",
                 {id, turn_id})
                .rows() > 0) {
      pg::exec(c, "COMMIT");
      return;
    }
    pg::exec(c, "UPDATE sessions SET updated = $2 WHERE id = $1", {id, now});
    pg::Result next =
        pg::exec(c, "SELECT coalesce(max(seq), -1) + 1 FROM messages WHERE session_id = $1", {id});
    int64_t seq = next.integer(0, 0);
    for (const ChatMessage& m : messages)
      pg::exec(c,
               "INSERT INTO messages (session_id, seq, role, content, created, turn_id) VALUES "
               "($1, $2, $3, $4, $5, $6)",
               {id, std::to_string(seq++), m.role, m.content, now, turn_id});
    pg::exec(c, "COMMIT");
  });
  return ok;
}

bool PgSessionStore::remove(const std::string& id, const std::string& key_id) {
  bool removed = false;
  pool_->run([&](PGconn* c) {
    removed =
        pg::exec(c, "DELETE FROM sessions WHERE id = $1 AND key_id = $2", {id, key_id}).affected() >
        0;
  });
  return removed;
}

std::vector<SessionInfo> PgSessionStore::list(const std::string& key_id, int limit) {
  std::vector<SessionInfo> out;
  pool_->run([&](PGconn* c) {
    out.clear();
    pg::Result r = pg::exec(c,
                            "SELECT id, key_id, created, updated, title, (SELECT count(*) FROM "
                            "messages WHERE session_id = sessions.id) FROM sessions WHERE key_id = "
                            "$1 ORDER BY updated DESC LIMIT $2",
                            {key_id, std::to_string(limit)});
    for (int i = 0; i < r.rows(); i++)
      out.push_back({r.text(i, 0), r.text(i, 1), r.real(i, 2), r.real(i, 3), int(r.integer(i, 5)),
                     r.text(i, 4)});
  });
  return out;
}

bool PgSessionStore::healthy() { return pool_->healthy(); }

void PgSessionStore::check() {
  pool_->run([](PGconn* c) { pg::exec(c, "SELECT 1"); });
}

std::string PgSessionStore::describe() const { return "PostgreSQL " + pool_->where(); }

int PgRateLimits::admit(const std::string& key) {
  if (rpm_ <= 0 && tpm_ <= 0) return 0;
  double wait = 0;
  pool_->run([&](PGconn* c) {
    wait = pg::exec(c, "SELECT aero_admit($1, $2, $3)", {key, num(rpm_), num(tpm_)}).real(0, 0);
  });
  return wait > 0 ? std::max(1, int(std::ceil(wait))) : 0;
}

void PgRateLimits::charge(const std::string& key, double tokens) {
  if (tpm_ <= 0) return;
  pool_->run([&](PGconn* c) {
    pg::exec(c, "SELECT aero_charge($1, $2, $3, $4)", {key, num(rpm_), num(tpm_), num(tokens)});
  });
}

void PgKeySource::refresh_locked(std::chrono::milliseconds max_age) {
  const auto now = std::chrono::steady_clock::now();
  if (ever_loaded_ && now - loaded_ < max_age) return;
  pool_->run([&](PGconn* c) { records_ = read_keys(c); });
  loaded_ = now;
  ever_loaded_ = true;
}

bool PgKeySource::required() {
  std::lock_guard lock(mu_);
  refresh_locked(kRefresh);
  return !records_.empty();
}

std::optional<std::string> PgKeySource::lookup(std::string_view key) {
  const std::string h = sha256_hex(key);
  std::lock_guard lock(mu_);
  for (auto max_age : {kRefresh, kMissRefresh}) {
    refresh_locked(max_age);
    for (const ApiKeyRecord& r : records_)
      if (!r.revoked && r.sha256 == h) return r.id;
  }
  return std::nullopt;
}

std::pair<ApiKeyRecord, std::string> PgKeyAdmin::create(const std::string& name) {
  auto made = make_key(name);
  const ApiKeyRecord& r = made.first;
  pool_->run([&](PGconn* c) {
    pg::exec(c, "INSERT INTO api_keys (id, name, sha256, created) VALUES ($1, $2, $3, $4)",
             {r.id, r.name, r.sha256, std::to_string(r.created)});
  });
  return made;
}

void PgKeyAdmin::revoke_key(const std::string& id) {
  int n = 0;
  pool_->run([&](PGconn* c) {
    n = pg::exec(c, "UPDATE api_keys SET revoked = true WHERE id = $1", {id}).affected();
  });
  AERO_CHECK(n > 0, "[keys] no key with id ", id, " in ", pool_->where(),
             " (see `aero keys list`)");
}

std::vector<ApiKeyRecord> PgKeyAdmin::all() {
  std::vector<ApiKeyRecord> out;
  pool_->run([&](PGconn* c) { out = read_keys(c); });
  return out;
}

}  // namespace aero::server
