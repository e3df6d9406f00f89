// Which implementation holds the server's state: a path is local (SQLite sessions, a keys file,
// in-process rate limits); a postgresql:// URL is the store that replicas share.
#include <algorithm>
#include <map>
#include <random>

#include "server/keys.h"
#include "server/limits.h"
#include "server/store/postgres.h"
#include "server/store/sqlite.h"
#include "server/store/store.h"

namespace aero::server {

bool is_postgres_url(std::string_view s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

std::string redact_url(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string new_session_id() {
  std::random_device rd;
  static const char* digits = "0123456789abcdef";
  std::string id = "s_";
  for (int i = 0; i < 24; i++) id += digits[rd() & 15];
  return id;
}

std::string session_title(const std::vector<ChatMessage>& messages) {
  for (const ChatMessage& m : messages)
    if (m.role == "user") {
      size_t n = std::min<size_t>(m.content.size(), 80);  // whole UTF-8 characters
      while (n > 0 && n < m.content.size() && (m.content[n] & 0xC0) == 0x80) n--;
      return m.content.substr(0, n);
    }
  return "";
}

namespace {

// A URL with a scheme aero does not speak is a mistake, not a file name.
void check_scheme(const std::string& option, const std::string& v) {
  const size_t scheme = v.find("://");
  if (scheme == std::string::npos || is_postgres_url(v)) return;
  fail("[server] ", option, " ", redact_url(v), ": unsupported URL scheme \"", v.substr(0, scheme),
       "\"; give a file path or a postgresql://user:password@host:port/database URL");
}

}  // namespace

ServerState open_state(const StoreOptions& o) {
  check_scheme("--sessions", o.sessions);
  check_scheme("--limits", o.limits);
  check_scheme("--keys", o.keys);
  AERO_CHECK(!o.sessions.empty(), "[server] --sessions is empty; give a SQLite file or a URL");
  AERO_CHECK(o.limits.empty() || o.limits == "local" || is_postgres_url(o.limits),
             "[server] --limits must be \"local\" or a postgresql:// URL, got \"", o.limits, "\"");
  std::map<std::string, std::shared_ptr<pg::Pool>> pools;  // one per URL
  auto pool = [&](const std::string& url) {
    auto& p = pools[url];
    if (!p) p = open_pg_pool(url);
    return p;
  };
  ServerState s;
  if (is_postgres_url(o.sessions))
    s.sessions = std::make_unique<PgSessionStore>(pool(o.sessions));
  else
    s.sessions = std::make_unique<SqliteSessionStore>(o.sessions);
  // Limits follow the sessions to PostgreSQL unless told otherwise: replicas sharing sessions
  // are replicas that must share budgets.
  const std::string limits =
      o.limits.empty() && is_postgres_url(o.sessions) ? o.sessions : o.limits;
  if (is_postgres_url(limits))
    s.limits = std::make_unique<PgRateLimits>(pool(limits), o.requests_per_min, o.tokens_per_min);
  else
    s.limits = std::make_unique<RateLimiter>(o.requests_per_min, o.tokens_per_min);
  if (is_postgres_url(o.keys))
    s.keys = std::make_unique<PgKeySource>(pool(o.keys));
  else
    s.keys = std::make_unique<KeyRegistry>(o.keys);
  return s;
}

std::unique_ptr<KeyAdmin> open_key_admin(const std::string& store) {
  check_scheme("--store", store);
  if (is_postgres_url(store)) return std::make_unique<PgKeyAdmin>(open_pg_pool(store));
  return std::make_unique<KeyFile>(store);
}

}  // namespace aero::server
