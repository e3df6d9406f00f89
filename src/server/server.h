// `aero serve`: the chat service on one port (HTTP/1.1 + WebSocket). Options with defaults;
// run_server() blocks until SIGTERM or SIGINT, then drains and returns.
#pragma once
#include <string>
#include <vector>

namespace aero::server {

struct ServeOptions {
  std::string model;      // checkpoint or run directory, or a quantized file
  std::string format;     // weight format: f32 | bf16 | q8 (empty: the file's own)
  std::string tokenizer;  // default: the one recorded with the model
  // LoRA adapters over `model`, each "DIR" or "NAME=DIR": one alone is merged at load
  // (load_inference); several, or any with `unmerged`, stay apart from the base (loaded once)
  // and a request chooses one by its "model" field (the base by the base's name or none).
  std::vector<std::string> adapters;
  bool unmerged = false;
  std::string model_name;  // the id /v1/models lists (default: the adapter's (merged) or the
                           // model's path's last part)
  std::string host = "127.0.0.1";
  int port = 8080;     // 0: any free port (printed as "listening on http://HOST:PORT")
  int io_threads = 1;  // asio threads; the engine has its own thread
  std::string keys;    // keys file or postgresql:// URL of `aero keys` (empty: open server)
  std::string sessions = "aero-sessions.db";  // SQLite file or postgresql:// URL
  std::string limits;        // where per-key budgets are counted: "local", a postgresql:// URL, or
                             // empty (the sessions URL when that is PostgreSQL, else local)
  std::string replica_name;  // labels /metrics and the X-Aero-Replica header (empty: none)
  std::string system_prompt = "You are a helpful assistant.";
  std::string web_dir;       // static files of the chat page
  std::string audit_log;     // JSON Lines access and audit log (empty: none)
  std::string blocklist;     // one phrase per line; prompts containing one are refused
  int block_status = 400;    // 400 or 403
  size_t max_queue = 64;     // requests waiting for the engine; more get 503
  int max_batch = 16;        // sequences decoded together
  int max_input_tokens = 0;  // newest message / prompt; 0: the model's context
  int default_max_tokens = 128;
  size_t max_body_bytes = 1 << 20;
  double timeout_s = 120;       // per request, from admission to the last token
  double requests_per_min = 0;  // per key; 0: no limit
  double tokens_per_min = 0;    // per key, prompt + generated; 0: no limit
  double grace_s = 10;          // on SIGTERM, in-flight streams get this long to finish
  double store_retry_s = 10;    // a turn's write is retried this long while the store is down
};

void run_server(const ServeOptions& opts);

}  // namespace aero::server
