#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "infer/chat.h"
#include "infer/engine.h"
#include "server/app.h"

namespace aero::server {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string random_id(const char* prefix) {
  std::random_device rd;
  static const char* digits = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; i++) id += digits[rd() & 15];
  return id;
}

// OpenAI's finish_reason from the engine's.
std::string openai_finish(const std::string& f) {
  if (f == "eos" || f == "stop") return "stop";
  if (f == "length" || f == "context") return "length";
  return f;  // cancelled, timeout, error
}

ApiError unauthorized(const std::string& msg) {
  return ApiError(401, "authentication_error", "", "[server] " + msg);
}

Reply json_reply(int status, const json& j) {
  return Reply{status, "application/json", dump(j), {}};
}

// {"error": {...}} -> {"type": "error", "error": {...}}: an error as a WebSocket message.
std::string ws_error(const std::string& body) {
  std::string s = "{\"type\":\"error\",";
  s.append(body, 1);
  return s;
}

}  // namespace

// One generation from admission to the last byte. Lives on the connection's strand once it
// started; the scheduler hands text and the result over with sink->post.
struct App::Exchange : std::enable_shared_from_this<App::Exchange> {
  App& app;
  std::shared_ptr<Sink> sink;
  Route route;
  ApiRequest req;
  std::string endpoint, key_id, session_id, id, model;
  std::vector<ChatMessage> to_store;  // the user's message, stored with the reply
  int64_t created = unix_now();
  Clock::time_point t0 = Clock::now();
  bool begun = false, ended = false, first_text = true;
  std::string text;
  std::shared_ptr<JobTicket> ticket;

  Exchange(App& a, std::shared_ptr<Sink> s, Route r, ApiRequest q)
      : app(a), sink(std::move(s)), route(r), req(std::move(q)) {}

  std::string chunk_json(const json& choice) const {
    const bool chat = route == Route::chat_completions;
    json j = {{"id", id},
              {"object", chat ? "chat.completion.chunk" : "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", json::array({choice})}};
    return cat("data: ", dump(j), "\n\n");
  }

  // The last SSE events of an OpenAI stream: usage (when asked for) and [DONE].
  void end_sse(const char* object, const json& usage) {
    if (req.include_usage) {
      json j = {{"id", id},       {"object", object},         {"created", created},
                {"model", model}, {"choices", json::array()}, {"usage", usage}};
      sink->send(cat("data: ", dump(j), "\n\n"));
    }
    sink->send("data: [DONE]\n\n");
  }

  // The whole answer of a request that did not stream, as one OpenAI JSON object.
  void send_whole(const char* object, json choice, const json& usage) {
    json j = {{"id", id},
              {"object", object},
              {"created", created},
              {"model", model},
              {"choices", json::array({std::move(choice)})},
              {"usage", usage}};
    sink->begin(200, "application/json", {});
    sink->send(dump(j));
  }

  // How a route writes its answer: the start (at admission when streaming, else with the first
  // text), each piece of text, a good end, and an error end.
  struct Wire {
    void (*begin)(Exchange& x);
    void (*text)(Exchange& x, const std::string& t);
    void (*end)(Exchange& x, const std::string& finish, const json& usage);
    void (*error)(Exchange& x, const ApiError& e, bool unstored);
  };
  static const Wire& wire(Route r);

  void begin_stream() {
    if (begun) return;
    begun = true;
    wire(route).begin(*this);
  }

  void on_text(const std::string& t) {
    if (ended) return;
    if (first_text) {
      first_text = false;
      app.metrics_.ttft(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    begin_stream();
    text += t;
    wire(route).text(*this, t);
  }

  // A WebSocket step message: the whole answer so far (SeqRequest::on_draft).
  void on_draft(const std::string& d) {
    if (ended) return;
    begin_stream();
    sink->send(dump({{"type", "step"}, {"text", d}}));
  }

  void on_done(const JobResult& r) {
    if (ended) return;
    ended = true;
    sink->on_close = nullptr;
    int status = 200;
    std::string error;
    if (r.finish == "error") {
      status = 500;
      error = r.error;
    } else if (r.finish == "timeout" && r.completion_tokens == 0) {
      status = 504;
      error = "[server] the request timed out before any output";
    }
    // A reply is stored before its stream ends, so a client that saw the end can rely on it.
    // The write (and the token charge) runs on the store thread; the end comes back here.
    auto self = shared_from_this();
    app.writer_.submit([self, r, status, error]() mutable {
      App& a = self->app;
      try {
        a.limiter_.charge(self->key_id, r.prompt_tokens + r.completion_tokens);
      } catch (const Error& e) {
        log_warn("[server] token charge of ", self->key_id, " not counted: ", e.what());
      }
      bool unstored = false;
      if (!self->session_id.empty() && status == 200) {
        std::vector<ChatMessage> msgs = self->to_store;
        msgs.push_back({"assistant", self->text});
        try {
          a.store_with_retry(self->session_id, self->key_id, msgs, self->id);
        } catch (const StoreUnavailable& e) {
          log_error(e.what());
          status = 503;
          error = e.what();
          unstored = true;
        } catch (const Error& e) {
          log_error(e.what());
          status = 500;
          error = e.what();
          unstored = true;
        }
      }
      self->sink->post(
          [self, r, status, error, unstored] { self->complete(r, status, error, unstored); });
    });
  }

  // The end of the answer, once its turn is stored.
  void complete(const JobResult& r, int status, const std::string& error, bool unstored) {
    app.metrics_.open_streams--;
    const double latency = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::string finish = openai_finish(r.finish);
    const json usage = {{"prompt_tokens", r.prompt_tokens},
                        {"completion_tokens", r.completion_tokens},
                        {"total_tokens", r.prompt_tokens + r.completion_tokens}};
    app.metrics_.tokens(r.prompt_tokens, r.completion_tokens);
    // Counted and logged before the last bytes go out: a client that saw the end finds them.
    app.metrics_.request(endpoint, status);
    app.metrics_.latency(endpoint, latency);
    json log = {{"key_id", key_id},
                {"endpoint", endpoint},
                {"method", route == Route::ws_message ? "WS" : "POST"},
                {"status", status},
                {"prompt_tokens", r.prompt_tokens},
                {"completion_tokens", r.completion_tokens},
                {"latency_ms", int64_t(latency * 1000)},
                {"finish", r.finish}};
    if (!session_id.empty()) log["session_id"] = session_id;
    if (!error.empty()) log["error"] = error;
    app.audit_.write(log);
    if (status != 200) {
      wire(route).error(
          *this, ApiError(status, status == 504 ? "timeout" : "server_error", "", error), unstored);
    } else {
      begin_stream();
      wire(route).end(*this, finish, usage);
    }
    sink->end();
  }
};

const App::Exchange::Wire& App::Exchange::wire(Route r) {
  using X = Exchange;
  // OpenAI's routes: an error before the stream is a JSON reply, after it an SSE event.
  static const auto openai_error = [](X& x, const ApiError& e, bool) {
    if (!x.begun) {
      x.sink->begin(e.status, "application/json", {});
      x.sink->send(error_body(e));
    } else {
      x.sink->send(cat("data: ", error_body(e), "\n\n"));
      x.sink->send("data: [DONE]\n\n");
    }
  };
  static const auto sse_begin = [](X& x) {
    if (x.req.stream) x.sink->begin(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
  };
  static const Wire table[] = {
      // Route::chat_completions
      {[](X& x) {
         sse_begin(x);
         if (x.req.stream)
           x.sink->send(x.chunk_json({{"index", 0},
                                      {"delta", {{"role", "assistant"}, {"content", ""}}},
                                      {"finish_reason", nullptr}}));
       },
       [](X& x, const std::string& t) {
         if (x.req.stream)
           x.sink->send(x.chunk_json(
               {{"index", 0}, {"delta", {{"content", t}}}, {"finish_reason", nullptr}}));
       },
       [](X& x, const std::string& finish, const json& usage) {
         if (!x.req.stream)
           return x.send_whole("chat.completion",
                               {{"index", 0},
                                {"message", {{"role", "assistant"}, {"content", x.text}}},
                                {"logprobs", nullptr},
                                {"finish_reason", finish}},
                               usage);
         x.sink->send(
             x.chunk_json({{"index", 0}, {"delta", json::object()}, {"finish_reason", finish}}));
         x.end_sse("chat.completion.chunk", usage);
       },
       openai_error},
      // Route::completions
      {sse_begin,
       [](X& x, const std::string& t) {
         if (x.req.stream)
           x.sink->send(x.chunk_json(
               {{"index", 0}, {"text", t}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
       },
       [](X& x, const std::string& finish, const json& usage) {
         if (!x.req.stream)
           return x.send_whole(
               "text_completion",
               {{"index", 0}, {"text", x.text}, {"logprobs", nullptr}, {"finish_reason", finish}},
               usage);
         x.sink->send(x.chunk_json(
             {{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", finish}}));
         x.end_sse("text_completion", usage);
       },
       openai_error},
      // Route::seed_chat: plain text, the session id in a header
      {[](X& x) {
         x.sink->begin(200, "text/plain; charset=utf-8",
                       {{"X-Session-ID", x.session_id}, {"Cache-Control", "no-cache"}});
       },
       [](X& x, const std::string& t) { x.sink->send(t); },
       [](X&, const std::string&, const json&) {},
       [](X& x, const ApiError& e, bool unstored) {
         // A reply that could not be stored must not look complete: a plain-text stream has no
         // way to say so but to end without its last chunk.
         if (x.begun && unstored) return x.sink->abort();
         if (!x.begun) {
           x.sink->begin(e.status, "application/json", {});
           x.sink->send(error_body(e));
         }
       }},
      // Route::ws_message: JSON messages start, token..., end (or error)
      {[](X& x) {
         x.sink->send(dump({{"type", "start"}, {"session_id", x.session_id}, {"id", x.id}}));
       },
       [](X& x, const std::string& t) {
         x.sink->send(dump({{"type", "token"}, {"text", t}}));
       },
       [](X& x, const std::string& finish, const json& usage) {
         x.sink->send(dump({{"type", "end"},
                            {"session_id", x.session_id},
                            {"usage", usage},
                            {"finish_reason", finish}}));
       },
       [](X& x, const ApiError& e, bool) { x.sink->send(ws_error(error_body(e))); }},
  };
  static_assert(sizeof(table) / sizeof(table[0]) == size_t(Route::ws_message) + 1,
                "one wire per route");
  return table[size_t(r)];
}

App::App(const ServeOptions& opts, std::function<void(const std::string&)> on_fatal)
    : opts_(opts),
      state_(open_state(
          {opts.sessions, opts.limits, opts.keys, opts.requests_per_min, opts.tokens_per_min})),
      store_(*state_.sessions),
      limiter_(*state_.limits),
      keys_(*state_.keys),
      audit_(opts.audit_log) {
  metrics_.set_replica(opts.replica_name);
  AERO_CHECK(opts.block_status == 400 || opts.block_status == 403,
             "[server] --block-status must be 400 or 403, got ", opts.block_status);
  AERO_CHECK(opts.max_queue >= 1, "[server] --max-queue must be >= 1");
  AERO_CHECK(opts.max_batch >= 1, "[server] --max-batch must be >= 1");
  limits_.max_body_bytes = opts.max_body_bytes;
  if (!opts.blocklist.empty()) {
    std::ifstream in(opts.blocklist);
    AERO_CHECK(in, "[server] cannot read the block list ", opts.blocklist);
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty() && line[0] != '#') blocked_.push_back(lower(line));
    }
  }
  if (opts.keys.empty() || !keys_.required())
    log_warn("[server] no API keys: every caller is accepted (create one with `aero keys add`)");
  auto load = [this]() {
    auto last_part = [](std::string p) {
      while (p.size() > 1 && p.back() == '/') p.pop_back();
      return p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
    };
    // "NAME=DIR" or "DIR" (named by its last part).
    std::vector<std::pair<std::string, std::string>> adapters;
    for (const std::string& a : opts_.adapters) {
      const size_t eq = a.find('=');
      adapters.emplace_back(eq == std::string::npos ? last_part(a) : a.substr(0, eq),
                            eq == std::string::npos ? a : a.substr(eq + 1));
      AERO_CHECK(!adapters.back().first.empty() && !adapters.back().second.empty(),
                 "[server] --adapter ", a, ": give DIR or NAME=DIR");
    }
    const bool apart = adapters.size() > 1 || (opts_.unmerged && !adapters.empty());
    const LoadedInference loaded =
        load_inference(opts_.model, opts_.format, opts_.tokenizer,
                       apart || adapters.empty() ? "" : adapters[0].second);
    auto models = std::make_shared<std::vector<ModelInfo>>();
    ModelInfo base;
    base.tokenizer = loaded.tok;
    base.name = !opts_.model_name.empty()   ? opts_.model_name
                : adapters.empty() || apart ? last_part(opts_.model)
                                            : adapters[0].first;
    base.seq2seq = loaded.model_config().arch().family == ModelFamily::seq2seq;
    models->push_back(base);
    if (apart) {
      AERO_CHECK(loaded.model_config().arch().family != ModelFamily::masked_lm, "[server] a '",
                 loaded.model_config().arch().name,
                 "' model serves one adapter, merged (give one --adapter, without --unmerged)");
      for (const auto& [name, dir] : adapters) {
        for (const ModelInfo& m : *models)
          AERO_CHECK(m.name != name, "[server] two models are named ", name,
                     " (name adapters with --adapter NAME=DIR)");
        ModelInfo info = base;
        info.name = name;
        info.adapter = load_served_adapter(opts_.model, dir, name, opts_.tokenizer);
        info.tokenizer = info.adapter->tok;
        models->push_back(std::move(info));
        log_info("[server] adapter ", name, " (", dir, ") over ", opts_.model, ": ",
                 models->back().adapter->weights->bytes() / 1024, " KiB");
      }
    }
    EngineOpts eo;
    eo.max_batch = opts_.max_batch;
    std::unique_ptr<Generator> generator = make_generator(loaded, eo);
    for (ModelInfo& m : *models) {
      m.context = generator->context();
      if (loaded.model_config().arch().family == ModelFamily::masked_lm)
        m.diffusion = diffusion_serve_opts(loaded.model_config(), eo);
    }
    std::atomic_store(&models_, std::shared_ptr<const std::vector<ModelInfo>>(models));
    model_ready_ = true;
    log_info("[server] model ", opts_.model,
             adapters.empty() || apart ? "" : " with adapter " + adapters[0].second + " merged",
             " loaded (", weight_format_name(loaded.format()), ", context ",
             models->front().context, ")");
    return generator;
  };
  scheduler_ = std::make_unique<Scheduler>(load, opts.max_queue, opts.max_batch, metrics_,
                                           std::move(on_fatal));
}

App::~App() = default;

void App::drain() {
  draining_ = true;
  scheduler_->drain(std::chrono::milliseconds(int64_t(opts_.grace_s * 1000)));
  writer_.flush();  // the turns of the streams that just finished
  store_.checkpoint();
}

void App::store_with_retry(const std::string& id, const std::string& key_id,
                           const std::vector<ChatMessage>& msgs, const std::string& turn_id) {
  // The store may come back (a PostgreSQL restart, a failover): keep the turn and retry with
  // backoff rather than lose it; the client waits for its end meanwhile.
  const auto until = Clock::now() + std::chrono::milliseconds(int64_t(opts_.store_retry_s * 1000));
  auto pause = std::chrono::milliseconds(50);
  for (;;) {
    try {
      if (!store_.append(id, key_id, msgs, turn_id))
        fail("[server] session ", id, " belongs to another key");
      return;
    } catch (const StoreUnavailable& e) {
      if (Clock::now() + pause > until)
        throw StoreUnavailable(cat(e.what(), " (the reply was not stored after ",
                                   opts_.store_retry_s, " s of retries)"));
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
  }
}

Reply App::error_reply(const ApiError& e) {
  Reply r{e.status, "application/json", error_body(e), {}};
  // Every 503 is passing (a full queue, a store coming back, a replica draining).
  if (e.status == 503) r.headers.push_back({"Retry-After", "1"});
  return r;
}

Reply App::finish(const std::string& endpoint, const std::string& method, const std::string& key_id,
                  double t0, Reply r) {
  metrics_.request(endpoint, r.status);
  const double latency = now_s() - t0;
  metrics_.latency(endpoint, latency);
  json log = {{"key_id", key_id},
              {"endpoint", endpoint},
              {"method", method},
              {"status", r.status},
              {"prompt_tokens", 0},
              {"completion_tokens", 0},
              {"latency_ms", int64_t(latency * 1000)}};
  if (r.status >= 400) {
    try {
      log["error"] = json::parse(r.body).at("error").at("message");
    } catch (const std::exception&) {
    }
  }
  audit_.write(log);
  return r;
}

Reply App::transport_error(const std::string& target, int status, const std::string& msg) {
  ApiError e(status, "invalid_request_error", "", "[server] " + msg);
  return finish("other", "?", "", now_s(), error_reply(e));
}

std::string App::authenticate(const HttpRequest& req) {
  std::string key;
  auto auth = req.find(http::field::authorization);
  if (auth != req.end()) {
    std::string v(auth->value());
    if (v.rfind("Bearer ", 0) == 0) key = v.substr(7);
  }
  auto x = req.find("x-api-key");
  if (key.empty() && x != req.end()) key = std::string(x->value());
  if (!keys_.required()) return "anonymous";
  if (key.empty())
    throw unauthorized(
        "missing API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'");
  auto id = keys_.lookup(key);
  if (!id) throw unauthorized("invalid or revoked API key");
  return *id;
}

void App::check_blocklist(const ApiRequest& r) {
  if (blocked_.empty()) return;
  std::string all = lower(r.prompt);
  all += '\n';
  all += lower(r.message);
  for (const ChatMessage& m : r.messages) {
    all += '\n';
    all += lower(m.content);
  }
  for (const std::string& b : blocked_)
    if (all.find(b) != std::string::npos)
      throw ApiError(opts_.block_status, "content_policy_violation", "",
                     "[server] the request contains a blocked phrase and was refused");
}

std::optional<Reply> App::static_file(const std::string& path) {
  std::string name = path == "/" ? "index.html" : path.substr(1);
  if (name.empty() || name.find("..") != std::string::npos) return std::nullopt;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      return std::nullopt;
  std::ifstream in(opts_.web_dir + "/" + name, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string type = "application/octet-stream";
  auto ends = [&](const char* ext) {
    const std::string e = ext;
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".html")) type = "text/html; charset=utf-8";
  if (ends(".js")) type = "text/javascript; charset=utf-8";
  if (ends(".css")) type = "text/css; charset=utf-8";
  if (ends(".svg")) type = "image/svg+xml";
  return Reply{200, type, ss.str(), {{"Cache-Control", "no-cache"}}};
}

// What a handler gets: the request, where to stream, and what the table matched.
struct App::RouteCtx {
  const HttpRequest& req;
  const std::shared_ptr<Sink>& sink;
  std::string param;  // the {id} of a pattern
  std::string key_id;
  std::string endpoint;
};

enum class Access : uint8_t {
  open,     // no key (the load balancer's health check)
  key,      // a key, not counted against its budget (scrapes of /metrics)
  limited,  // a key, and one request of its budget
};

struct App::RouteSpec {
  http::verb method;         // http::verb::unknown: any method
  std::string_view pattern;  // exact, or a prefix ending in "{id}" (the rest is the param)
  Access access;
  std::optional<Reply> (App::*handler)(RouteCtx&);
};

// Every endpoint but the static page and the WebSocket upgrade (transport.cpp). The pattern is
// the endpoint's label in /metrics and the audit log.
const std::vector<App::RouteSpec>& App::routes() {
  using V = http::verb;
  static const std::vector<RouteSpec> table = {
      {V::unknown, "/health", Access::open, &App::on_health},
      {V::get, "/metrics", Access::key, &App::on_metrics},
      {V::get, "/v1/models", Access::limited, &App::on_models},
      {V::get, "/v1/sessions", Access::limited, &App::on_sessions},
      {V::get, "/v1/sessions/{id}", Access::limited, &App::on_session_get},
      {V::delete_, "/v1/sessions/{id}", Access::limited, &App::on_session_delete},
      {V::post, "/v1/chat/completions", Access::limited, &App::on_chat_completions},
      {V::post, "/v1/completions", Access::limited, &App::on_completions},
      {V::post, "/chat", Access::limited, &App::on_seed_chat},
  };
  return table;
}

namespace {

// "/v1/sessions/{id}" matches "/v1/sessions/abc" with param "abc".
bool match(std::string_view pattern, std::string_view path, std::string& param) {
  const size_t brace = pattern.find('{');
  if (brace == std::string_view::npos) return pattern == path;
  if (path.size() <= brace || path.substr(0, brace) != pattern.substr(0, brace)) return false;
  param = std::string(path.substr(brace));
  return true;
}

}  // namespace

std::optional<Reply> App::handle(const HttpRequest& req, const std::shared_ptr<Sink>& sink) {
  const double t0 = now_s();
  std::string target(req.target());
  const size_t q = target.find('?');
  const std::string path = q == std::string::npos ? target : target.substr(0, q);
  const std::string method_s(req.method_string());
  RouteCtx c{req, sink, "", "", path};
  try {
    // Routes whose path matches; among them, the one for this method.
    const RouteSpec* found = nullptr;
    const RouteSpec* same_path = nullptr;
    std::string methods;
    for (const RouteSpec& r : routes()) {
      std::string param;
      if (!match(r.pattern, path, param)) continue;
      if (!same_path) {
        same_path = &r;
        c.endpoint = std::string(r.pattern);
        c.param = param;
      }
      if (r.method == http::verb::unknown || r.method == req.method()) {
        found = &r;
        break;
      }
      methods += cat(methods.empty() ? "" : " or ", http::to_string(r.method));
    }
    if (!same_path) {
      // The chat page is public (it asks for the key); the API behind it is not.
      if (req.method() == http::verb::get && path.rfind("/v1/", 0) != 0 && path != "/ws") {
        if (auto r = static_file(path)) return finish("/static", method_s, "", t0, std::move(*r));
        c.endpoint = "other";
        throw ApiError(404, "not_found", "", "[server] no such page: " + path);
      }
      c.endpoint = "other";
      throw ApiError(404, "not_found", "", "[server] unknown endpoint " + path);
    }
    if (same_path->access != Access::open) {
      c.key_id = authenticate(req);
      // Draining: new work goes to another replica (nginx retries a 503 elsewhere).
      if (draining_ && c.endpoint != "/metrics")
        throw ApiError(503, "server_overloaded", "",
                       "[server] this replica is shutting down; retry (another replica answers)");
    }
    if (same_path->access == Access::limited) {
      if (int wait = limiter_.admit(c.key_id)) {
        Reply r = error_reply(ApiError(
            429, "rate_limit_exceeded", "",
            cat("[server] rate limit of key ", c.key_id, " reached; retry in ", wait, " s")));
        r.headers.push_back({"Retry-After", std::to_string(wait)});
        return finish(c.endpoint, method_s, c.key_id, t0, std::move(r));
      }
    }
    if (!found) throw ApiError(405, "invalid_request_error", "", "[server] use " + methods);
    auto r = (this->*found->handler)(c);
    if (r) return finish(c.endpoint, method_s, c.key_id, t0, std::move(*r));
    return std::nullopt;
  } catch (const ApiError& e) {
    return finish(c.endpoint, method_s, c.key_id, t0, error_reply(e));
  } catch (const StoreUnavailable& e) {
    log_warn("[server] ", path, ": ", e.what());
    return finish(c.endpoint, method_s, c.key_id, t0,
                  error_reply(ApiError(503, "server_error", "", e.what())));
  } catch (const std::exception& e) {
    log_error("[server] ", path, ": ", e.what());
    return finish(c.endpoint, method_s, c.key_id, t0,
                  error_reply(ApiError(500, "server_error", "", e.what())));
  }
}

std::optional<Reply> App::on_health(RouteCtx&) {
  if (!model_ready_) {
    const std::string err = scheduler_->load_error();
    return json_reply(503, {{"status", err.empty() ? "loading" : "failed"}, {"error", err}});
  }
  if (draining_) return json_reply(503, {{"status", "draining"}});
  // Ready means a request can be served: a replica whose store is down sends nobody there.
  if (!store_.healthy())
    return json_reply(503, {{"status", "store unavailable"}, {"store", store_.describe()}});
  return json_reply(200, {{"status", "ok"}});
}

std::optional<Reply> App::on_metrics(RouteCtx&) {
  return Reply{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(), {}};
}

std::optional<Reply> App::on_models(RouteCtx&) {
  json data = json::array();
  if (auto models = std::atomic_load(&models_))
    for (const ModelInfo& m : *models)
      data.push_back(
          {{"id", m.name}, {"object", "model"}, {"created", unix_now()}, {"owned_by", "aero"}});
  return json_reply(200, {{"object", "list"}, {"data", data}});
}

const ModelInfo& App::pick_model(const std::vector<ModelInfo>& models,
                                 const std::string& name) const {
  if (models.size() == 1 || name.empty()) return models[0];
  std::string names;
  for (const ModelInfo& m : models) {
    if (m.name == name) return m;
    names += (names.empty() ? "" : ", ") + m.name;
  }
  throw ApiError(404, "invalid_request_error", "model",
                 cat("[server] the model '", name, "' does not exist; this server has: ", names));
}

std::optional<Reply> App::on_sessions(RouteCtx& c) {
  json data = json::array();
  for (const SessionInfo& s : store_.list(c.key_id))
    data.push_back({{"id", s.id},
                    {"object", "session"},
                    {"created", s.created},
                    {"updated", s.updated},
                    {"messages", s.messages},
                    {"title", s.title}});
  return json_reply(200, {{"object", "list"}, {"data", data}});
}

namespace {

void check_session_id(const std::string& id) {
  if (!valid_session_id(id))
    throw ApiError(400, "invalid_request_error", "session_id",
                   "[server] malformed session id: it must be 1-64 characters of A-Z a-z 0-9 _ -");
}

}  // namespace

std::optional<Reply> App::on_session_get(RouteCtx& c) {
  check_session_id(c.param);
  auto info = store_.info(c.param, c.key_id);
  auto hist = store_.history(c.param, c.key_id);
  if (!info || !hist) throw ApiError(404, "not_found", "", "[server] no session " + c.param);
  json msgs = json::array();
  for (const ChatMessage& m : *hist) msgs.push_back({{"role", m.role}, {"content", m.content}});
  return json_reply(200, {{"id", c.param},
                          {"object", "session"},
                          {"created", info->created},
                          {"updated", info->updated},
                          {"title", info->title},
                          {"messages", msgs}});
}

std::optional<Reply> App::on_session_delete(RouteCtx& c) {
  check_session_id(c.param);
  if (!store_.remove(c.param, c.key_id))
    throw ApiError(404, "not_found", "", "[server] no session " + c.param);
  return json_reply(200, {{"id", c.param}, {"object", "session.deleted"}, {"deleted", true}});
}

std::optional<Reply> App::on_chat_completions(RouteCtx& c) {
  return generate(Route::chat_completions, c.req.body(), c.key_id, c.sink, c.endpoint);
}

std::optional<Reply> App::on_completions(RouteCtx& c) {
  return generate(Route::completions, c.req.body(), c.key_id, c.sink, c.endpoint);
}

std::optional<Reply> App::on_seed_chat(RouteCtx& c) {
  return generate(Route::seed_chat, c.req.body(), c.key_id, c.sink, c.endpoint);
}

std::optional<Reply> App::ws_upgrade(const HttpRequest& req, std::string& key_id) {
  const double t0 = now_s();
  try {
    // Browsers cannot set headers on a WebSocket: the key may also come as ?api_key=KEY.
    std::string target(req.target());
    HttpRequest copy;
    for (const auto& f : req) copy.set(f.name_string(), f.value());
    const size_t at = target.find("api_key=");
    if (at != std::string::npos && copy.find(http::field::authorization) == copy.end()) {
      std::string key = target.substr(at + 8);
      key = key.substr(0, key.find('&'));
      copy.set(http::field::authorization, "Bearer " + key);
    }
    key_id = authenticate(copy);
    if (draining_)
      throw ApiError(503, "server_overloaded", "",
                     "[server] this replica is shutting down; retry (another replica answers)");
    return std::nullopt;
  } catch (const ApiError& e) {
    return finish("/ws", "GET", "", t0, error_reply(e));
  } catch (const StoreUnavailable& e) {
    return finish("/ws", "GET", "", t0, error_reply(ApiError(503, "server_error", "", e.what())));
  }
}

void App::ws_message(const std::string& text, const std::string& key_id,
                     const std::shared_ptr<Sink>& sink) {
  const double t0 = now_s();
  try {
    if (draining_)
      throw ApiError(503, "server_overloaded", "",
                     "[server] this replica is shutting down; reconnect (another replica answers)");
    int wait = 0;
    try {
      wait = limiter_.admit(key_id);
    } catch (const StoreUnavailable& e) {
      throw ApiError(503, "server_error", "", e.what());
    }
    if (wait) {
      throw ApiError(429, "rate_limit_exceeded", "",
                     cat("[server] rate limit of key ", key_id, " reached; retry in ", wait, " s"));
    }
    auto r = generate(Route::ws_message, text, key_id, sink, "/ws");
    if (r) {
      finish("/ws", "WS", key_id, t0, *r);
      sink->send(ws_error(r->body));
    }
  } catch (const ApiError& e) {
    Reply r = finish("/ws", "WS", key_id, t0, error_reply(e));
    sink->send(ws_error(r.body));
  }
}

std::optional<Reply> App::generate(Route route, const std::string& body, const std::string& key_id,
                                   const std::shared_ptr<Sink>& sink, const std::string& endpoint) {
  try {
    auto models = std::atomic_load(&models_);
    if (!model_ready_ || !models)
      throw ApiError(503, "server_error", "", "[server] the model is still loading; retry shortly");
    ApiRequest req = parse_api_request(route, body, limits_);
    const ModelInfo* model = &pick_model(*models, req.model);
    check_blocklist(req);
    const Tokenizer& tok = *model->tokenizer;
    if (req.diffusion.any() && !model->diffusion)
      throw ApiError(400, "invalid_request_error", "diffusion",
                     "[server] diffusion settings are for masked-diffusion models; the model '" +
                         model->name + "' is not one");
    // diffusion.gen_length is the answer's length: max_tokens, when given too, must agree.
    if (req.diffusion.gen_length && req.max_tokens && *req.max_tokens != *req.diffusion.gen_length)
      throw ApiError(400, "invalid_request_error", "diffusion.gen_length",
                     cat("[server] diffusion.gen_length ", *req.diffusion.gen_length,
                         " differs from max_tokens ", *req.max_tokens, " (give one of them)"));
    // Without max_tokens, half the context at most, so the prompt keeps the other half.
    const int max_tokens = req.max_tokens.value_or(
        req.diffusion.gen_length.value_or(std::min(opts_.default_max_tokens, model->context / 2)));
    if (max_tokens >= model->context) {
      const std::string name = req.max_tokens ? "max_tokens" : "diffusion.gen_length";
      throw ApiError(400, "invalid_request_error", name,
                     cat("[server] ", name, " must be below the model's context of ",
                         model->context, " tokens, got ", max_tokens));
    }
    const int max_input = opts_.max_input_tokens > 0 ? opts_.max_input_tokens : model->context;
    auto ex = std::make_shared<Exchange>(*this, sink, route, req);
    ex->endpoint = endpoint;
    ex->key_id = key_id;
    ex->model = model->name;
    ex->id = random_id(route == Route::chat_completions ? "chatcmpl-" : "cmpl-");
    std::vector<int32_t> prompt;
    auto too_long = [&](size_t n) {
      return ApiError(413, "invalid_request_error", "",
                      cat("[server] the input is ", n, " tokens; the limit is ", max_input));
    };
    if (route == Route::completions) {
      std::vector<int> ids = tok.encode(req.prompt);
      if (int(ids.size()) > max_input) throw too_long(ids.size());
      if (int(ids.size()) + max_tokens > model->context)
        throw ApiError(413, "invalid_request_error", "",
                       cat("[server] the prompt (", ids.size(), " tokens) and max_tokens ",
                           max_tokens, " do not fit the context of ", model->context, " tokens"));
      prompt.assign(ids.begin(), ids.end());
    } else {
      std::vector<ChatMessage> history;
      std::string newest;
      if (route == Route::chat_completions) {
        history = req.messages;
        newest = history.back().content;
      } else {
        newest = req.message;
        if (req.session_id.empty()) {
          ex->session_id = new_session_id();
          store_.check();
        } else {
          ex->session_id = req.session_id;
          // A client-chosen id that nobody has used yet starts a session under it.
          if (auto h = store_.history(req.session_id, key_id)) {
            history = std::move(*h);
          } else if (store_.exists(req.session_id)) {
            throw ApiError(404, "not_found", "session_id", "[server] no session " + req.session_id);
          }
        }
        history.push_back({"user", req.message});
        ex->to_store = {{"user", req.message}};
      }
      const size_t n_newest = tok.encode(newest).size();
      if (int(n_newest) > max_input) throw too_long(n_newest);
      ChatPrompt p =
          model->seq2seq
              ? build_seq2seq_chat_prompt(tok, history, model->context - max_tokens)
              : build_chat_prompt(tok, opts_.system_prompt, history, model->context - max_tokens);
      if (p.dropped < 0)
        throw ApiError(413, "invalid_request_error", "",
                       cat("[server] the system prompt and the message do not fit the context of ",
                           model->context, " tokens with max_tokens ", max_tokens,
                           "; send a shorter message or a smaller max_tokens"));
      prompt.assign(p.ids.begin(), p.ids.end());
    }
    Job job;
    job.prompt = std::move(prompt);
    job.adapter = model->adapter;
    job.opts.max_new = max_tokens;
    job.opts.sampler.temperature = req.temperature;
    job.opts.sampler.top_p = req.top_p;
    job.opts.sampler.top_k = req.top_k;
    job.opts.sampler.min_p = req.min_p;
    job.opts.sampler.repetition_penalty = req.repetition_penalty;
    job.opts.beam = req.beam;
    job.opts.sampler.seed =
        req.seed ? *req.seed : uint64_t(std::random_device{}()) << 32 | std::random_device{}();
    job.opts.stop = req.stop;
    job.opts.diffusion = req.diffusion;
    if (model->diffusion) {  // the settings as the generator will resolve them: errors are 400s
      try {
        diffusion_request_opts(*model->diffusion, job.opts, int(job.prompt.size()), model->context);
      } catch (const DiffusionSettingError& e) {
        throw ApiError(400, "invalid_request_error", e.field, e.what());
      }
    }
    if (route != Route::completions && !model->seq2seq)
      for (const std::string& s : chat_stop_strings()) job.opts.stop.push_back(s);
    job.deadline = Clock::now() + std::chrono::milliseconds(int64_t(opts_.timeout_s * 1000));
    job.on_text = [ex](const std::string& t) { ex->sink->post([ex, t] { ex->on_text(t); }); };
    job.on_done = [ex](const JobResult& r) { ex->sink->post([ex, r] { ex->on_done(r); }); };
    if (route == Route::ws_message && req.steps)
      job.on_draft = [ex](const std::string& d) { ex->sink->post([ex, d] { ex->on_draft(d); }); };
    metrics_.open_streams++;
    ex->ticket = scheduler_->submit(std::move(job));
    if (!ex->ticket) {
      metrics_.open_streams--;
      ex->ended = true;
      return error_reply(ApiError(503, "server_overloaded", "",
                                  "[server] the request queue is full; retry shortly"));
    }
    // A stream starts at admission (headers, or the WebSocket "start" message), so a client
    // knows its request is queued; errors after that travel inside the stream.
    if (req.stream) ex->begin_stream();
    auto ticket = ex->ticket;
    // Only the flag: the scheduler looks at it every step, and a connection may outlive the app
    // at shutdown.
    sink->on_close = [ticket] { ticket->cancelled = true; };
    return std::nullopt;
  } catch (const ApiError&) {
    throw;
  } catch (const StoreUnavailable& e) {
    throw ApiError(503, "server_error", "", e.what());
  } catch (const Error& e) {
    throw ApiError(400, "invalid_request_error", "", e.what());
  }
}

}  // namespace aero::server
