// aero serve --model M --port 8080: the chat service (OpenAI-compatible API, /chat, /ws, the
// web page at /), see server/server.h.
#include "cli/commands.h"
#include "cli/share.h"
#include "core/threads.h"
#include "server/server.h"

#ifndef AERO_WEB_DIR
#define AERO_WEB_DIR "web"
#endif

namespace aero::cli {

void add_serve(CLI::App& app) {
  struct Args {
    server::ServeOptions o;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  server::ServeOptions& o = a->o;
  o.web_dir = share_path("web", AERO_WEB_DIR);
  auto* cmd = app.add_subcommand("serve", "Serve a model as a chat service (HTTP + WebSocket)");
  cmd->add_option("--model,-m", o.model, "Checkpoint, run directory or quantized file")->required();
  cmd->add_option("--format", o.format, "Weight format: f32, bf16 or q8 (default: the file's)");
  cmd->add_option("--tokenizer", o.tokenizer, "Tokenizer (default: the model's)");
  cmd->add_option("--adapter", o.adapters,
                  "LoRA adapter over --model (a PEFT directory or an aero LoRA fine-tune), as DIR "
                  "or NAME=DIR; repeat it to serve several over one copy of the model, each "
                  "chosen by a request's \"model\" (one alone is merged at load)")
      ->type_name("[NAME=]DIR");
  cmd->add_flag("--unmerged", o.unmerged,
                "Keep a single --adapter apart from the model too: requests choose the adapter "
                "or the model by name");
  cmd->add_option("--name", o.model_name,
                  "Model id in /v1/models (default: a merged adapter's or the model's last path "
                  "part)");
  cmd->add_option("--host", o.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port,-p", o.port, "Port (0: any free one, printed at start)")
      ->capture_default_str();
  cmd->add_option("--io-threads", o.io_threads, "Network threads (the engine has its own)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Compute threads of the engine (default: all CPUs)");
  cmd->add_option(
      "--keys", o.keys,
      "API keys of `aero keys`: a file or a postgresql:// URL (none: no authentication)");
  cmd->add_option("--sessions", o.sessions,
                  "Chat sessions: a SQLite file, or a postgresql:// URL shared by replicas")
      ->capture_default_str();
  cmd->add_option("--limits", o.limits,
                  "Where per-key limits are counted: local or a postgresql:// URL (default: the "
                  "--sessions URL when it is PostgreSQL, else local)");
  cmd->add_option("--replica-name", o.replica_name,
                  "Name of this replica in /metrics and the X-Aero-Replica header");
  cmd->add_option("--store-retry", o.store_retry_s,
                  "Seconds a finished turn's write is retried while the store is down")
      ->capture_default_str();
  cmd->add_option("--system-prompt", o.system_prompt, "System prompt of /chat, /ws and chats")
      ->capture_default_str();
  cmd->add_option("--web", o.web_dir, "Directory of the chat page")->capture_default_str();
  cmd->add_option("--audit-log", o.audit_log, "JSON Lines access and audit log");
  cmd->add_option("--blocklist", o.blocklist, "File of phrases (one a line) refused in prompts");
  cmd->add_option("--block-status", o.block_status, "Status of a refused prompt: 400 or 403")
      ->capture_default_str();
  cmd->add_option("--max-queue", o.max_queue, "Requests waiting for the engine (more: 503)")
      ->capture_default_str();
  cmd->add_option("--max-batch", o.max_batch, "Sequences decoded together")->capture_default_str();
  cmd->add_option("--max-input-tokens", o.max_input_tokens,
                  "Longest message or prompt in tokens (more: 413; 0: the context)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o.default_max_tokens, "Default max_tokens of a request")
      ->capture_default_str();
  cmd->add_option("--max-body", o.max_body_bytes, "Largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--timeout", o.timeout_s, "Seconds a request may take")->capture_default_str();
  cmd->add_option("--rpm", o.requests_per_min, "Requests per minute per key (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--tpm", o.tokens_per_min, "Tokens per minute per key (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--grace", o.grace_s,
                  "Seconds streams get to finish on SIGTERM (new requests get 503 meanwhile)")
      ->capture_default_str();
  cmd->callback([a] {
    if (a->threads > 0) set_num_threads(a->threads);
    server::run_server(a->o);
  });
}

}  // namespace aero::cli
