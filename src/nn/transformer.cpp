#include "nn/transformer.h"

#include <cmath>

namespace aero {

TransformerStack::TransformerStack(const TransformerSpec& s, ParamStore& store, std::string owner)
    : spec_(s), owner_(std::move(owner)) {
  namespace tn = tensor_names;
  const int64_t V = s.vocab_size, C = s.n_embd, H = s.ffn();
  const float std = s.init_std, proj_std = std / std::sqrt(2.0f * float(s.n_layer));
  token_embd_ = Embedding(store, tn::token_embd, V, C, std);
  if (s.pos == PosKind::learned)
    position_embd_ = Embedding(store, tn::position_embd, s.block_size, C, std);
  AttentionConfig ac;
  ac.n_embd = C;
  ac.n_head = s.n_head;
  ac.head_size = s.head_size();
  ac.causal = s.causal;
  ac.bias = s.bias;
  ac.rope = s.pos == PosKind::rope;
  ac.rope_theta = s.rope_theta;
  ac.dropout = s.dropout_attn;
  ac.std = std;
  ac.out_std = proj_std;
  blocks_.reserve(size_t(s.n_layer));
  for (int l = 0; l < s.n_layer; l++) {
    Block& b = blocks_.emplace_back();
    b.attn_norm = Norm(store, tn::block(l, "attn_norm"), C, s.norm, s.norm_eps);
    b.attn = Attention(store,
                       {tn::block(l, "attn_q"), tn::block(l, "attn_k"), tn::block(l, "attn_v"),
                        tn::block(l, "attn_output")},
                       ac);
    b.ffn_norm = Norm(store, tn::block(l, "ffn_norm"), C, s.norm, s.norm_eps);
    b.mlp = Mlp(store, {tn::block(l, "ffn_gate"), tn::block(l, "ffn_up"), tn::block(l, "ffn_down")},
                C, H, s.act, s.bias, std, proj_std);
    b.pre_ln = s.pre_ln;
    b.dropout_resid = s.dropout_resid;
  }
  if (s.pre_ln) output_norm_ = Norm(store, tn::output_norm, C, s.norm, s.norm_eps);
  if (!s.tie_head) output_ = Linear(store, tn::output, C, V, /*bias=*/false, std);
}

Var TransformerStack::Block::forward(Tape& tape, Var x) const {
  Var h = pre_ln ? attn_norm.forward(tape, x) : x;
  x = attn.forward(tape, h, x, dropout_resid);
  if (!pre_ln) x = attn_norm.forward(tape, x);
  h = pre_ln ? ffn_norm.forward(tape, x) : x;
  x = mlp.forward(tape, h, x, dropout_resid);
  if (!pre_ln) x = ffn_norm.forward(tape, x);
  return x;
}

Var TransformerStack::forward(Tape& tape, const Tensor& ids) const {
  AERO_CHECK(ids.ndim() == 2 && ids.dtype() == DType::i32, "[", owner_,
             "] ids must be (B, T) i32, got ", ids.shape().str(), " ", dtype_name(ids.dtype()));
  const int64_t T = ids.size(1);
  AERO_CHECK(T >= 1 && T <= spec_.block_size, "[", owner_, "] sequence of ", T,
             " tokens does not fit the context of ", spec_.block_size);
  Var wte = token_embd_.weight(tape);          // one leaf for the lookup and a tied head
  Var x = token_embd_.lookup(tape, wte, ids);  // (B, T, C)
  if (spec_.pos == PosKind::learned) {
    Tensor pos = tape.alloc({T}, DType::i32);
    for (int64_t t = 0; t < T; t++) pos.i32()[t] = int32_t(t);
    x = add(x, position_embd_.forward(tape, pos));  // (T, C) broadcast over B
  }
  if (spec_.dropout_emb > 0) x = dropout(x, spec_.dropout_emb);
  const int every = tape.checkpoint_every;
  for (size_t l = 0; l < blocks_.size(); l++) {
    const Block& b = blocks_[l];
    x = every > 0 && l % size_t(every) == 0 ? checkpoint(b, {x}) : b.forward(tape, x);
  }
  if (spec_.pre_ln) x = output_norm_.forward(tape, x);
  return spec_.tie_head ? token_embd_.head(tape, x, wte) : output_.forward(tape, x);  // (B, T, V)
}

TokenTables TransformerStack::token_tables() {
  return {&token_embd_, spec_.tie_head ? nullptr : &output_};
}

std::vector<Linear*> TransformerStack::linears() {
  std::vector<Linear*> r;
  for (Block& b : blocks_) {
    for (Linear* l : {&b.attn.q, &b.attn.k, &b.attn.v, &b.attn.o}) r.push_back(l);
    if (is_gated(b.mlp.act())) r.push_back(&b.mlp.gate);
    r.push_back(&b.mlp.up);
    r.push_back(&b.mlp.down);
  }
  if (!spec_.tie_head) r.push_back(&output_);
  return r;
}

}  // namespace aero
