// libFuzzer target: random bodies through parse_api_request for every route. Anything but a
// clean parse or an ApiError (status 400) is a bug; ASan catches memory errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using aero::server::Route;
  const Route route = static_cast<Route>(data[0] % 4);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  aero::server::RequestLimits lim;
  lim.max_body_bytes = 64 * 1024;
  try {
    aero::server::ApiRequest r = aero::server::parse_api_request(route, body, lim);
    // What parsed must satisfy the documented ranges.
    if (r.max_tokens && (*r.max_tokens < 1 || *r.max_tokens > lim.max_tokens_cap)) std::abort();
    if (!(r.temperature >= 0 && r.temperature <= 2) || !(r.top_p > 0 && r.top_p <= 1)) std::abort();
    if (r.top_k < 0 || r.min_p < 0 || r.min_p > 1 || !(r.repetition_penalty > 0)) std::abort();
    if (r.stop.size() > lim.max_stop) std::abort();
    if (route == Route::chat_completions &&
        (r.messages.empty() || r.messages.back().role != "user"))
      std::abort();
    if ((route == Route::seed_chat || route == Route::ws_message) && r.message.empty())
      std::abort();
    if (!r.session_id.empty() && !aero::server::valid_session_id(r.session_id)) std::abort();
  } catch (const aero::server::ApiError& e) {
    if (e.status != 400) std::abort();
    (void)aero::server::error_body(e);
  }
  return 0;
}
