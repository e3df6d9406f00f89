#include "server/store/pg.h"

#include <cstdlib>

#include "core/log.h"

namespace aero::server::pg {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kFailFast = std::chrono::milliseconds(500);

// Schema versions, applied in order in one transaction under an advisory lock, so replicas
// starting together migrate once. Never edit one that shipped; add the next.
struct Migration {
  const char* name;
  const char* sql;
};
const Migration kMigrations[] = {
    {"sessions and messages (the SQLite store's schema)",
     "CREATE TABLE sessions (id text PRIMARY KEY, key_id text NOT NULL,"
     "  created double precision NOT NULL, updated double precision NOT NULL,"
     "  title text NOT NULL DEFAULT '');"
     "CREATE INDEX sessions_by_key ON sessions (key_id, updated);"
     "CREATE TABLE messages (session_id text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
     "  seq integer NOT NULL, role text NOT NULL, content text NOT NULL,"
     "  created double precision NOT NULL, turn_id text NOT NULL DEFAULT '',"
     "  PRIMARY KEY (session_id, seq));"},
    {"API keys shared by replicas (SHA-256 of each key, as in the keys file)",
     "CREATE TABLE api_keys (id text PRIMARY KEY, name text NOT NULL DEFAULT '',"
     "  sha256 text NOT NULL UNIQUE, created bigint NOT NULL,"
     "  revoked boolean NOT NULL DEFAULT false);"},
    // The token buckets of limits.h, refilled on the database's clock so replicas on machines
    // with skewed clocks agree; one row lock per admission.
    {"per-key rate-limit buckets",
     "CREATE TABLE rate_buckets (key_id text PRIMARY KEY, requests double precision NOT NULL,"
     "  tokens double precision NOT NULL, at double precision NOT NULL);"
     "CREATE FUNCTION aero_refill(k text, rpm double precision, tpm double precision)"
     "  RETURNS rate_buckets AS $$"
     "DECLARE now_s double precision := extract(epoch FROM clock_timestamp()); b rate_buckets;"
     "BEGIN"
     "  INSERT INTO rate_buckets VALUES (k, rpm, tpm, now_s) ON CONFLICT (key_id) DO NOTHING;"
     "  SELECT * INTO b FROM rate_buckets WHERE key_id = k FOR UPDATE;"
     "  b.requests := least(rpm, b.requests + greatest(0, now_s - b.at) / 60 * rpm);"
     "  b.tokens := least(tpm, b.tokens + greatest(0, now_s - b.at) / 60 * tpm);"
     "  b.at := greatest(b.at, now_s);"
     "  RETURN b;"
     "END $$ LANGUAGE plpgsql;"
     // Seconds to wait (0: admitted, and one request taken).
     "CREATE FUNCTION aero_admit(k text, rpm double precision, tpm double precision)"
     "  RETURNS double precision AS $$"
     "DECLARE b rate_buckets := aero_refill(k, rpm, tpm); wait double precision := 0;"
     "BEGIN"
     "  IF rpm > 0 AND b.requests < 1 THEN wait := greatest(wait, (1 - b.requests) * 60 / rpm);"
     "  END IF;"
     "  IF tpm > 0 AND b.tokens <= 0 THEN wait := greatest(wait, (1 - b.tokens) * 60 / tpm);"
     "  END IF;"
     "  IF wait = 0 AND rpm > 0 THEN b.requests := b.requests - 1; END IF;"
     "  UPDATE rate_buckets SET requests = b.requests, tokens = b.tokens, at = b.at"
     "    WHERE key_id = k;"
     "  RETURN wait;"
     "END $$ LANGUAGE plpgsql;"
     "CREATE FUNCTION aero_charge(k text, rpm double precision, tpm double precision,"
     "  n double precision) RETURNS void AS $$"
     "DECLARE b rate_buckets := aero_refill(k, rpm, tpm);"
     "BEGIN"
     "  UPDATE rate_buckets SET requests = b.requests, tokens = b.tokens - n, at = b.at"
     "    WHERE key_id = k;"
     "END $$ LANGUAGE plpgsql;"},
};
constexpr int kLatest = int(std::size(kMigrations));

bool connection_lost(PGconn* c, const PGresult* r) {
  if (PQstatus(c) != CONNECTION_OK) return true;
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (!state) return r == nullptr;
  const std::string s = state;
  // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
  return s.rfind("08", 0) == 0 || s == "57P01" || s == "57P02" || s == "57P03";
}

}  // namespace

std::string one_line(const char* msg) {
  std::string out;
  for (const char* p = msg ? msg : ""; *p; p++) {
    const char c = (*p == '\n' || *p == '\t') ? ' ' : *p;
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

double Result::real(int row, int col) const {
  return std::strtod(PQgetvalue(r_, row, col), nullptr);
}
int64_t Result::integer(int row, int col) const {
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}
int Result::affected() const { return std::atoi(PQcmdTuples(r_)); }

Result exec(PGconn* c, const char* sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  // Without parameters, the simple protocol: a migration is several statements in one string.
  Result r(params.empty() ? PQexec(c, sql)
                          : PQexecParams(c, sql, int(values.size()), nullptr, values.data(),
                                         nullptr, nullptr, 0));
  const PGresult* raw = r.raw();
  const ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  const std::string why = one_line(raw ? PQresultErrorMessage(raw) : PQerrorMessage(c));
  if (connection_lost(c, raw)) throw ConnLost{why.empty() ? one_line(PQerrorMessage(c)) : why};
  fail("[sessions] PostgreSQL: ", why);
}

Pool::Pool(std::string url, int size) : url_(std::move(url)), shown_(redact_url(url_)) {
  std::string error;
  PGconn* first = connect(error);
  if (!first) fail("[sessions] cannot connect to PostgreSQL at ", shown_, ": ", error);
  auto c = std::make_unique<Conn>();
  c->pg = first;
  try {
    migrate(first);
  } catch (const ConnLost& e) {
    PQfinish(first);
    fail("[sessions] PostgreSQL at ", shown_, " went away while migrating: ", e.message);
  } catch (...) {
    PQfinish(first);
    throw;
  }
  idle_.push_back(c.get());
  conns_.push_back(std::move(c));
  // The others connect when first needed.
  for (int i = 1; i < size; i++) {
    conns_.push_back(std::make_unique<Conn>());
    idle_.push_back(conns_.back().get());
  }
}

Pool::~Pool() {
  for (auto& c : conns_) PQfinish(c->pg);
}

PGconn* Pool::connect(std::string& error) {
  // The URL's own parameters win over these defaults (expand_dbname). Keepalives and the TCP
  // user timeout turn a silent network partition into an error within seconds, instead of a
  // query that hangs for the kernel's retransmission timeout (minutes).
  const char* keys[] = {
      "connect_timeout",  "application_name", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "dbname",          nullptr};
  const char* vals[] = {"3", "aero serve", "5", "2", "3", "10000", url_.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, 1);
  if (c && PQstatus(c) == CONNECTION_OK) {
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
  }
  error = c ? one_line(PQerrorMessage(c)) : "out of memory";
  PQfinish(c);
  return nullptr;
}

void Pool::migrate(PGconn* c) {
  exec(c, "BEGIN");
  try {
    exec(c, "SELECT pg_advisory_xact_lock(7262896575)");  // any constant; "aero" on a phone pad
    exec(c,
         "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
         "  name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())");
    Result v = exec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int version = int(v.integer(0, 0));
    AERO_CHECK(version <= kLatest, "[sessions] PostgreSQL at ", shown_, ": schema version ",
               version, " is newer than this aero knows (", kLatest, "); upgrade aero");
    for (; version < kLatest; version++) {
      exec(c, kMigrations[version].sql);
      exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
           {std::to_string(version + 1), kMigrations[version].name});
      log_info("[sessions] PostgreSQL schema migrated to version ", version + 1, ": ",
               kMigrations[version].name);
    }
    exec(c, "COMMIT");
  } catch (...) {
    PQclear(PQexec(c, "ROLLBACK"));
    throw;
  }
}

Pool::Conn* Pool::acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty(); });
  Conn* c = idle_.back();
  idle_.pop_back();
  return c;
}

void Pool::release(Conn* c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
  }
  cv_.notify_one();
}

void Pool::unavailable(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    down_until_ = Clock::now() + kFailFast;
    last_error_ = why;
  }
  throw StoreUnavailable(cat("[sessions] the session store (PostgreSQL at ", shown_,
                             ") is unavailable: ", why, "; retry shortly"));
}

void Pool::run(const std::function<void(PGconn*)>& f) {
  {
    std::lock_guard lock(mu_);
    if (Clock::now() < down_until_)
      throw StoreUnavailable(cat("[sessions] the session store (PostgreSQL at ", shown_,
                                 ") is unavailable: ", last_error_, "; retry shortly"));
  }
  Conn* c = acquire();
  struct Release {
    Pool* pool;
    Conn* c;
    ~Release() { pool->release(c); }
  } guard{this, c};
  std::string why;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
      PQfinish(c->pg);
      c->pg = connect(why);
      if (!c->pg) unavailable(why);
    }
    try {
      f(c->pg);
      return;
    } catch (const ConnLost& e) {
      why = e.message;
      PQfinish(c->pg);
      c->pg = nullptr;  // a server restart kills every pooled connection: retry on a new one
    } catch (...) {
      if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) PQclear(PQexec(c->pg, "ROLLBACK"));
      throw;
    }
  }
  unavailable(why);
}

bool Pool::healthy() {
  try {
    run([](PGconn* c) { exec(c, "SELECT 1"); });
    return true;
  } catch (const StoreUnavailable&) {
    return false;
  }
}

}  // namespace aero::server::pg
