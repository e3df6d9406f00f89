// The server's state behind interfaces, so one replica keeps it in-process and SQLite while
// several replicas share it in PostgreSQL: chat sessions (SessionStore), per-key request and
// token budgets (RateLimits) and API keys (KeySource). open_state() picks the implementations
// from --sessions / --limits / --keys: a path means SQLite or a keys file, a postgresql:// URL
// means the shared store.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "infer/chat.h"

namespace aero::server {

// The shared store cannot be reached (connection refused or lost, after retries). The server
// answers 503 with this message; nothing half-written is left behind.
class StoreUnavailable : public Error {
 public:
  explicit StoreUnavailable(const std::string& msg) : Error(msg) {}
};

struct SessionInfo {
  std::string id;
  std::string key_id;
  double created = 0;  // unix seconds
  double updated = 0;
  int messages = 0;
  std::string title;  // the first user message, cut to 80 bytes
};

// Chat sessions: one row per session (owned by an API key id) and one per message. Every call
// is thread-safe and may block (disk or network): appends run on the server's store thread.
class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Messages of a session, oldest first; nullopt if it does not exist or belongs to another key.
  virtual std::optional<std::vector<ChatMessage>> history(const std::string& id,
                                                          const std::string& key_id) = 0;
  virtual bool exists(const std::string& id) = 0;  // under any key
  virtual std::optional<SessionInfo> info(const std::string& id, const std::string& key_id) = 0;
  // Appends messages in one transaction, creating the session for key_id if it is new; durable
  // when it returns. `turn_id` makes a retried append (after a lost connection) a no-op if the
  // first attempt committed. Returns false when the session exists under another key.
  virtual bool append(const std::string& id, const std::string& key_id,
                      const std::vector<ChatMessage>& messages, const std::string& turn_id) = 0;
  virtual bool remove(const std::string& id, const std::string& key_id) = 0;
  virtual std::vector<SessionInfo> list(const std::string& key_id, int limit = 100) = 0;
  // True when the store answers now (for /health); never throws.
  virtual bool healthy() = 0;
  // Throws StoreUnavailable when the store does not answer now: a new session checks it before
  // generating a reply that could not be kept.
  virtual void check() {}
  // Flushes what the store buffers (SQLite: the WAL into the database file), on shutdown.
  virtual void checkpoint() {}
  virtual std::string describe() const = 0;  // for logs, without a password
};

// Per-key budgets of requests and tokens per minute.
class RateLimits {
 public:
  virtual ~RateLimits() = default;
  // Takes one request from key's budget. Returns 0 when admitted, else the seconds to wait
  // (the Retry-After value, >= 1) and takes nothing.
  virtual int admit(const std::string& key) = 0;
  // Charges the tokens of a finished request (the budget may go below zero).
  virtual void charge(const std::string& key, double tokens) = 0;
};

// Where API keys are checked: the keys file of `aero keys`, or a table in the shared store.
class KeySource {
 public:
  virtual ~KeySource() = default;
  // True when at least one key (revoked or not) exists: then every request needs a key.
  virtual bool required() = 0;
  // The id of the key, or nullopt when it is unknown or revoked.
  virtual std::optional<std::string> lookup(std::string_view key) = 0;
};

struct StoreOptions {
  std::string sessions = "aero-sessions.db";  // SQLite path or postgresql:// URL
  std::string limits;  // "" (in-process, or the sessions URL when that is PostgreSQL),
                       // "local", or a postgresql:// URL
  std::string keys;    // keys file, postgresql:// URL, or empty (no keys)
  double requests_per_min = 0;
  double tokens_per_min = 0;
};

struct ServerState {
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<RateLimits> limits;
  std::unique_ptr<KeySource> keys;
};

// Opens (and migrates) the stores. Errors name the option and the URL, never a password.
ServerState open_state(const StoreOptions& o);

bool is_postgres_url(std::string_view s);
// "postgresql://u:secret@h/db" -> "postgresql://u:***@h/db".
std::string redact_url(const std::string& url);

// A session's title: its first user message, cut to 80 bytes on a UTF-8 boundary.
std::string session_title(const std::vector<ChatMessage>& messages);

// A fresh random session id: "s_" + 24 hex digits.
std::string new_session_id();

}  // namespace aero::server
