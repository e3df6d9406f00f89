"""The PyTorch side of bench/t5.sh: T5 generation with a KV cache (encoder once, cross-attention
keys and values once per source, self-attention keys and values cached), float32, random
weights of the shape in CONFIG.json's model section, measured as bench/t5_bench.cpp measures
aero: encoder tokens/s (8 sources of --src tokens one by one), greedy decoder tokens/s at batch
1 and 8 (--new steps, EOS ignored), beam search with 4 beams (the cache reordered with
index_select every step, as transformers' _reorder_cache). Written from Hugging Face's
modeling_t5.py semantics (the package is not installed here); torch.inference_mode, the
threads torch is given (--threads). Prints one JSON line, with the process's peak resident
memory (ru_maxrss).
Usage: t5_torch.py CONFIG.json [--src 64] [--new 32] [--repeat 2] [--threads 2]
                   [--clock wall|cpu]
(--clock cpu: the process's CPU time per thread, as t5_bench's, for a machine shared with other
work.)
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F


def bucket(rel, bidirectional, nb, md):
    b = torch.zeros_like(rel)
    if bidirectional:
        nb //= 2
        b += (rel > 0).long() * nb
        rel = rel.abs()
    else:
        rel = -torch.clamp(rel, max=0)
    exact = nb // 2
    large = exact + (torch.log(rel.float() / exact) / math.log(md / exact) * (nb - exact)).long()
    large = torch.clamp(large, max=nb - 1)
    return b + torch.where(rel < exact, rel, large)


class T5:
    def __init__(self, c):
        self.c = c
        g = torch.Generator().manual_seed(1)
        D, H, F_, V = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"], c["vocab_size"]
        r = lambda *s: torch.randn(*s, generator=g) * 0.05
        self.gated = c.get("feed_forward_proj", "relu") == "gated-gelu"
        self.shared = r(V, D)
        self.head = r(V, D)
        def block(cross):
            b = dict(n1=torch.ones(D), q=r(H, D), k=r(H, D), v=r(H, D), o=r(D, H), n3=torch.ones(D),
                     wi0=r(F_, D), wi1=r(F_, D), wo=r(D, F_))
            if cross:
                b.update(n2=torch.ones(D), cq=r(H, D), ck=r(H, D), cv=r(H, D), co=r(D, H))
            return b
        self.enc = [block(False) for _ in range(c["num_layers"])]
        self.dec = [block(True) for _ in range(c.get("num_decoder_layers") or c["num_layers"])]
        nb = c.get("relative_attention_num_buckets", 32)
        self.enc_rel, self.dec_rel = r(nb, c["num_heads"]), r(nb, c["num_heads"])
        self.enc_n, self.dec_n = torch.ones(D), torch.ones(D)

    def norm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def ffn(self, b, h):
        if self.gated:
            m = F.gelu(F.linear(h, b["wi0"]), approximate="tanh") * F.linear(h, b["wi1"])
        else:
            m = F.relu(F.linear(h, b["wi0"]))
        return F.linear(m, b["wo"])

    def heads(self, x):  # (B, T, H) -> (B, NH, T, HS)
        B, T, _ = x.shape
        return x.view(B, T, self.c["num_heads"], self.c["d_kv"]).transpose(1, 2)

    def merge(self, x):
        B, NH, T, HS = x.shape
        return x.transpose(1, 2).reshape(B, T, NH * HS)

    def bias(self, table, qpos, klen, bidir):
        rel = torch.arange(klen)[None, :] - qpos[:, None]
        nb = self.c.get("relative_attention_num_buckets", 32)
        md = self.c.get("relative_attention_max_distance", 128)
        return table[bucket(rel, bidir, nb, md)].permute(2, 0, 1)[None]  # (1, NH, Tq, Tk)

    def encode(self, src):  # (B, S) -> cross K, V per decoder layer
        x = self.shared[src]
        S = src.shape[1]
        pb = self.bias(self.enc_rel, torch.arange(S), S, True)
        for b in self.enc:
            h = self.norm(x, b["n1"])
            q, k, v = (self.heads(F.linear(h, b[n])) for n in ("q", "k", "v"))
            a = torch.softmax(q @ k.transpose(-1, -2) + pb, -1) @ v
            x = x + F.linear(self.merge(a), b["o"])
            x = x + self.ffn(b, self.norm(x, b["n3"]))
        e = self.norm(x, self.enc_n)
        return [(self.heads(F.linear(e, b["ck"])), self.heads(F.linear(e, b["cv"]))) for b in self.dec]

    def step(self, ids, cache, cross):  # ids (B,), cache: list of (K, V) (B, NH, t, HS) or None
        y = self.shared[ids][:, None]
        t = 0 if cache[0] is None else cache[0][0].shape[2]
        pb = self.bias(self.dec_rel, torch.tensor([t]), t + 1, False)
        new = []
        for l, b in enumerate(self.dec):
            h = self.norm(y, b["n1"])
            q, k, v = (self.heads(F.linear(h, b[n])) for n in ("q", "k", "v"))
            if cache[l] is not None:
                k, v = torch.cat([cache[l][0], k], 2), torch.cat([cache[l][1], v], 2)
            new.append((k, v))
            a = torch.softmax(q @ k.transpose(-1, -2) + pb, -1) @ v
            y = y + F.linear(self.merge(a), b["o"])
            h = self.norm(y, b["n2"])
            q = self.heads(F.linear(h, b["cq"]))
            ck, cv = cross[l]
            y = y + F.linear(self.merge(torch.softmax(q @ ck.transpose(-1, -2), -1) @ cv), b["co"])
            y = y + self.ffn(b, self.norm(y, b["n3"]))
        y = self.norm(y, self.dec_n)
        return F.linear(y[:, 0], self.head), new


now = time.perf_counter


def source(S, V, seed):
    return torch.tensor([2 + (seed * 7919 + i * 104729) % (V - 2) for i in range(S)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--src", type=int, default=64)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    a = ap.parse_args()
    global now
    if a.clock == "cpu":
        now = lambda: time.process_time() / a.threads
    torch.set_num_threads(a.threads)
    c = json.load(open(a.config))["model"]
    V = c["vocab_size"]
    m = T5(c)
    L = len(m.dec)
    best = dict(encoder_tok_s=0, greedy_b1_tok_s=0, greedy_b8_tok_s=0, beam4_tok_s=0)
    with torch.inference_mode():
        for _ in range(a.repeat):
            t0 = now()
            crosses = [m.encode(source(a.src, V, i)[None]) for i in range(8)]
            best["encoder_tok_s"] = max(best["encoder_tok_s"], 8 * a.src / (now() - t0))
            for batch in (1, 8):
                # the batch's cross K/V stacked (same source length, so no padding)
                cross = [(torch.cat([cr[l][0] for cr in crosses[:batch]]),
                          torch.cat([cr[l][1] for cr in crosses[:batch]])) for l in range(L)]
                ids, cache = torch.zeros(batch, dtype=torch.long), [None] * L
                t0 = now()
                for _ in range(a.new):
                    logits, cache = m.step(ids, cache, cross)
                    ids = logits.argmax(-1)
                key = f"greedy_b{batch}_tok_s"
                best[key] = max(best[key], batch * a.new / (now() - t0))
            # Beam search, 4 beams: log_softmax + scores, top 2*4, reorder the cache.
            nb = 4
            cross = [(k.expand(nb, -1, -1, -1), v.expand(nb, -1, -1, -1)) for k, v in crosses[0]]
            ids, cache = torch.zeros(nb, dtype=torch.long), [None] * L
            scores = torch.tensor([0.0] + [-1e9] * (nb - 1))
            t0 = now()
            for _ in range(a.new):
                logits, cache = m.step(ids, cache, cross)
                cand = (torch.log_softmax(logits, -1) + scores[:, None]).view(-1)
                top_s, top_i = torch.topk(cand, 2 * nb)
                beam, ids, scores = top_i[:nb] // V, top_i[:nb] % V, top_s[:nb]
                cache = [(k.index_select(0, beam), v.index_select(0, beam)) for k, v in cache]
            best["beam4_tok_s"] = max(best["beam4_tok_s"], a.new / (now() - t0))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(dict(side="pytorch", threads=a.threads, torch=torch.__version__,
                          peak_rss_mb=rss, **best)))


if __name__ == "__main__":
    main()
