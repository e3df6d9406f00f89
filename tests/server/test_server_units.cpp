// Unit tests of the server's pure parts: request parsing/validation, SHA-256, the key file,
// token-bucket limits, the session store and the metrics text.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "server/keys.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/store/pg.h"
#include "server/store/postgres.h"
#include "server/store/sqlite.h"

namespace aero::server {
namespace {

ApiRequest parse(Route r, const std::string& body) { return parse_api_request(r, body, {}); }

// The status and the message of the ApiError that body raises.
std::pair<int, std::string> error_of(Route r, const std::string& body, RequestLimits lim = {}) {
  try {
    parse_api_request(r, body, lim);
  } catch (const ApiError& e) {
    return {e.status, e.what()};
  }
  return {0, ""};
}

TEST(ServerRequest, ChatCompletionFields) {
  ApiRequest r = parse(Route::chat_completions, R"({"model": "m", "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
      "max_tokens": 5, "temperature": 0, "top_p": 0.5, "top_k": 3, "min_p": 0.1,
      "repetition_penalty": 1.2, "seed": -1, "stop": "x", "stream": true, "n": 1,
      "stream_options": {"include_usage": true}, "user": "ignored", "presence_penalty": 0})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "hi there");
  EXPECT_EQ(*r.max_tokens, 5);
  EXPECT_EQ(r.temperature, 0.0f);
  EXPECT_EQ(r.top_k, 3);
  EXPECT_EQ(*r.seed, ~uint64_t(0));
  EXPECT_EQ(r.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(parse(Route::chat_completions, R"({"messages": [{"role": "user", "content": "a"}],
      "max_tokens": null, "stop": ["a", "b"]})")
                .stop.size(),
            2u);
}

TEST(ServerRequest, BeamSearchFields) {
  const std::string m = R"("messages": [{"role": "user", "content": "hi"}])";
  ApiRequest r = parse(Route::chat_completions, "{" + m + R"(, "num_beams": 4,
      "length_penalty": 0.6, "early_stopping": true, "no_repeat_ngram_size": 3})");
  EXPECT_EQ(r.beam.num_beams, 4);
  EXPECT_FLOAT_EQ(r.beam.length_penalty, 0.6f);
  EXPECT_TRUE(r.beam.early_stopping);
  EXPECT_EQ(r.beam.no_repeat_ngram_size, 3);
  EXPECT_EQ(parse(Route::completions, R"({"prompt": "a", "n_beams": 2})").beam.num_beams, 2);
  EXPECT_EQ(parse(Route::completions, R"({"prompt": "a"})").beam.num_beams, 1);
  EXPECT_EQ(error_of(Route::completions, R"({"prompt": "a", "num_beams": 0})").first, 400);
  EXPECT_NE(error_of(Route::completions, R"({"prompt": "a", "early_stopping": 1})")
                .second.find("early_stopping must be a boolean"),
            std::string::npos);
}

TEST(ServerRequest, StepsField) {
  EXPECT_TRUE(parse(Route::ws_message, R"({"message": "a", "steps": true})").steps);
  EXPECT_FALSE(parse(Route::ws_message, R"({"message": "a"})").steps);
  EXPECT_NE(error_of(Route::ws_message, R"({"message": "a", "steps": 1})")
                .second.find("steps must be a boolean"),
            std::string::npos);
}

// A masked-diffusion model's sampler settings, in their own object (so /ws's boolean "steps"
// keeps its meaning); each error names the field, param included.
TEST(ServerRequest, DiffusionFields) {
  ApiRequest r = parse(Route::ws_message, R"({"message": "a", "steps": true, "diffusion": {
      "gen_length": 16, "steps": 8, "block_length": 4, "remasking": "margin", "threshold": 0.9,
      "cfg_scale": 1.5, "eos_confidence": 0.5}})");
  EXPECT_TRUE(r.steps);
  EXPECT_EQ(*r.diffusion.gen_length, 16);
  EXPECT_EQ(*r.diffusion.steps, 8);
  EXPECT_EQ(*r.diffusion.block_length, 4);
  EXPECT_EQ(*r.diffusion.remasking, Remasking::margin);
  EXPECT_FLOAT_EQ(*r.diffusion.threshold, 0.9f);
  EXPECT_FLOAT_EQ(*r.diffusion.cfg_scale, 1.5f);
  EXPECT_FLOAT_EQ(*r.diffusion.eos_confidence, 0.5f);
  EXPECT_FALSE(parse(Route::completions, R"({"prompt": "a"})").diffusion.any());
  EXPECT_FALSE(parse(Route::completions, R"({"prompt": "a", "diffusion": {}})").diffusion.any());
  struct Case {
    std::string diffusion, param, needle;
  } cases[] = {
      {R"(3)", "diffusion", "diffusion must be an object, got integer"},
      {R"({"remasking": "lowest"})", "diffusion.remasking",
       "diffusion.remasking must be one of low_confidence"},
      {R"({"steps": 0})", "diffusion.steps", "diffusion.steps must be an integer in [1"},
      {R"({"block_length": 2.5})", "diffusion.block_length", "diffusion.block_length"},
      {R"({"gen_length": "8"})", "diffusion.gen_length", "diffusion.gen_length must be an integer"},
      {R"({"threshold": 1.5})", "diffusion.threshold", "diffusion.threshold must be in [0, 1]"},
      {R"({"cfg_scale": -1})", "diffusion.cfg_scale", "diffusion.cfg_scale must be in [0"},
      {R"({"eos_confidence": 0})", "diffusion.eos_confidence", "must be in (0, 1]"},
      {R"({"step": 4})", "diffusion.step", "diffusion.step is not a diffusion setting"},
  };
  for (const Case& k : cases) {
    try {
      parse_api_request(Route::completions, R"({"prompt": "a", "diffusion": )" + k.diffusion + "}",
                        {});
      ADD_FAILURE() << k.diffusion << " accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.param, k.param) << k.diffusion;
      EXPECT_NE(std::string(e.what()).find(k.needle), std::string::npos)
          << k.diffusion << " -> " << e.what();
    }
  }
}

TEST(ServerRequest, ErrorsNameTheField) {
  const Route c = Route::chat_completions;
  const std::string m = R"("messages": [{"role": "user", "content": "hi"}])";
  struct Case {
    std::string body, needle;
  } cases[] = {
      {"{", "malformed JSON"},
      {"", "malformed JSON"},
      {"[]", "must be a JSON object"},
      {"{}", "messages is required"},
      {R"({"messages": "hi"})", "messages must be an array"},
      {R"({"messages": []})", "must not be empty"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content is required"},
      {R"({"messages": [{"role": 1, "content": "x"}]})", "messages[0].role must be a string"},
      {R"({"messages": [{"role": "bot", "content": "x"}]})", "messages[0].role must be"},
      {R"({"messages": [{"role": "assistant", "content": "x"}]})", "last message"},
      {"{" + m + R"(, "max_tokens": -1})", "max_tokens must be an integer in [1"},
      {"{" + m + R"(, "max_tokens": 0})", "max_tokens"},
      {"{" + m + R"(, "max_tokens": 1.5})", "max_tokens"},
      {"{" + m + R"(, "max_tokens": "5"})", "max_tokens must be an integer, got string"},
      {"{" + m + R"(, "temperature": 3})", "temperature must be in [0, 2]"},
      {"{" + m + R"(, "temperature": "hot"})", "temperature must be a number"},
      {"{" + m + R"(, "top_p": 0})", "top_p must be in (0, 1]"},
      {"{" + m + R"(, "top_k": -1})", "top_k"},
      {"{" + m + R"(, "n": 2})", "n must be 1"},
      {"{" + m + R"(, "stream": 1})", "stream must be a boolean"},
      {"{" + m + R"(, "stop": 5})", "stop must be a string or an array"},
      {"{" + m + R"(, "stop": ["a", "b", "c", "d", "e"]})", "at most 4"},
      {"{" + m + R"(, "stop": [""]})", "must not be empty"},
      {"{" + m + R"(, "seed": 1e30})", "seed"},
      {"{" + m + R"(, "seed": 9223372036854775808.0})", "seed"},
      {"{" + m + R"(, "seed": 18446744073709551615})", "seed"},
  };
  for (const Case& k : cases) {
    auto [status, msg] = error_of(c, k.body);
    EXPECT_EQ(status, 400) << k.body;
    EXPECT_NE(msg.find(k.needle), std::string::npos) << k.body << " -> " << msg;
    EXPECT_EQ(msg.rfind("[server] ", 0), 0u) << msg;
  }
  RequestLimits small;
  small.max_body_bytes = 10;
  EXPECT_EQ(error_of(c, "{" + m + "}", small).first, 400);
}

TEST(ServerRequest, SeedChatAndCompletions) {
  ApiRequest r = parse(Route::seed_chat, R"({"message": "hi", "session_id": "s_1-A"})");
  EXPECT_EQ(r.message, "hi");
  EXPECT_EQ(r.session_id, "s_1-A");
  EXPECT_TRUE(r.stream);
  EXPECT_NE(error_of(Route::ws_message, R"({"message": "hi", "session_id": "a/b"})")
                .second.find("session_id"),
            std::string::npos);
  EXPECT_NE(error_of(Route::seed_chat, R"({"message": ""})").second.find("must not be empty"),
            std::string::npos);
  EXPECT_EQ(parse(Route::completions, R"({"prompt": ["once"]})").prompt, "once");
  EXPECT_EQ(error_of(Route::completions, R"({"prompt": ["a", "b"]})").first, 400);
  EXPECT_EQ(error_of(Route::completions, R"({"prompt": 3})").first, 400);
}

TEST(ServerRequest, ErrorBodyIsOpenAIShape) {
  ApiError e(429, "rate_limit_exceeded", "", "[server] slow down");
  EXPECT_EQ(
      error_body(e),
      R"({"error":{"code":null,"message":"[server] slow down","param":null,"type":"rate_limit_exceeded"}})");
  ApiError f(400, "invalid_request_error", "top_p", "bad \xff byte");
  EXPECT_NE(error_body(f).find(R"("param":"top_p")"), std::string::npos);  // invalid UTF-8 replaced
}

TEST(ServerKeys, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ServerKeys, FileAddRevokeAndRegistry) {
  const std::string path = testing::TempDir() + "aero_keys_" + std::to_string(getpid()) + ".json";
  std::filesystem::remove(path);
  KeyRegistry none("");
  EXPECT_FALSE(none.required());
  KeyRegistry reg(path);
  EXPECT_FALSE(reg.required());  // no file yet
  KeyFile f(path);
  auto [a, key_a] = f.add("alice");
  auto [b, key_b] = f.add("bob");
  f.save();
  EXPECT_NE(key_a, key_b);
  EXPECT_EQ(a.sha256, sha256_hex(key_a));
  EXPECT_TRUE(reg.required());
  EXPECT_EQ(reg.lookup(key_a).value_or(""), a.id);
  EXPECT_FALSE(reg.lookup("sk-aero-nope"));
  KeyFile g(path);
  ASSERT_EQ(g.records().size(), 2u);
  g.revoke(b.id);
  EXPECT_THROW(g.revoke("key_unknown"), Error);
  g.save();
  EXPECT_FALSE(reg.lookup(key_b));  // the registry re-reads the changed file
  EXPECT_TRUE(reg.lookup(key_a));
  std::filesystem::remove(path);
}

TEST(ServerLimits, TokenBucketRefillsAndSaysWhen) {
  using namespace std::chrono;
  RateLimiter lim(60, 100);  // one request per second, 100 tokens per minute
  const auto t0 = RateLimiter::Clock::time_point{} + hours(1);
  for (int i = 0; i < 60; i++) EXPECT_EQ(lim.admit("k", t0), 0) << i;
  EXPECT_EQ(lim.admit("k", t0), 1);  // empty: retry in a second
  EXPECT_EQ(lim.admit("other", t0), 0);
  EXPECT_EQ(lim.admit("k", t0 + milliseconds(1001)), 0);
  RateLimiter tok(0, 60);  // one token per second
  EXPECT_EQ(tok.admit("k", t0), 0);
  tok.charge("k", 70, t0);  // 10 in debt
  EXPECT_EQ(tok.admit("k", t0), 11);
  EXPECT_EQ(tok.admit("k", t0 + seconds(11)), 0);
  RateLimiter off(0, 0);
  for (int i = 0; i < 1000; i++) EXPECT_EQ(off.admit("k", t0), 0);
}

// The semantics every SessionStore keeps (SQLite here; PostgreSQL in ServerPg below).
// `reopen` gives a fresh connection to the same store: what was appended must be there.
void check_store(const std::function<std::unique_ptr<SessionStore>()>& reopen) {
  {
    auto s = reopen();
    EXPECT_TRUE(s->healthy());
    EXPECT_TRUE(s->append("s1", "alice", {{"user", "hi"}, {"assistant", "hello"}}, "t1"));
    EXPECT_TRUE(s->append("s1", "alice", {{"user", "again"}, {"assistant", "yes"}}, "t2"));
    EXPECT_FALSE(s->append("s1", "bob", {{"user", "mine?"}}, "t3"));
    EXPECT_FALSE(s->history("s1", "bob"));
    EXPECT_TRUE(s->exists("s1"));
    EXPECT_FALSE(s->exists("s9"));
    EXPECT_FALSE(s->remove("s1", "bob"));
    EXPECT_TRUE(s->append("s2", "alice",
                          {{"user", std::string(100, 'x') + "\xc3\xa9"}, {"assistant", ""}}, "t4"));
    EXPECT_EQ(s->list("alice").size(), 2u);
    EXPECT_TRUE(s->list("bob").empty());
  }
  auto s = reopen();  // everything is there, in order
  auto h = s->history("s1", "alice");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 4u);
  EXPECT_EQ((*h)[0].content, "hi");
  EXPECT_EQ((*h)[2].content, "again");
  EXPECT_EQ((*h)[3].role, "assistant");
  EXPECT_EQ(s->info("s1", "alice")->messages, 4);
  EXPECT_FALSE(s->info("s1", "bob"));
  EXPECT_EQ(s->info("s2", "alice")->title.size(), 80u);
  EXPECT_EQ(s->list("alice").front().id, "s2");  // newest first
  EXPECT_TRUE(s->remove("s1", "alice"));
  EXPECT_FALSE(s->history("s1", "alice"));
  EXPECT_FALSE(s->exists("s1"));
  EXPECT_NE(new_session_id(), new_session_id());
}

TEST(ServerSessions, SqliteAppendHistoryOwnershipAndReopen) {
  const std::string path = testing::TempDir() + "aero_sessions_" + std::to_string(getpid()) + ".db";
  std::filesystem::remove(path);
  check_store([&] { return std::make_unique<SqliteSessionStore>(path); });
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
}

// A store written by the first release (schema version 1) opens, keeps its sessions and takes
// new turns; a store from a newer aero is refused with a message.
TEST(ServerSessions, SqliteMigratesVersion1) {
  const std::string path = testing::TempDir() + "aero_v1_" + std::to_string(getpid()) + ".db";
  std::filesystem::remove(path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
                         "INSERT INTO meta VALUES ('format', 'aero-sessions'), ('version', '1');"
                         "CREATE TABLE sessions (id TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
                         "  created REAL NOT NULL, updated REAL NOT NULL, title TEXT NOT NULL "
                         "  DEFAULT '');"
                         "CREATE TABLE messages (session_id TEXT NOT NULL REFERENCES sessions(id)"
                         "  ON DELETE CASCADE, seq INTEGER NOT NULL, role TEXT NOT NULL, content "
                         "  TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (session_id, seq));"
                         "INSERT INTO sessions VALUES ('old', 'alice', 1, 1, 'hi');"
                         "INSERT INTO messages VALUES ('old', 0, 'user', 'hi', 1),"
                         "  ('old', 1, 'assistant', 'hello', 1);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  {
    SqliteSessionStore s(path);
    EXPECT_TRUE(s.append("old", "alice", {{"user", "more"}, {"assistant", "yes"}}, "t"));
    auto h = s.history("old", "alice");
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 4u);
    EXPECT_EQ((*h)[1].content, "hello");
  }
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET v = '99' WHERE k = 'version'", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    SqliteSessionStore s(path);
    ADD_FAILURE() << "a newer schema was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this aero knows"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
}

TEST(ServerStore, UrlsAndBadSchemes) {
  EXPECT_TRUE(is_postgres_url("postgresql://u@h/db"));
  EXPECT_TRUE(is_postgres_url("postgres://h/db"));
  EXPECT_FALSE(is_postgres_url("sessions.db"));
  EXPECT_EQ(redact_url("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
  try {
    open_state({"mysql://u:pw@h/db", "", "", 0, 0});
    ADD_FAILURE() << "mysql:// accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("unsupported URL scheme \"mysql\""), std::string::npos) << m;
    EXPECT_EQ(m.find("pw"), std::string::npos) << "password in the message: " << m;
  }
}

// PostgreSQL: run by tests/server/pg_units.sh, which starts a throwaway cluster and passes its
// URL (DISABLED_ here, so the plain unit run, which has no PostgreSQL, does not list them).
std::string pg_url() {
  const char* url = std::getenv("AERO_TEST_PG_URL");
  if (!url) throw Error("set AERO_TEST_PG_URL (tests/server/pg_units.sh does)");
  return url;
}

TEST(ServerPg, DISABLED_SessionsSameSemanticsAsSqlite) {
  const std::string url = pg_url();
  check_store([&] { return std::make_unique<PgSessionStore>(open_pg_pool(url)); });
  // A retried append (the connection died at COMMIT) does not store the turn twice.
  PgSessionStore s(open_pg_pool(url));
  EXPECT_TRUE(s.append("r1", "alice", {{"user", "a"}, {"assistant", "b"}}, "turn-1"));
  EXPECT_TRUE(s.append("r1", "alice", {{"user", "a"}, {"assistant", "b"}}, "turn-1"));
  EXPECT_EQ(s.history("r1", "alice")->size(), 2u);
  EXPECT_TRUE(s.healthy());
  EXPECT_EQ(s.describe().find("secret"), std::string::npos);
}

TEST(ServerPg, DISABLED_ConcurrentAppendsFromTwoReplicas) {
  const std::string url = pg_url();
  PgSessionStore a(open_pg_pool(url)), b(open_pg_pool(url));
  auto writer = [](PgSessionStore& s, const char* who) {
    for (int i = 0; i < 20; i++)
      EXPECT_TRUE(
          s.append("shared", "k", {{"user", cat(who, i)}, {"assistant", "ok"}}, cat(who, "-", i)));
  };
  std::thread ta(writer, std::ref(a), "a"), tb(writer, std::ref(b), "b");
  ta.join();
  tb.join();
  auto h = a.history("shared", "k");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 80u);
  for (size_t i = 0; i < h->size(); i += 2) {  // turns never interleave
    EXPECT_EQ((*h)[i].role, "user");
    EXPECT_EQ((*h)[i + 1].role, "assistant");
  }
}

TEST(ServerPg, DISABLED_LimitsCountedAcrossReplicas) {
  const std::string url = pg_url();
  PgRateLimits a(open_pg_pool(url), 6, 0), b(open_pg_pool(url), 6, 0);
  for (int i = 0; i < 6; i++) EXPECT_EQ((i % 2 ? b : a).admit("shared-key"), 0) << i;
  const int wait = a.admit("shared-key");
  EXPECT_GE(wait, 1);  // one request every 10 s
  EXPECT_LE(wait, 10);
  EXPECT_GE(b.admit("shared-key"), 1);
  EXPECT_EQ(a.admit("other-key"), 0);
  PgRateLimits tok(open_pg_pool(url), 0, 60);  // one token per second
  EXPECT_EQ(tok.admit("tok-key"), 0);
  tok.charge("tok-key", 70);  // 10 in debt
  const int w = tok.admit("tok-key");
  EXPECT_GE(w, 10);
  EXPECT_LE(w, 12);
}

TEST(ServerPg, DISABLED_KeysRevokedEverywhereWithinASecond) {
  const std::string url = pg_url();
  PgKeyAdmin admin(open_pg_pool(url));
  auto [rec, key] = admin.create("alice");
  PgKeySource a(open_pg_pool(url)), b(open_pg_pool(url));
  EXPECT_TRUE(a.required());
  EXPECT_EQ(a.lookup(key), rec.id);
  EXPECT_EQ(b.lookup(key), rec.id);
  EXPECT_FALSE(a.lookup("sk-aero-wrong"));
  admin.revoke_key(rec.id);
  std::this_thread::sleep_for(PgKeySource::kRefresh + std::chrono::milliseconds(50));
  EXPECT_FALSE(a.lookup(key));
  EXPECT_FALSE(b.lookup(key));
  EXPECT_THROW(admin.revoke_key("key_nope"), Error);
  bool listed = false;
  for (const ApiKeyRecord& r : admin.all()) listed |= r.id == rec.id && r.revoked;
  EXPECT_TRUE(listed);
}

TEST(ServerPg, DISABLED_NewerSchemaRefused) {
  const std::string url = pg_url();
  open_pg_pool(url);              // migrated
  auto pool = open_pg_pool(url);  // again: nothing to do
  pool->run([](PGconn* c) {
    pg::exec(c, "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')");
  });
  try {
    open_pg_pool(url);
    ADD_FAILURE() << "a newer schema was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this aero knows"), std::string::npos)
        << e.what();
  }
  pool->run([](PGconn* c) { pg::exec(c, "DELETE FROM schema_migrations WHERE version = 99"); });
}

TEST(ServerPg, DISABLED_UnreachableIsAClearError) {
  try {
    open_pg_pool("postgresql://aero:secret@127.0.0.1:1/aero");
    ADD_FAILURE() << "connected to port 1";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[sessions] cannot connect to PostgreSQL at postgresql://aero:***@"),
              std::string::npos)
        << m;
    EXPECT_EQ(m.find("secret"), std::string::npos) << m;
  }
}

TEST(ServerMetrics, PrometheusText) {
  Metrics m;
  m.request("/v1/models", 200);
  m.request("/v1/models", 200);
  m.request("/chat", 429);
  m.tokens(10, 5);
  m.ttft(0.02);
  m.latency("/chat", 0.3);
  m.queue_depth = 3;
  const std::string t = m.render();
  EXPECT_NE(t.find("aero_requests_total{endpoint=\"/v1/models\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("aero_errors_total{endpoint=\"/chat\",status=\"429\"} 1\n"), std::string::npos);
  EXPECT_EQ(t.find("aero_errors_total{endpoint=\"/v1/models\""), std::string::npos);
  EXPECT_NE(t.find("aero_generated_tokens_total 5\n"), std::string::npos);
  EXPECT_NE(t.find("aero_time_to_first_token_seconds_bucket{le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("aero_time_to_first_token_seconds_bucket{le=\"0.01\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("aero_request_duration_seconds_bucket{endpoint=\"/chat\",le=\"+Inf\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("aero_queue_depth 3\n"), std::string::npos);
  EXPECT_GT(resident_bytes(), 1u << 20);
  // Behind a load balancer every series says which replica it comes from.
  m.set_replica("a\"1");
  const std::string r = m.render();
  EXPECT_NE(
      r.find("aero_requests_total{replica=\"a\\\"1\",endpoint=\"/v1/models\",status=\"200\"} 2\n"),
      std::string::npos)
      << r;
  EXPECT_NE(r.find("aero_queue_depth{replica=\"a\\\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(r.find("aero_time_to_first_token_seconds_count{replica=\"a\\\"1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(r.find("aero_request_duration_seconds_bucket{replica=\"a\\\"1\",endpoint=\"/chat\","
                   "le=\"+Inf\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace aero::server
