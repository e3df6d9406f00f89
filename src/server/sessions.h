// Chat sessions in SQLite: one row per session (owned by an API key id) and one per message.
// WAL journal with synchronous=FULL: a turn is committed (and fsynced) before its stream ends,
// so a reply the client saw survives kill -9 and power loss; one fsync per turn costs far less
// than generating the turn. Thread-safe (one connection behind a mutex).
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "infer/chat.h"

struct sqlite3;

namespace aero::server {

struct SessionInfo {
  std::string id;
  std::string key_id;
  double created = 0;  // unix seconds
  double updated = 0;
  int messages = 0;
  std::string title;  // the first user message, cut to 80 bytes
};

class SessionStore {
 public:
  explicit SessionStore(const std::string& path);  // creates the file and schema if missing
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Messages of a session, oldest first; nullopt if it does not exist or belongs to another key.
  std::optional<std::vector<ChatMessage>> history(const std::string& id, const std::string& key_id);
  bool exists(const std::string& id);  // under any key
  std::optional<SessionInfo> info(const std::string& id, const std::string& key_id);
  // Appends messages in one transaction, creating the session for key_id if it is new.
  // Returns false when the session exists under another key.
  bool append(const std::string& id, const std::string& key_id,
              const std::vector<ChatMessage>& messages);
  bool remove(const std::string& id, const std::string& key_id);
  std::vector<SessionInfo> list(const std::string& key_id, int limit = 100);
  // Writes the WAL back into the database file (on shutdown).
  void checkpoint();

 private:
  void exec(const char* sql);
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::string path_;
};

// A fresh random session id: "s_" + 24 hex digits.
std::string new_session_id();

}  // namespace aero::server
