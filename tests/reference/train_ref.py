"""A PyTorch GPT trainer that matches `aero train` run by run, for the learning check in
tests/train.cmake (train.kjv_char_small_matches_pytorch).

Same architecture (token + learned position embeddings, pre-LN blocks with causal multi-head
attention and a GELU (tanh) MLP, biases, final LayerNorm, untied head), same dropout places
(embeddings, attention weights, each residual branch), same init scheme (normal(0, init_std),
residual projections init_std / sqrt(2 L), zero biases, unit norms), AdamW with weight decay on
matrices only, global-norm clipping, linear warmup then cosine to min_lr: all read from aero's
resolved config (the config.json of its checkpoint). Only the random numbers differ (init and
dropout): the batches are aero's own, drawn with the same generator (std::mt19937_64 seeded
per step with splitmix64, as data/batching.cpp and train/trainer.cpp do), and the validation
windows are the ones aero evaluates on.

Usage: train_ref.py CONFIG_JSON   (paths to the shards come from its data section)
Prints "val_loss X" at every evaluation and at the end.
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MASK64 = (1 << 64) - 1


def splitmix64(x):
    """core/rng.h: one step of splitmix64 on x."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


class MT19937_64:
    """std::mt19937_64, bit for bit: MT19937_64(5489).next() == 14514284786278117030."""

    def __init__(self, seed):
        self.mt = [0] * 312
        self.mt[0] = seed & MASK64
        for i in range(1, 312):
            prev = self.mt[i - 1]
            self.mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK64
        self.i = 312

    def _twist(self):
        mt = self.mt
        for k in range(312):
            y = (mt[k] & 0xFFFFFFFF80000000) | (mt[(k + 1) % 312] & 0x7FFFFFFF)
            v = mt[(k + 156) % 312] ^ (y >> 1)
            if y & 1:
                v ^= 0xB5026F5AA96619E9
            mt[k] = v
        self.i = 0

    def next(self):
        if self.i >= 312:
            self._twist()
        y = self.mt[self.i]
        self.i += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK64


def read_shard(path):
    """data/shards.h: 32-byte header (magic, version, width, vocab, eot, count), then tokens."""
    with open(path, "rb") as f:
        head = f.read(32)
    assert head[:8] == b"AEROTOK\0", f"{path}: not an aero shard"
    width, vocab = int.from_bytes(head[12:16], "little"), int.from_bytes(head[16:20], "little")
    count = int.from_bytes(head[24:32], "little")
    dtype = np.uint16 if width == 2 else np.uint32
    return np.fromfile(path, dtype=dtype, offset=32, count=count).astype(np.int64), vocab


def sample_windows(tokens, rng, B, T):
    """WindowSampler::sample on one shard: B starts r % (N - T), x = w[:T], y = w[1:]."""
    n_starts = len(tokens) - T
    starts = [rng.next() % n_starts for _ in range(B)]
    w = np.stack([tokens[s:s + T + 1] for s in starts])
    return torch.from_numpy(w[:, :-1]), torch.from_numpy(w[:, 1:])


class Block(nn.Module):
    def __init__(self, m):
        super().__init__()
        C, H = m["n_embd"], m["ffn_hidden"] or 4 * m["n_embd"]
        self.n_head = m["n_head"]
        self.attn_norm = nn.LayerNorm(C, eps=m["norm_eps"])
        self.q, self.k, self.v, self.o = (nn.Linear(C, C) for _ in range(4))
        self.ffn_norm = nn.LayerNorm(C, eps=m["norm_eps"])
        self.up, self.down = nn.Linear(C, H), nn.Linear(H, C)
        self.p_attn, self.p_resid = m["dropout_attn"], m["dropout_resid"]

    def forward(self, x):  # x (B, T, C)
        B, T, C = x.shape
        NH, HS = self.n_head, C // self.n_head
        h = self.attn_norm(x)
        q, k, v = (f(h).view(B, T, NH, HS).transpose(1, 2) for f in (self.q, self.k, self.v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)  # (B, NH, T, T)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = F.dropout(att.masked_fill(~mask, float("-inf")).softmax(-1), self.p_attn,
                        self.training)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + F.dropout(self.o(y), self.p_resid, self.training)
        h = self.down(F.gelu(self.up(self.ffn_norm(x)), approximate="tanh"))
        return x + F.dropout(h, self.p_resid, self.training)


class GPT(nn.Module):
    def __init__(self, m):
        super().__init__()
        C, L = m["n_embd"], m["n_layer"]
        self.tok = nn.Embedding(m["vocab_size"], C)
        self.pos = nn.Embedding(m["block_size"], C)
        self.blocks = nn.ModuleList(Block(m) for _ in range(L))
        self.norm = nn.LayerNorm(C, eps=m["norm_eps"])
        self.head = nn.Linear(C, m["vocab_size"], bias=False)
        self.p_emb = m["dropout_emb"]
        std = m["init_std"]
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                proj = name.endswith("o.weight") or name.endswith("down.weight")
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * L) if proj else std)
            elif "norm" in name and name.endswith("weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx):  # idx (B, T) -> logits (B, T, V)
        T = idx.shape[1]
        x = F.dropout(self.tok(idx) + self.pos(torch.arange(T)), self.p_emb, self.training)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


def lr_at(step, t):
    """train/schedule.cpp: linear warmup, then cosine (or linear, constant) to min_lr."""
    if step < t["warmup_steps"]:
        return t["lr"] * (step + 1) / t["warmup_steps"]
    if t["schedule"] == "constant":
        return t["lr"]
    if step >= t["max_steps"]:
        return t["min_lr"]
    ratio = (step - t["warmup_steps"]) / max(1, t["max_steps"] - t["warmup_steps"])
    coeff = 0.5 * (1 + math.cos(math.pi * ratio)) if t["schedule"] == "cosine" else 1 - ratio
    return t["min_lr"] + coeff * (t["lr"] - t["min_lr"])


def main():
    cfg = json.load(open(sys.argv[1]))
    m, t, d = cfg["model"], cfg["train"], cfg["data"]
    checks = dict(pos="learned", norm="layernorm", pre_ln=True, act="gelu", bias=True,
                  tie_head=False, optimizer="adamw", objective="all", grad_accum=1)
    for k, want in checks.items():
        got = m.get(k, t.get(k))
        assert got == want, f"train_ref.py models only {k}={want}, the config has {got}"
    torch.manual_seed(t["seed"])
    torch.set_num_threads(t["threads"] or 2)
    train, V = read_shard(d["train"])
    val, _ = read_shard(d["val"])
    assert V == m["vocab_size"]
    B, T = t["batch_size"], m["block_size"]
    model = GPT(m)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}], lr=t["lr"],
                            betas=(t["beta1"], t["beta2"]), eps=t["eps"])
    data_seed = t["seed"]
    val_seed = splitmix64(data_seed ^ 0x7A1D)

    def evaluate():
        model.eval()
        rng, total = MT19937_64(val_seed), 0.0
        with torch.no_grad():
            for _ in range(t["eval_batches"]):
                x, y = sample_windows(val, rng, B, T)
                total += F.cross_entropy(model(x).view(-1, V), y.reshape(-1)).item()
        model.train()
        return total / t["eval_batches"]

    t0 = time.time()
    for step in range(t["max_steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, t)
        x, y = sample_windows(train, MT19937_64(splitmix64(data_seed ^ splitmix64(step))), B, T)
        loss = F.cross_entropy(model(x).view(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        s = step + 1
        if s % t["log_every"] == 0:
            print(f"step {s} loss {loss.item():.4f} ({time.time() - t0:.1f} s)", file=sys.stderr)
        if t["eval_every"] > 0 and (s % t["eval_every"] == 0 or s == t["max_steps"]):
            print(f"step {s} val_loss {evaluate():.6f}", flush=True)


if __name__ == "__main__":
    assert MT19937_64(5489).next() == 14514284786278117030
    main()
