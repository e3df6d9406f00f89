// Internal to the server: the application (routes, auth, limits, sessions, generation) and the
// interface the transport gives it to stream an answer. The transport (transport.cpp) owns the
// sockets; the app (routes.cpp) never touches them.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>

#include "infer/diffusion_generator.h"
#include "server/audit.h"
#include "server/keys.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/scheduler.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/writer.h"

namespace aero::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
};

// Where an answer streams to: an HTTP response with chunked encoding, or a WebSocket. Every
// call but post() must happen on the connection's strand; post() runs `f` there.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void post(std::function<void()> f) = 0;
  virtual void begin(int status, const std::string& content_type, const Headers& headers) = 0;
  virtual void send(std::string data) = 0;  // an HTTP chunk or a WebSocket text message
  virtual void end() = 0;                   // HTTP: last chunk, then close; WebSocket: nothing
  virtual void abort() = 0;  // HTTP: close without the last chunk (the client sees a cut stream)
  virtual bool is_websocket() const = 0;
  // Set by the app while a job runs: the transport calls it if the client goes away.
  std::function<void()> on_close;
};

struct ModelInfo {
  std::shared_ptr<const Tokenizer> tokenizer;
  int context = 0;
  std::string name;
  // An encoder-decoder: a chat's encoder input is the newest user message alone
  // (build_seq2seq_chat_prompt), and the chat stop strings do not apply.
  bool seq2seq = false;
  std::shared_ptr<const ServedAdapter> adapter;  // an adapter over the base; null: the base
  // A masked-diffusion model: its generator's defaults, against which a request's "diffusion"
  // settings are checked before it is queued. Empty for any other model (which refuses them).
  std::optional<DiffusionServeOpts> diffusion;
};

class App {
 public:
  // on_fatal: called (from another thread) when the model cannot be loaded.
  App(const ServeOptions& opts, std::function<void(const std::string&)> on_fatal);
  ~App();

  // One HTTP request: a reply now, or nullopt when an answer started streaming on `sink`.
  std::optional<Reply> handle(const HttpRequest& req, const std::shared_ptr<Sink>& sink);
  // The WebSocket upgrade: nullopt to accept, or the error reply.
  std::optional<Reply> ws_upgrade(const HttpRequest& req, std::string& key_id);
  // One WebSocket text message from a connection whose upgrade was accepted for key_id.
  void ws_message(const std::string& text, const std::string& key_id,
                  const std::shared_ptr<Sink>& sink);
  // A request the transport rejects itself (body too large, bad HTTP): counted and logged.
  Reply transport_error(const std::string& target, int status, const std::string& msg);

  // SIGTERM: answer new work with 503 (so a load balancer moves on), let streams finish (up to
  // grace), write the turns they leave, flush the store.
  void drain();
  const ServeOptions& opts() const { return opts_; }
  Metrics& metrics() { return metrics_; }

 private:
  struct Exchange;
  struct RouteCtx;
  struct RouteSpec;
  static const std::vector<RouteSpec>& routes();
  // Handlers of the route table (routes.cpp): a reply now, or nullopt when streaming.
  std::optional<Reply> on_health(RouteCtx& c);
  std::optional<Reply> on_metrics(RouteCtx& c);
  std::optional<Reply> on_models(RouteCtx& c);
  std::optional<Reply> on_sessions(RouteCtx& c);
  std::optional<Reply> on_session_get(RouteCtx& c);
  std::optional<Reply> on_session_delete(RouteCtx& c);
  std::optional<Reply> on_chat_completions(RouteCtx& c);
  std::optional<Reply> on_completions(RouteCtx& c);
  std::optional<Reply> on_seed_chat(RouteCtx& c);
  std::optional<Reply> generate(Route route, const std::string& body, const std::string& key_id,
                                const std::shared_ptr<Sink>& sink, const std::string& endpoint);
  void store_with_retry(const std::string& id, const std::string& key_id,
                        const std::vector<ChatMessage>& msgs, const std::string& turn_id);
  std::string authenticate(const HttpRequest& req);  // key id; throws ApiError 401
  void check_blocklist(const ApiRequest& r);
  Reply error_reply(const ApiError& e);
  Reply finish(const std::string& endpoint, const std::string& method, const std::string& key_id,
               double t0, Reply r);
  std::optional<Reply> static_file(const std::string& path);

  ServeOptions opts_;
  Metrics metrics_;
  ServerState state_;  // sessions, rate limits, keys: local or shared
  SessionStore& store_;
  RateLimits& limiter_;
  KeySource& keys_;
  BackgroundWriter writer_;  // session appends and token charges, off the network threads
  std::atomic<bool> draining_{false};
  AuditLog audit_;
  RequestLimits limits_;
  std::vector<std::string> blocked_;  // lower-cased phrases
  // What the server answers with: the model (merged with its adapter, if one), or the base then
  // each adapter kept apart. Set by the scheduler thread once loaded.
  std::shared_ptr<const std::vector<ModelInfo>> models_;
  // The entry a request's "model" names (none or the only one: the first); 404 otherwise.
  const ModelInfo& pick_model(const std::vector<ModelInfo>& models, const std::string& name) const;
  std::atomic<bool> model_ready_{false};
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace aero::server
