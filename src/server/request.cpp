#include "server/request.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>

namespace aero::server {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg) {
  throw ApiError(400, "invalid_request_error", param, "[server] " + msg);
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

// A present, non-null field or nullptr. JSON null means "not given", as in OpenAI's API.
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const json& v, const std::string& name) {
  if (!v.is_string()) bad(name, cat(name, " must be a string, got ", type_name(v)));
  return v.get<std::string>();
}

double get_number(const json& v, const std::string& name, double lo, double hi, bool lo_open) {
  if (!v.is_number()) bad(name, cat(name, " must be a number, got ", type_name(v)));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
    bad(name, cat(name, " must be in ", lo_open ? "(" : "[", lo, ", ", hi, "], got ", x));
  return x;
}

int64_t get_int(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (v.is_number_float()) {  // 5.0 is accepted as 5, as JSON does not tell them apart
    const double x = v.get<double>();
    // hi + 1 (not hi): double(INT64_MAX) rounds up to 2^63, which does not fit.
    if (!std::isfinite(x) || x != std::floor(x) || x < double(lo) || x >= double(hi) + 1.0)
      bad(name, cat(name, " must be an integer in [", lo, ", ", hi, "], got ", x));
    return int64_t(x);
  }
  if (!v.is_number_integer()) bad(name, cat(name, " must be an integer, got ", type_name(v)));
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(hi) || (lo > 0 && u < uint64_t(lo)))
      bad(name, cat(name, " must be an integer in [", lo, ", ", hi, "], got ", u));
    return int64_t(u);
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    bad(name, cat(name, " must be an integer in [", lo, ", ", hi, "], got ", x));
  return x;
}

// OpenAI content: a string, or an array of {"type": "text", "text": ...} parts.
std::string get_content(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array())
    bad(name, cat(name, " must be a string or an array of text parts, got ", type_name(v)));
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    const json& part = v[i];
    const std::string pname = cat(name, "[", i, "]");
    if (!part.is_object()) bad(pname, cat(pname, " must be an object, got ", type_name(part)));
    const json* type = field(part, "type");
    if (!type || !type->is_string() || *type != "text")
      bad(pname + ".type", cat(pname, ".type must be \"text\" (only text is supported)"));
    const json* text = field(part, "text");
    if (!text) bad(pname + ".text", cat(pname, ".text is required"));
    out += get_string(*text, pname + ".text");
  }
  return out;
}

void parse_sampling(const json& j, ApiRequest& r, const RequestLimits& lim) {
  if (const json* v = field(j, "max_tokens"))
    r.max_tokens = int(get_int(*v, "max_tokens", 1, lim.max_tokens_cap));
  else if (const json* w = field(j, "max_completion_tokens"))
    r.max_tokens = int(get_int(*w, "max_completion_tokens", 1, lim.max_tokens_cap));
  if (const json* v = field(j, "temperature"))
    r.temperature = float(get_number(*v, "temperature", 0, 2, false));
  if (const json* v = field(j, "top_p")) r.top_p = float(get_number(*v, "top_p", 0, 1, true));
  if (const json* v = field(j, "top_k")) r.top_k = int(get_int(*v, "top_k", 0, 1 << 20));
  if (const json* v = field(j, "min_p")) r.min_p = float(get_number(*v, "min_p", 0, 1, false));
  if (const json* v = field(j, "repetition_penalty"))
    r.repetition_penalty = float(get_number(*v, "repetition_penalty", 0, 10, true));
  for (const char* name : {"num_beams", "n_beams"})
    if (const json* v = field(j, name)) r.beam.num_beams = int(get_int(*v, name, 1, 16));
  if (const json* v = field(j, "length_penalty"))
    r.beam.length_penalty = float(get_number(*v, "length_penalty", -10, 10, false));
  if (const json* v = field(j, "early_stopping")) {
    if (!v->is_boolean())
      bad("early_stopping", cat("early_stopping must be a boolean, got ", type_name(*v)));
    r.beam.early_stopping = v->get<bool>();
  }
  if (const json* v = field(j, "no_repeat_ngram_size"))
    r.beam.no_repeat_ngram_size = int(get_int(*v, "no_repeat_ngram_size", 0, 64));
  if (const json* v = field(j, "seed"))
    r.seed = uint64_t(get_int(*v, "seed", std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max()));
  if (const json* v = field(j, "n"))
    if (get_int(*v, "n", 1, 1 << 20) != 1) bad("n", "n must be 1 (one choice per request)");
  if (const json* v = field(j, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > lim.max_stop)
        bad("stop", cat("stop takes at most ", lim.max_stop, " strings"));
      for (size_t i = 0; i < v->size(); i++)
        r.stop.push_back(get_string((*v)[i], cat("stop[", i, "]")));
    } else {
      bad("stop", cat("stop must be a string or an array of strings, got ", type_name(*v)));
    }
    for (const std::string& s : r.stop)
      if (s.empty()) bad("stop", "stop strings must not be empty");
  }
}

// One of an enum's names.
template <class E>
E get_enum(const json& x, const std::string& name, const EnumNames<E>& names) {
  const std::string s = get_string(x, name);
  const auto all = names.names();
  if (std::find(all.begin(), all.end(), s) == all.end())
    bad(name, cat(name, " must be one of ", names.list(), ", got \"", s, "\""));
  return names.parse(s, name);
}

// The "diffusion" object: its own keys only (a misspelt setting is an error, not a default).
void parse_diffusion(const json& v, DiffusionOverrides& d, const RequestLimits& lim) {
  if (!v.is_object()) bad("diffusion", cat("diffusion must be an object, got ", type_name(v)));
  static const char* const kKeys[] = {"gen_length", "steps",     "block_length",   "remasking",
                                      "threshold",  "cfg_scale", "eos_confidence", "cache"};
  for (const auto& [key, value] : v.items())
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys))
      bad("diffusion." + key,
          cat("diffusion.", key, " is not a diffusion setting (gen_length, ",
              "steps, block_length, remasking, threshold, cfg_scale, eos_confidence, cache)"));
  if (const json* x = field(v, "gen_length"))
    d.gen_length = int(get_int(*x, "diffusion.gen_length", 1, lim.max_tokens_cap));
  if (const json* x = field(v, "steps")) d.steps = int(get_int(*x, "diffusion.steps", 1, 1 << 16));
  if (const json* x = field(v, "block_length"))
    d.block_length = int(get_int(*x, "diffusion.block_length", 1, lim.max_tokens_cap));
  if (const json* x = field(v, "remasking"))
    d.remasking = get_enum(*x, "diffusion.remasking", remasking_names());
  if (const json* x = field(v, "cache"))
    d.cache = get_enum(*x, "diffusion.cache", diffusion_cache_names());
  if (const json* x = field(v, "threshold"))
    d.threshold = float(get_number(*x, "diffusion.threshold", 0, 1, false));
  if (const json* x = field(v, "cfg_scale"))
    d.cfg_scale = float(get_number(*x, "diffusion.cfg_scale", 0, 100, false));
  if (const json* x = field(v, "eos_confidence"))
    d.eos_confidence = float(get_number(*x, "diffusion.eos_confidence", 0, 1, true));
}

}  // namespace

std::string error_body(const ApiError& e) {
  json err = {{"message", e.what()}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool valid_session_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

ApiRequest parse_api_request(Route route, std::string_view body, const RequestLimits& lim) {
  if (body.size() > lim.max_body_bytes)
    bad("",
        cat("request body of ", body.size(), " bytes is over the limit of ", lim.max_body_bytes));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    bad("", cat("malformed JSON body: ", e.what()));
  }
  if (!j.is_object()) bad("", cat("the body must be a JSON object, got ", type_name(j)));
  ApiRequest r;
  r.route = route;
  if (const json* v = field(j, "model")) r.model = get_string(*v, "model");
  parse_sampling(j, r, lim);
  if (const json* v = field(j, "stream")) {
    if (!v->is_boolean()) bad("stream", cat("stream must be a boolean, got ", type_name(*v)));
    r.stream = v->get<bool>();
  }
  if (const json* v = field(j, "steps")) {
    if (!v->is_boolean()) bad("steps", cat("steps must be a boolean, got ", type_name(*v)));
    r.steps = v->get<bool>();
  }
  if (const json* v = field(j, "diffusion")) parse_diffusion(*v, r.diffusion, lim);
  if (const json* v = field(j, "stream_options")) {
    if (!v->is_object()) bad("stream_options", "stream_options must be an object");
    if (const json* u = field(*v, "include_usage")) {
      if (!u->is_boolean())
        bad("stream_options.include_usage", "stream_options.include_usage must be a boolean");
      r.include_usage = u->get<bool>();
    }
  }
  switch (route) {
    case Route::chat_completions: {
      const json* m = field(j, "messages");
      if (!m) bad("messages", "messages is required");
      if (!m->is_array()) bad("messages", cat("messages must be an array, got ", type_name(*m)));
      if (m->empty()) bad("messages", "messages must not be empty");
      if (m->size() > lim.max_messages)
        bad("messages", cat("at most ", lim.max_messages, " messages, got ", m->size()));
      for (size_t i = 0; i < m->size(); i++) {
        const json& msg = (*m)[i];
        const std::string name = cat("messages[", i, "]");
        if (!msg.is_object()) bad(name, cat(name, " must be an object, got ", type_name(msg)));
        const json* role = field(msg, "role");
        if (!role) bad(name + ".role", cat(name, ".role is required"));
        std::string rs = get_string(*role, name + ".role");
        if (rs == "developer") rs = "system";
        if (rs != "system" && rs != "user" && rs != "assistant")
          bad(name + ".role",
              cat(name, ".role must be system, user or assistant, got \"", rs, "\""));
        const json* content = field(msg, "content");
        if (!content) bad(name + ".content", cat(name, ".content is required"));
        r.messages.push_back({rs, get_content(*content, name + ".content")});
      }
      if (r.messages.back().role != "user") bad("messages", "the last message must be the user's");
      break;
    }
    case Route::completions: {
      const json* p = field(j, "prompt");
      if (!p) bad("prompt", "prompt is required");
      if (p->is_array()) {
        if (p->size() != 1 || !(*p)[0].is_string())
          bad("prompt", "prompt must be a string or an array of exactly one string");
        r.prompt = (*p)[0].get<std::string>();
      } else {
        r.prompt = get_string(*p, "prompt");
      }
      if (r.prompt.empty()) bad("prompt", "prompt must not be empty");
      break;
    }
    case Route::seed_chat:
    case Route::ws_message: {
      r.stream = true;
      const json* m = field(j, "message");
      if (!m) bad("message", "message is required");
      r.message = get_string(*m, "message");
      if (r.message.empty()) bad("message", "message must not be empty");
      if (const json* s = field(j, "session_id")) {
        r.session_id = get_string(*s, "session_id");
        if (!valid_session_id(r.session_id))
          bad("session_id", "session_id must be 1-64 characters of A-Z a-z 0-9 _ -");
      }
      break;
    }
  }
  return r;
}

}  // namespace aero::server
