// libpq connections to the shared PostgreSQL store: a small pool that reopens a lost
// connection and retries once, versioned migrations, and RAII results. Only store/*.cpp see it.
#pragma once
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/store/store.h"

namespace aero::server::pg {

// A query's result, cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  int rows() const { return PQntuples(r_); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col); }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), size_t(PQgetlength(r_, row, col)));
  }
  double real(int row, int col) const;
  int64_t integer(int row, int col) const;
  int affected() const;  // rows an INSERT / UPDATE / DELETE changed
  const PGresult* raw() const { return r_; }

 private:
  PGresult* r_;
};

// Runs one statement with text parameters ($1, $2, ...). A lost connection throws ConnLost
// (the pool reconnects and retries); any other failure throws Error naming `what`.
Result exec(PGconn* c, const char* sql, const std::vector<std::string>& params = {});

struct ConnLost {
  std::string message;
};

class Pool {
 public:
  // Connects once, so a wrong URL, a wrong password or a missing database is reported at start
  // with libpq's reason; then applies the migrations that are missing.
  Pool(std::string url, int size);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs f on a pooled connection (f runs its own transaction, and may be run twice: after a
  // lost connection it is retried once on a new one). Throws StoreUnavailable when PostgreSQL
  // cannot be reached; after a failure, calls within the next half second fail at once, so a
  // down store costs no connection attempts on the request path.
  void run(const std::function<void(PGconn*)>& f);
  bool healthy();  // a quick SELECT 1, unless a call just failed
  const std::string& where() const { return shown_; }  // the URL without its password

 private:
  struct Conn {
    PGconn* pg = nullptr;
  };
  PGconn* connect(std::string& error);
  void migrate(PGconn* c);
  Conn* acquire();
  void release(Conn* c);
  [[noreturn]] void unavailable(const std::string& why);

  std::string url_, shown_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> idle_;
  std::chrono::steady_clock::time_point down_until_{};
  std::string last_error_;
};

// libpq's multi-line messages on one line.
std::string one_line(const char* msg);

}  // namespace aero::server::pg
