// What every token-by-token generator (the KV-cache engine, the seq2seq generator) keeps the
// same way for a sequence: its request, its tokens, its text as it becomes final (whole UTF-8
// characters, stop strings held back) and its result.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/generator.h"
#include "tokenizer/stream_decoder.h"

namespace aero {

struct SeqOutput {
  SeqRequest req;
  TokenStreamDecoder decoder;
  StopMatcher stops;
  std::vector<int32_t> ctx;  // the tokens the next step reads: the generated ones appended
  GenerateResult res;
  bool done = false;

  // continuation: the decoder's first piece continues the prompt's text (a GPT's).
  SeqOutput(SeqRequest r, const Tokenizer& tok, bool continuation)
      : req(std::move(r)),
        decoder(req.adapter && req.adapter->tok ? *req.adapter->tok : tok, continuation),
        stops(req.opts.stop) {}

  // Text that became final, to the result and the callback; false when the callback asked to
  // stop.
  bool emit(const std::string& text) {
    if (text.empty()) return true;
    res.text += text;
    return !req.on_text || req.on_text(text);
  }

  // Ends the sequence (length, eos, context): the held-back text is released.
  void finish(const char* reason) {
    done = true;
    res.finish = reason;
    emit(stops.push(decoder.finish()));
    if (!stops.stopped())
      emit(stops.flush());
    else
      res.finish = "stop";
  }

  // A generated token other than an ending EOS: appended, streamed, checked against the stop
  // strings and max_new. False when the sequence ended with it (cancelled, stop, length).
  bool append(int32_t t) {
    ctx.push_back(t);
    res.tokens.push_back(t);
    if (!emit(stops.push(decoder.push(t)))) {
      done = true;
      res.finish = "cancelled";
      return false;
    }
    if (stops.stopped()) {
      done = true;
      res.finish = "stop";
      return false;
    }
    if (int(res.tokens.size()) >= req.opts.max_new) {
      finish("length");
      return false;
    }
    return true;
  }
};

}  // namespace aero
