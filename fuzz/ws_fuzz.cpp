// libFuzzer target: WebSocket client messages on /ws. The server (App::ws_message) passes each
// text frame to parse_api_request(Route::ws_message, ...); Beast has already unframed it. Anything
// but a clean parse or an ApiError (status 400) is a bug.
#include <cstdlib>
#include <string_view>

#include "fuzz_util.h"
#include "server/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero::server;
  RequestLimits lim;
  try {
    ApiRequest r = parse_api_request(Route::ws_message, aero::fuzz::as_text(data, size), lim);
    if (r.message.empty()) std::abort();
    if (!r.session_id.empty() && !valid_session_id(r.session_id)) std::abort();
    if (r.max_tokens && (*r.max_tokens < 1 || *r.max_tokens > lim.max_tokens_cap)) std::abort();
    if (r.stop.size() > lim.max_stop) std::abort();
  } catch (const ApiError& e) {
    if (e.status != 400 && e.status != 413) std::abort();
    (void)error_body(e);
  }
  return 0;
}
