// Request bodies of the HTTP API, parsed and validated in one pure function (no I/O, no model):
// the server calls it for every body and fuzz/request_fuzz.cpp throws random bytes at it.
// Anything wrong is an ApiError carrying the HTTP status and OpenAI's error fields.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "infer/chat.h"
#include "infer/generate.h"

namespace aero::server {

// An error answered to the client as {"error": {"message", "type", "param", "code"}}.
class ApiError : public Error {
 public:
  ApiError(int status, std::string type, std::string param, const std::string& msg)
      : Error(msg), status(status), type(std::move(type)), param(std::move(param)) {}
  int status;
  std::string type;   // "invalid_request_error", "authentication_error", ...
  std::string param;  // the offending field, or empty
};

// The JSON body of an error, in OpenAI's shape.
std::string error_body(const ApiError& e);

enum class Route : uint8_t { chat_completions, completions, seed_chat, ws_message };

struct RequestLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_messages = 256;
  size_t max_stop = 4;  // OpenAI's limit on stop strings
  int max_tokens_cap = 4096;
};

struct ApiRequest {
  Route route = Route::chat_completions;
  std::string model;                  // optional; echoed back
  std::vector<ChatMessage> messages;  // chat_completions
  std::string prompt;                 // completions
  std::string session_id;             // seed_chat, ws_message (empty: a new session)
  std::string message;                // seed_chat, ws_message
  std::optional<int> max_tokens;      // absent: the server's default
  float temperature = 1.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  // num_beams (or n_beams), length_penalty, early_stopping, no_repeat_ngram_size: beam search
  // and n-gram blocking as Hugging Face's generate() (beams: encoder-decoder models only).
  BeamOpts beam;
  std::optional<uint64_t> seed;  // absent: the server draws one
  std::vector<std::string> stop;
  bool stream = false;         // seed_chat and ws_message always stream
  bool include_usage = false;  // stream_options.include_usage
  // "diffusion": {gen_length, steps, block_length, remasking, threshold, cfg_scale,
  // eos_confidence}: a masked-diffusion model's sampler settings (models/diffusion_opts.h); the
  // app refuses them for any other model.
  DiffusionOverrides diffusion;
  // ws_message: also a {"type": "step"} message with the whole answer after each sampler step
  // of a model that refines it in place (masked diffusion), masked positions shown as "░".
  bool steps = false;
};

// Parses and validates `body` for `route`. Unknown fields are ignored (OpenAI clients send
// many); known fields must have the right type and range. Throws ApiError (400) naming the field.
ApiRequest parse_api_request(Route route, std::string_view body, const RequestLimits& limits);

// Session ids are what the server hands out (or a client picks): 1-64 of [A-Za-z0-9_-].
bool valid_session_id(std::string_view id);

}  // namespace aero::server
