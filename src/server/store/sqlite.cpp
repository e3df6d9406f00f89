#include "server/store/sqlite.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iterator>

#include "core/error.h"

namespace aero::server {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    AERO_CHECK(sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) == SQLITE_OK, "[sessions] ",
               sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  bool row() {  // steps; true while there is a row
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    AERO_CHECK(rc == SQLITE_DONE, "[sessions] ", sqlite3_errmsg(db_));
    return false;
  }
  std::string col_text(int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s_, i))) : std::string();
  }
  double col_real(int i) { return sqlite3_column_double(s_, i); }
  int64_t col_int(int i) { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace

SqliteSessionStore::SqliteSessionStore(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    fail("[sessions] cannot open ", path, ": ", msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=ON");
    migrate();
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

// Schema versions, applied in order, each in its own transaction; meta.version is the last one
// applied. Version 1 is the schema of the first release; never edit one that shipped.
void SqliteSessionStore::migrate() {
  static const char* kMigrations[] = {
      // 1: sessions and their messages
      "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
      "  created REAL NOT NULL, updated REAL NOT NULL, title TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (key_id, updated);"
      "CREATE TABLE IF NOT EXISTS messages (session_id TEXT NOT NULL REFERENCES sessions(id)"
      "  ON DELETE CASCADE, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,"
      "  created REAL NOT NULL, PRIMARY KEY (session_id, seq));",
      // 2: the turn a message belongs to (PostgreSQL's retried appends need it; same schema)
      "ALTER TABLE messages ADD COLUMN turn_id TEXT NOT NULL DEFAULT '';",
  };
  constexpr int kLatest = int(std::size(kMigrations));
  exec("BEGIN IMMEDIATE");
  try {
    exec(
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
        "INSERT OR IGNORE INTO meta VALUES ('format', 'aero-sessions'), ('version', '0');");
    Stmt f(db_, "SELECT v FROM meta WHERE k = 'format'");
    AERO_CHECK(f.row() && f.col_text(0) == "aero-sessions", "[sessions] ", path_,
               ": not an aero session store");
    Stmt v(db_, "SELECT v FROM meta WHERE k = 'version'");
    AERO_CHECK(v.row(), "[sessions] ", path_, ": no schema version");
    int version = std::atoi(v.col_text(0).c_str());
    AERO_CHECK(version <= kLatest, "[sessions] ", path_, ": schema version ", version,
               " is newer than this aero knows (", kLatest, "); upgrade aero");
    for (; version < kLatest; version++) exec(kMigrations[version]);
    Stmt up(db_, "UPDATE meta SET v = ? WHERE k = 'version'");
    up.text(1, std::to_string(kLatest)).row();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

SqliteSessionStore::~SqliteSessionStore() { sqlite3_close(db_); }

void SqliteSessionStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    fail("[sessions] ", path_, ": ", msg);
  }
}

std::optional<std::vector<ChatMessage>> SqliteSessionStore::history(const std::string& id,
                                                                    const std::string& key_id) {
  std::lock_guard lock(mu_);
  Stmt owner(db_, "SELECT key_id FROM sessions WHERE id = ?");
  owner.text(1, id);
  if (!owner.row() || owner.col_text(0) != key_id) return std::nullopt;
  Stmt q(db_, "SELECT role, content FROM messages WHERE session_id = ? ORDER BY seq");
  q.text(1, id);
  std::vector<ChatMessage> out;
  while (q.row()) out.push_back({q.col_text(0), q.col_text(1)});
  return out;
}

bool SqliteSessionStore::exists(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT 1 FROM sessions WHERE id = ?");
  q.text(1, id);
  return q.row();
}

std::optional<SessionInfo> SqliteSessionStore::info(const std::string& id,
                                                    const std::string& key_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT id, key_id, created, updated, title, (SELECT count(*) FROM messages WHERE "
         "session_id = sessions.id) FROM sessions WHERE id = ?");
  q.text(1, id);
  if (!q.row() || q.col_text(1) != key_id) return std::nullopt;
  return SessionInfo{q.col_text(0), q.col_text(1),     q.col_real(2),
                     q.col_real(3), int(q.col_int(5)), q.col_text(4)};
}

bool SqliteSessionStore::append(const std::string& id, const std::string& key_id,
                                const std::vector<ChatMessage>& messages,
                                const std::string& turn_id) {
  std::lock_guard lock(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    const double now = now_s();
    Stmt owner(db_, "SELECT key_id FROM sessions WHERE id = ?");
    owner.text(1, id);
    if (owner.row()) {
      if (owner.col_text(0) != key_id) {
        exec("ROLLBACK");
        return false;
      }
      Stmt up(db_, "UPDATE sessions SET updated = ? WHERE id = ?");
      up.real(1, now).text(2, id).row();
    } else {
      const std::string title = session_title(messages);
      Stmt ins(db_,
               "INSERT INTO sessions (id, key_id, created, updated, title) VALUES (?,?,?,?,?)");
      ins.text(1, id).text(2, key_id).real(3, now).real(4, now).text(5, title).row();
    }
    Stmt next(db_, "SELECT coalesce(max(seq), -1) + 1 FROM messages WHERE session_id = ?");
    next.text(1, id);
    next.row();
    int64_t seq = next.col_int(0);
    for (const ChatMessage& m : messages) {
      Stmt ins(db_,
               "INSERT INTO messages (session_id, seq, role, content, created, turn_id) "
               "VALUES (?,?,?,?,?,?)");
      ins.text(1, id).integer(2, seq++).text(3, m.role).text(4, m.content).real(5, now);
      ins.text(6, turn_id).row();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return true;
}

bool SqliteSessionStore::remove(const std::string& id, const std::string& key_id) {
  std::lock_guard lock(mu_);
  Stmt del(db_, "DELETE FROM sessions WHERE id = ? AND key_id = ?");
  del.text(1, id).text(2, key_id).row();
  return sqlite3_changes(db_) > 0;
}

std::vector<SessionInfo> SqliteSessionStore::list(const std::string& key_id, int limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT id, key_id, created, updated, title, (SELECT count(*) FROM messages WHERE "
         "session_id = sessions.id) FROM sessions WHERE key_id = ? ORDER BY updated DESC LIMIT ?");
  q.text(1, key_id).integer(2, limit);
  std::vector<SessionInfo> out;
  while (q.row())
    out.push_back({q.col_text(0), q.col_text(1), q.col_real(2), q.col_real(3), int(q.col_int(5)),
                   q.col_text(4)});
  return out;
}

void SqliteSessionStore::checkpoint() {
  std::lock_guard lock(mu_);
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

}  // namespace aero::server
