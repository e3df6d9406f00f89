"""Reference truth for tests/parity/test_t5_parity.cpp: T5 written to Hugging Face's semantics
(transformers' modeling_t5.py, from its documented behaviour; the package is not installed
here), in float64.

T5LayerNorm: w * x * rsqrt(mean(x^2) + eps), no mean, no bias. Attention: scores q.k^T with no
1/sqrt(d) scaling, plus the relative-position bias of layer 0 of the stack (bidirectional
buckets in the encoder, causal in the decoder; none in cross-attention), padding and causal
masks. FFN: relu (wi, wo) or gated-gelu (wo(gelu_tanh(wi_0 x) * wi_1 x)). Pre-norm residual
blocks, final layer norm per stack. Head: lm_head (untied) or the shared embedding with the
decoder output scaled by d_model^-0.5 (tied, T5 v1.0). Decoder input = shift_right(labels):
start token (pad) first, -100 -> pad. Loss: cross-entropy over labels != -100.
One deliberate difference: HF runs the softmax in float32 (scores.float()); here it stays in
float64, so the truth is exact.

For each case in CASES it writes a checkpoint in HF's layout, OUT/t5_<case>/ (config.json and
model.safetensors, or a sharded model.safetensors.index.json; the shared embedding stored under
the names HF checkpoints use), and the truth OUT/t5_<case>.safetensors: inputs, encoder
output, logits, loss, every gradient (HF names), the losses of 5 AdamW steps and the weights
after them; OUT/t5_gen_<case>.safetensors: greedy and beam-search answers (make_generation).
OUT/t5_buckets.safetensors: _relative_position_bucket at distances -1000..1000.
Usage: t5_ref.py OUT_DIR
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

from st_write import write_safetensors

BASE = dict(vocab_size=50, d_model=32, d_kv=8, d_ff=48, num_heads=3, num_layers=2,
            relative_attention_num_buckets=8, relative_attention_max_distance=20,
            dropout_rate=0.0, layer_norm_epsilon=1e-6, decoder_start_token_id=0,
            eos_token_id=1, pad_token_id=0, initializer_factor=1.0)
CASES = {
    # T5 v1.0: relu, tied head; the embedding stored only as encoder/decoder.embed_tokens
    "v10": dict(BASE, model_type="t5", feed_forward_proj="relu", tie_word_embeddings=True,
                num_decoder_layers=2),
    # mT5 / v1.1: gated-gelu, untied head, more decoder than encoder layers, two shards
    "mt5": dict(BASE, model_type="mt5", feed_forward_proj="gated-gelu",
                tie_word_embeddings=False, num_decoder_layers=3, vocab_size=56),
}
RUN = dict(B=3, S=11, T=7, seed=2024, lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8,
           weight_decay=0.1, steps=5)


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    """HF's _relative_position_bucket (the log in float32, as there)."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


def param_shapes(c):
    """[(HF name, shape)] of every parameter."""
    V, D, F_, NH, KV = c["vocab_size"], c["d_model"], c["d_ff"], c["num_heads"], c["d_kv"]
    s = [("shared.weight", (V, D))]
    gated = c["feed_forward_proj"] == "gated-gelu"
    for stack, L in (("encoder", c["num_layers"]), ("decoder", c["num_decoder_layers"])):
        for l in range(L):
            p = f"{stack}.block.{l}.layer."
            att = lambda n: [(f"{n}.{m}.weight", (NH * KV, D)) for m in "qkv"] + \
                [(f"{n}.o.weight", (D, NH * KV))]
            s += att(p + "0.SelfAttention")
            if l == 0:
                s.append((p + "0.SelfAttention.relative_attention_bias.weight",
                          (c["relative_attention_num_buckets"], NH)))
            s.append((p + "0.layer_norm.weight", (D,)))
            f = p + "1."
            if stack == "decoder":
                s += att(p + "1.EncDecAttention")
                s.append((p + "1.layer_norm.weight", (D,)))
                f = p + "2."
            if gated:
                s += [(f + "DenseReluDense.wi_0.weight", (F_, D)),
                      (f + "DenseReluDense.wi_1.weight", (F_, D))]
            else:
                s.append((f + "DenseReluDense.wi.weight", (F_, D)))
            s += [(f + "DenseReluDense.wo.weight", (D, F_)), (f + "layer_norm.weight", (D,))]
        s.append((f"{stack}.final_layer_norm.weight", (D,)))
    if not c["tie_word_embeddings"]:
        s.append(("lm_head.weight", (V, D)))
    return s


def init_params(c, g):
    P = {}
    for name, shape in param_shapes(c):
        if "layer_norm" in name:
            t = 1 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif "relative_attention_bias" in name:
            t = 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            t = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        P[name] = t.float().double().requires_grad_(True)
    return P


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def compute_bias(table, qlen, klen, bidirectional, c):
    ctx = torch.arange(qlen)[:, None]
    mem = torch.arange(klen)[None, :]
    b = relative_position_bucket(mem - ctx, bidirectional, c["relative_attention_num_buckets"],
                                 c["relative_attention_max_distance"])
    return table[b].permute(2, 0, 1)  # (NH, Tq, Tk)


def attention(P, pre, h, kv, c, bias=None, key_mask=None, causal=False):
    B, Tq, _ = h.shape
    Tk = kv.shape[1]
    NH, KV = c["num_heads"], c["d_kv"]
    q = F.linear(h, P[pre + ".q.weight"]).view(B, Tq, NH, KV).transpose(1, 2)
    k = F.linear(kv, P[pre + ".k.weight"]).view(B, Tk, NH, KV).transpose(1, 2)
    v = F.linear(kv, P[pre + ".v.weight"]).view(B, Tk, NH, KV).transpose(1, 2)
    scores = q @ k.transpose(-1, -2)  # no 1/sqrt(d)
    if bias is not None:
        scores = scores + bias[None]
    if key_mask is not None:
        scores = scores.masked_fill(key_mask[:, None, None, :] == 0, float("-inf"))
    if causal:
        scores = scores.masked_fill(~torch.ones(Tq, Tk, dtype=torch.bool).tril(), float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, Tq, NH * KV)
    return F.linear(out, P[pre + ".o.weight"])


def ffn(P, f, h, c):
    if c["feed_forward_proj"] == "gated-gelu":
        m = F.gelu(F.linear(h, P[f + "DenseReluDense.wi_0.weight"]), approximate="tanh") * \
            F.linear(h, P[f + "DenseReluDense.wi_1.weight"])
    else:
        m = F.relu(F.linear(h, P[f + "DenseReluDense.wi.weight"]))
    return F.linear(m, P[f + "DenseReluDense.wo.weight"])


def encode(P, src, mask, c):
    eps = c["layer_norm_epsilon"]
    x = P["shared.weight"][src]
    S = src.shape[1]
    bias = compute_bias(P["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                        S, S, True, c)
    for l in range(c["num_layers"]):
        p = f"encoder.block.{l}.layer."
        x = x + attention(P, p + "0.SelfAttention", rms_norm(x, P[p + "0.layer_norm.weight"], eps),
                          rms_norm(x, P[p + "0.layer_norm.weight"], eps), c, bias, mask)
        x = x + ffn(P, p + "1.", rms_norm(x, P[p + "1.layer_norm.weight"], eps), c)
    return rms_norm(x, P["encoder.final_layer_norm.weight"], eps)


def decode(P, dec_in, enc, mask, c):
    eps = c["layer_norm_epsilon"]
    y = P["shared.weight"][dec_in]
    T = dec_in.shape[1]
    bias = compute_bias(P["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                        T, T, False, c)
    for l in range(c["num_decoder_layers"]):
        p = f"decoder.block.{l}.layer."
        h = rms_norm(y, P[p + "0.layer_norm.weight"], eps)
        y = y + attention(P, p + "0.SelfAttention", h, h, c, bias, None, causal=True)
        h = rms_norm(y, P[p + "1.layer_norm.weight"], eps)
        y = y + attention(P, p + "1.EncDecAttention", h, enc, c, None, mask)
        y = y + ffn(P, p + "2.", rms_norm(y, P[p + "2.layer_norm.weight"], eps), c)
    y = rms_norm(y, P["decoder.final_layer_norm.weight"], eps)
    if c["tie_word_embeddings"]:
        return F.linear(y * c["d_model"] ** -0.5, P["shared.weight"])
    return F.linear(y, P["lm_head.weight"])


def shift_right(labels, c):
    dec = torch.zeros_like(labels)
    dec[:, 1:] = labels[:, :-1]
    dec[:, 0] = c["decoder_start_token_id"]
    return dec.masked_fill(dec == -100, c["pad_token_id"])


def forward(P, src, mask, labels, c):
    enc = encode(P, src, mask, c)
    logits = decode(P, shift_right(labels, c), enc, mask, c)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                           ignore_index=-100)
    return enc, logits, loss


def inputs(c, g):
    B, S, T, V = RUN["B"], RUN["S"], RUN["T"], c["vocab_size"]
    src = torch.randint(2, V, (B, S), generator=g)
    mask = torch.ones(B, S, dtype=torch.long)
    src_len = [S, S - 3, 4]
    for b, n in enumerate(src_len):
        src[b, n:] = c["pad_token_id"]
        mask[b, n:] = 0
    labels = torch.randint(2, V, (B, T), generator=g)
    for b, n in enumerate([T, T - 2, 3]):
        labels[b, n - 1] = c["eos_token_id"]
        labels[b, n:] = -100
    return src, mask, labels


def write_checkpoint(P, c, d, sharded):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(dict(c, architectures=["T5ForConditionalGeneration"]), f, indent=2)
    W = {k: v.detach().float() for k, v in P.items()}
    if c["tie_word_embeddings"]:  # as some HF checkpoints store it: under both stack names
        shared = W.pop("shared.weight")
        W["encoder.embed_tokens.weight"] = shared
        W["decoder.embed_tokens.weight"] = shared.clone()
    if not sharded:
        write_safetensors(os.path.join(d, "model.safetensors"), W, {"format": "pt"})
        return
    names = list(W)
    parts = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
             "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for file, ns in parts.items():
        write_safetensors(os.path.join(d, file), {n: W[n] for n in ns}, {"format": "pt"})
        weight_map.update({n: file for n in ns})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)


def make(name, c, out_dir):
    g = torch.Generator().manual_seed(RUN["seed"])
    P = init_params(c, g)
    src, mask, labels = inputs(c, g)
    write_checkpoint(P, c, os.path.join(out_dir, f"t5_{name}"), sharded=name == "mt5")
    enc, logits, loss = forward(P, src, mask, labels, c)
    loss.backward()
    t = {"src": src.int(), "src_mask": mask.int(), "labels": labels.int(),
         "decoder_input": shift_right(labels, c).int(), "encoder_output": enc.detach().float(),
         "logits": logits.detach().float(), "loss": loss.detach().reshape(1).float()}
    t.update({f"grad.{k}": v.grad.float() for k, v in P.items()})
    groups = [{"params": [p for p in P.values() if p.dim() >= 2],
               "weight_decay": RUN["weight_decay"]},
              {"params": [p for p in P.values() if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=RUN["lr"], betas=(RUN["beta1"], RUN["beta2"]),
                            eps=RUN["eps"])
    losses = []
    for _ in range(RUN["steps"]):
        opt.zero_grad()
        _, _, loss = forward(P, src, mask, labels, c)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    t["adamw.losses"] = torch.tensor(losses, dtype=torch.float32)
    t.update({f"final.{k}": v.detach().float() for k, v in P.items()})
    write_safetensors(os.path.join(out_dir, f"t5_{name}.safetensors"), t,
                      dict(RUN, case=name, torch=torch.__version__))


# Generation (transformers' generate() for an encoder-decoder, from its documented behaviour):
# greedy, and beam search as BeamSearchScorer / BeamHypotheses have it; both with
# NoRepeatNGramLogitsProcessor. Every step recomputes the whole decoder prefix.
GEN = dict(max_new=10, src_len=[9, 5, 3], seed=7)
GEN_CASES = {  # name: (num_beams, length_penalty, early_stopping, no_repeat_ngram_size)
    "greedy": (1, 1.0, False, 0),
    "greedy_ngram2": (1, 1.0, False, 2),
    "beam3": (3, 1.0, False, 0),
    "beam4_lp2_early": (4, 2.0, True, 0),
    "beam4_lp05_ngram2": (4, 0.5, False, 2),
    "beam2_ngram3": (2, 1.0, False, 3),
}


def banned_tokens(ids, n):
    """_get_ngrams + _get_generated_ngrams: tokens that would repeat an n-gram of ids."""
    if n <= 0 or len(ids) + 1 < n:
        return []
    ngrams = {}
    for ng in zip(*[ids[i:] for i in range(n)]):
        ngrams.setdefault(tuple(ng[:-1]), []).append(ng[-1])
    return ngrams.get(tuple(ids[len(ids) + 1 - n:]), [])


def next_log_probs(P, enc, ids, c, ngram):
    logits = decode(P, torch.tensor([ids]), enc, None, c)[0, -1]
    lp = torch.log_softmax(logits, -1)
    for t in banned_tokens(ids, ngram):
        lp[t] = float("-inf")
    return lp


def greedy(P, src, c, eos, ngram):
    enc = encode(P, src[None], None, c)
    ids = [c["decoder_start_token_id"]]
    while len(ids) - 1 < GEN["max_new"]:
        t = int(next_log_probs(P, enc, ids, c, ngram).argmax())
        if t == eos:
            return ids[1:], True
        ids.append(t)
    return ids[1:], False


def beam_search(P, src, c, eos, nb, lp, early, ngram):
    enc = encode(P, src[None], None, c)
    beams = [([c["decoder_start_token_id"]], 0.0 if b == 0 else -1e9) for b in range(nb)]
    hyps, worst = [], 1e9

    def add(tokens, sum_logprobs, length, ended):
        nonlocal worst
        score = sum_logprobs / length ** lp
        if len(hyps) < nb or score > worst:
            hyps.append((score, tokens, ended))
            if len(hyps) > nb:
                order = sorted([(h[0], i) for i, h in enumerate(hyps)])
                del hyps[order[0][1]]
                worst = order[1][0]
            else:
                worst = min(score, worst)

    while True:
        cur_len = len(beams[0][0])  # start token and answer so far
        flat = torch.cat([next_log_probs(P, enc, ids, c, ngram) + score for ids, score in beams])
        V = flat.numel() // nb
        top_s, top_i = torch.topk(flat, 2 * nb)
        nxt = []
        for rank, (sc, ix) in enumerate(zip(top_s.tolist(), top_i.tolist())):
            b, t = ix // V, ix % V
            if t == eos:
                if rank >= nb:
                    continue
                add(beams[b][0][1:], sc, cur_len, True)  # length: answer + EOS
            else:
                nxt.append((beams[b][0] + [t], sc))
            if len(nxt) == nb:
                break
        done = len(hyps) >= nb and (early or worst >= top_s[0].item() / cur_len ** lp)
        beams = nxt
        if done:
            break
        if len(beams[0][0]) - 1 >= GEN["max_new"]:
            for ids, score in beams:
                add(ids[1:], score, len(ids) - 1, False)
            break
    best = sorted(hyps, key=lambda h: h[0]).pop()
    return best[1], best[2]


def make_generation(name, c, out_dir):
    """OUT/t5_gen_<case>.safetensors: sources, the EOS id used (a token the random model
    predicts often, so answers end by EOS as well as by length) and every case's answers as
    [ended_by_eos, tokens...]."""
    g = torch.Generator().manual_seed(RUN["seed"])
    P = {k: v.detach() for k, v in init_params(c, g).items()}  # the checkpoint's weights
    gg = torch.Generator().manual_seed(GEN["seed"])
    srcs = [torch.randint(2, c["vocab_size"], (n,), generator=gg) for n in GEN["src_len"]]
    counts = torch.zeros(c["vocab_size"])
    first = {c["decoder_start_token_id"]}
    for src in srcs:
        toks, _ = greedy(P, src, c, -1, 0)
        first.update(toks[:2])
        for t in toks[2:]:
            counts[t] += 1
    for t in first:  # not an answer's first tokens: answers end by EOS after a few tokens
        counts[t] = -1
    eos = int(counts.argmax())
    t = {"gen.eos": torch.tensor([eos], dtype=torch.int32)}
    for i, src in enumerate(srcs):
        t[f"gen.src.{i}"] = src.int()
        for case, (nb, lp, early, ngram) in GEN_CASES.items():
            if nb == 1:
                toks, ended = greedy(P, src, c, eos, ngram)
            else:
                toks, ended = beam_search(P, src, c, eos, nb, lp, early, ngram)
            t[f"gen.{case}.{i}"] = torch.tensor([int(ended)] + toks, dtype=torch.int32)
    write_safetensors(os.path.join(out_dir, f"t5_gen_{name}.safetensors"), t,
                      dict(GEN, case=name, torch=torch.__version__))


def make_buckets(out):
    rel = torch.arange(-1000, 1001)
    t = {"relative_position": rel.int()}
    for nb, md in ((32, 128), (8, 20), (64, 256)):
        for bi in (True, False):
            t[f"buckets.{nb}.{md}.{'bi' if bi else 'causal'}"] = \
                relative_position_bucket(rel, bi, nb, md).int()
    write_safetensors(out, t, {"torch": torch.__version__})


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name, c in CASES.items():
        make(name, c, out_dir)
        make_generation(name, c, out_dir)
    make_buckets(os.path.join(out_dir, "t5_buckets.safetensors"))
