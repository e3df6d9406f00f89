// Chat sessions in SQLite, the single-machine default. WAL journal with synchronous=FULL: a turn
// is committed (and fsynced) before its stream ends, so a reply the client saw survives kill -9
// and power loss; one fsync per turn costs far less than generating the turn. Thread-safe (one
// connection behind a mutex).
#pragma once
#include <mutex>
#include <string>

#include "server/store/store.h"

struct sqlite3;

namespace aero::server {

class SqliteSessionStore : public SessionStore {
 public:
  // Creates the file and schema if missing; migrates an older schema forward.
  explicit SqliteSessionStore(const std::string& path);
  ~SqliteSessionStore() override;
  SqliteSessionStore(const SqliteSessionStore&) = delete;
  SqliteSessionStore& operator=(const SqliteSessionStore&) = delete;

  std::optional<std::vector<ChatMessage>> history(const std::string& id,
                                                  const std::string& key_id) override;
  bool exists(const std::string& id) override;
  std::optional<SessionInfo> info(const std::string& id, const std::string& key_id) override;
  bool append(const std::string& id, const std::string& key_id,
              const std::vector<ChatMessage>& messages, const std::string& turn_id) override;
  bool remove(const std::string& id, const std::string& key_id) override;
  std::vector<SessionInfo> list(const std::string& key_id, int limit = 100) override;
  bool healthy() override { return true; }
  void checkpoint() override;  // writes the WAL back into the database file
  std::string describe() const override { return "SQLite " + path_; }

 private:
  void exec(const char* sql);
  void migrate();
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace aero::server
