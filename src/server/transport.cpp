// The sockets: an acceptor, HTTP/1.1 connections (keep-alive, chunked streaming) and
// WebSocket connections, all on one io_context with a strand per connection. No thread per
// client: a connection is a few buffers and a pending read.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "server/app.h"

namespace aero::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);

class WsConn : public Sink, public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(tcp::socket&& socket, App& app, std::string key_id)
      : ws_(std::move(socket)), app_(app), key_id_(std::move(key_id)) {}
  ~WsConn() override {
    if (on_close) on_close();
  }

  void run(HttpRequest req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(app_.opts().max_body_bytes);
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->do_read();
    });
  }

  void post(std::function<void()> f) override { net::post(ws_.get_executor(), std::move(f)); }
  void begin(int, const std::string&, const Headers&) override {}
  void send(std::string data) override {
    if (closed_) return;
    outq_.push_back(std::make_shared<std::string>(std::move(data)));
    write_next();
  }
  void end() override { busy_ = false; }
  void abort() override { busy_ = false; }  // errors travel as messages on a WebSocket
  bool is_websocket() const override { return true; }

 private:
  void do_read() {
    ws_.async_read(
        buf_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }
  void on_read(beast::error_code ec) {
    if (ec) {
      closed_ = true;
      if (on_close) std::exchange(on_close, nullptr)();
      return;
    }
    std::string text = beast::buffers_to_string(buf_.data());
    buf_.consume(buf_.size());
    if (busy_) {
      send(
          R"({"type":"error","error":{"message":"[server] one message at a time: wait for the end of the reply","type":"invalid_request_error","param":null,"code":null}})");
    } else {
      busy_ = true;
      app_.ws_message(text, key_id_, shared_from_this());
      // ws_message answered at once (an error) when it did not start a job.
      if (!on_close) busy_ = false;
    }
    do_read();
  }
  void write_next() {
    if (writing_ || outq_.empty() || closed_) return;
    writing_ = true;
    auto msg = outq_.front();
    outq_.pop_front();
    ws_.text(true);
    ws_.async_write(net::buffer(*msg),
                    [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                      self->writing_ = false;
                      if (ec) {
                        self->closed_ = true;
                        self->outq_.clear();
                        if (self->on_close) std::exchange(self->on_close, nullptr)();
                        return;
                      }
                      self->write_next();
                    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  App& app_;
  std::string key_id_;
  beast::flat_buffer buf_;
  std::deque<std::shared_ptr<std::string>> outq_;
  bool writing_ = false, closed_ = false, busy_ = false;
};

class HttpConn : public Sink, public std::enable_shared_from_this<HttpConn> {
 public:
  HttpConn(tcp::socket&& socket, App& app) : stream_(std::move(socket)), app_(app) {}
  ~HttpConn() override {
    if (on_close) on_close();
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  void post(std::function<void()> f) override { net::post(stream_.get_executor(), std::move(f)); }
  void begin(int status, const std::string& content_type, const Headers& headers) override {
    head_ = std::make_shared<http::response<http::empty_body>>(http::status(status), 11);
    head_->set(http::field::server, "aero/" AERO_VERSION);
    head_->set(http::field::content_type, content_type);
    if (!app_.opts().replica_name.empty()) head_->set("X-Aero-Replica", app_.opts().replica_name);
    for (const auto& [k, v] : headers) head_->set(k, v);
    head_->chunked(true);
    head_->keep_alive(false);  // a streamed answer ends its connection (see watch())
    serializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*head_);
    outq_.push_back({Item::header, nullptr});
    write_next();
  }
  void send(std::string data) override {
    if (data.empty()) return;
    outq_.push_back({Item::chunk, std::make_shared<std::string>(std::move(data))});
    write_next();
  }
  void end() override {
    outq_.push_back({Item::last, nullptr});
    write_next();
  }
  void abort() override {
    outq_.push_back({Item::cut, nullptr});
    write_next();
  }
  bool is_websocket() const override { return false; }

 private:
  struct Item {
    enum Kind { header, chunk, last, cut } kind;
    std::shared_ptr<std::string> data;
  };

  void do_read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(app_.opts().max_body_bytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(
        stream_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail_read(ec);
    auto& req = parser_->get();
    if (parser_->content_length() && *parser_->content_length() > app_.opts().max_body_bytes) {
      return respond(
          app_.transport_error(std::string(req.target()), 400,
                               cat("request body of ", *parser_->content_length(),
                                   " bytes is over the limit of ", app_.opts().max_body_bytes)),
          false);
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      net::async_write(stream_, net::buffer(*cont),
                       [self = shared_from_this(), cont](beast::error_code ec2, size_t) {
                         if (!ec2) self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(
        stream_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void fail_read(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return respond(
          app_.transport_error("", 400,
                               "request body is over the limit of " +
                                   std::to_string(app_.opts().max_body_bytes) + " bytes"),
          false);
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset)
      return close();
    // Malformed HTTP: answer 400 once and close.
    return respond(app_.transport_error("", 400, "bad HTTP request: " + ec.message()), false);
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail_read(ec);
    HttpRequest req = parser_->release();
    if (websocket::is_upgrade(req)) {
      std::string target(req.target());
      if (target.substr(0, target.find('?')) != "/ws")
        return respond(app_.transport_error(target, 404, "WebSocket is served at /ws only"), false);
      std::string key_id;
      if (auto err = app_.ws_upgrade(req, key_id)) return respond(std::move(*err), false);
      stream_.expires_never();
      std::make_shared<WsConn>(stream_.release_socket(), app_, key_id)->run(std::move(req));
      return;
    }
    keep_alive_ = req.keep_alive();
    stream_.expires_never();
    auto reply = app_.handle(req, shared_from_this());
    if (reply) return respond(std::move(*reply), keep_alive_);
    watch();
  }

  // While an answer streams, a read stays pending so a client that leaves is noticed at once
  // and its generation cancelled.
  void watch() {
    stream_.async_read_some(net::buffer(watch_buf_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->closed_ = true;
                                if (self->on_close) std::exchange(self->on_close, nullptr)();
                                return;
                              }
                              self->watch();  // pipelined bytes are ignored: we close after
                            });
  }

  void respond(Reply r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(http::status(r.status), 11);
    res->set(http::field::server, "aero/" AERO_VERSION);
    res->set(http::field::content_type, r.content_type);
    if (!app_.opts().replica_name.empty()) res->set("X-Aero-Replica", app_.opts().replica_name);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->close();
                        self->do_read();
                      });
  }

  void write_next() {
    if (writing_ || outq_.empty() || closed_) return;
    writing_ = true;
    Item it = std::move(outq_.front());
    outq_.pop_front();
    auto done = [self = shared_from_this(), it](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->closed_ = true;
        self->outq_.clear();
        if (self->on_close) std::exchange(self->on_close, nullptr)();
        return self->close();
      }
      if (it.kind == Item::last) return self->close();
      self->write_next();
    };
    if (it.kind == Item::cut) {
      writing_ = false;
      closed_ = true;
      outq_.clear();
      return close();
    }
    switch (it.kind) {
      case Item::cut:
        break;
      case Item::header:
        http::async_write_header(stream_, *serializer_, done);
        break;
      case Item::chunk:
        net::async_write(stream_, http::make_chunk(net::buffer(*it.data)), done);
        break;
      case Item::last:
        net::async_write(stream_, http::make_chunk_last(), done);
        break;
    }
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  App& app_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::empty_body>> head_;
  std::shared_ptr<http::response_serializer<http::empty_body>> serializer_;
  std::deque<Item> outq_;
  std::array<char, 512> watch_buf_{};
  bool writing_ = false, closed_ = false, keep_alive_ = true;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::endpoint ep, App& app)
      : ioc_(ioc), acceptor_(ioc), app_(app) {
    beast::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    AERO_CHECK(!ec, "[server] cannot listen on ", ep.address().to_string(), ":", ep.port(), ": ",
               ec.message());
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  void run() { do_accept(); }
  void stop() {
    beast::error_code ec;
    acceptor_.close(ec);
  }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             if (ec == net::error::operation_aborted || !self->acceptor_.is_open())
                               return;
                             if (!ec) {
                               // Streamed tokens are small writes: without TCP_NODELAY, Nagle
                               // holds them back until the client's (delayed) ACK.
                               beast::error_code ignored;
                               socket.set_option(tcp::no_delay(true), ignored);
                               std::make_shared<HttpConn>(std::move(socket), self->app_)->run();
                             }
                             self->do_accept();
                           });
  }
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  App& app_;
};

}  // namespace

void run_server(const ServeOptions& opts) {
  const int n_threads = std::max(1, opts.io_threads);
  net::io_context ioc(n_threads);
  std::string fatal;
  std::mutex fatal_mu;
  // A model that cannot be loaded ends the server with that error (exit 1), not a server
  // that answers 503 forever.
  App app(opts, [&](const std::string& msg) {
    {
      std::lock_guard lock(fatal_mu);
      fatal = msg;
    }
    ioc.stop();
  });
  beast::error_code ec;
  auto addr = net::ip::make_address(opts.host, ec);
  AERO_CHECK(!ec, "[server] --host ", opts.host, " is not an IP address");
  auto listener = std::make_shared<Listener>(ioc, tcp::endpoint(addr, uint16_t(opts.port)), app);
  listener->run();
  std::printf("aero: listening on http://%s:%d\n", opts.host.c_str(), listener->port());
  std::fflush(stdout);

  std::thread drainer;
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int sig) {
    log_info("[server] ", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             ": no new connections; finishing streams in flight");
    listener->stop();
    // Draining blocks until the engine is idle; the io threads keep writing meanwhile.
    drainer = std::thread([&] {
      app.drain();
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (app.metrics().open_streams > 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // last bytes onto the wire
      ioc.stop();
    });
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < n_threads; i++) threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  if (drainer.joinable()) drainer.join();
  {
    std::lock_guard lock(fatal_mu);
    if (!fatal.empty()) throw Error(fatal);
  }
  log_info("[server] stopped; sessions flushed");
}

}  // namespace aero::server
