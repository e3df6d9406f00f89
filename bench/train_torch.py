"""PyTorch peer for bench/train_bench.cpp: the same GPT presets (separate q/k/v linears, pre-LN,
GELU-tanh MLP, RoPE with rotated halves or learned positions), one full training step with
torch.optim.AdamW (weight decay on matrices only), 2 threads, fp32 or (PRECISION bf16) forward
and loss under CPU autocast to bfloat16. Run through bench/train.sh and bench/bf16.sh.
    train_torch.py PRESET [STEPS] [WARMUP] [PRECISION]"""
import contextlib
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)

PRESETS = {
    "seed-tiny": dict(V=10000, L=3, NH=4, C=64, H=256, pos="rope", bias=False, tie=False, B=32, T=128, steps=30),
    "char-small": dict(V=65, L=4, NH=4, C=128, H=512, pos="learned", bias=True, tie=False, B=12, T=64, steps=100),
    "gpt2-124m": dict(V=50257, L=12, NH=12, C=768, H=3072, pos="learned", bias=True, tie=True, B=4, T=256, steps=5),
    "seed-100m": dict(V=32000, L=12, NH=12, C=768, H=3072, pos="learned", bias=True, tie=True, B=8, T=512, steps=3),
}
name = sys.argv[1] if len(sys.argv) > 1 else "seed-tiny"
p = PRESETS[name]
steps = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else p["steps"]
warmup = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else 2
precision = sys.argv[4] if len(sys.argv) > 4 else "fp32"
autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
            else contextlib.nullcontext())
V, L, NH, C, H, B, T = (p[k] for k in ("V", "L", "NH", "C", "H", "B", "T"))
HS = C // NH


# RoPE tables computed once, as Hugging Face caches them.
_inv = 1.0 / (10000.0 ** (torch.arange(0, HS, 2, dtype=torch.float32) / HS))
_ang = torch.arange(T, dtype=torch.float32)[:, None] * _inv[None, :]
COS, SIN = torch.cat([_ang.cos()] * 2, -1), torch.cat([_ang.sin()] * 2, -1)


def rope(x):  # (B, NH, T, HS), Hugging Face / GPT-NeoX: rotate the two halves of each head
    x1, x2 = x[..., : HS // 2], x[..., HS // 2:]
    return x * COS + torch.cat([-x2, x1], -1) * SIN


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        bias = p["bias"]
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.q, self.k, self.v = (nn.Linear(C, C, bias=bias) for _ in range(3))
        self.o = nn.Linear(C, C, bias=bias)
        self.up, self.down = nn.Linear(C, H, bias=bias), nn.Linear(H, C, bias=bias)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def attn(self, x):
        q, k, v = (f(x).view(B, T, NH, HS).transpose(1, 2) for f in (self.q, self.k, self.v))
        if p["pos"] == "rope":
            q, k = rope(q), rope(k)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))
        att = F.softmax(att.masked_fill(~self.mask, float("-inf")), dim=-1)
        return self.o((att @ v).transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C) if p["pos"] == "learned" else None
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        if p["tie"]:
            self.head.weight = self.wte.weight
        for n, w in self.named_parameters():
            if w.dim() >= 2:
                nn.init.normal_(w, std=0.02)

    def forward(self, ids):
        x = self.wte(ids)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


torch.manual_seed(0)
model = Gpt()
decay = [w for w in model.parameters() if w.dim() >= 2]
no_decay = [w for w in model.parameters() if w.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-4)
times = []
for it in range(warmup + steps):
    ids, targets = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))
    t0 = time.perf_counter()
    with autocast:
        loss = F.cross_entropy(model(ids).view(-1, V), targets.view(-1))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if it >= warmup:
        times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
tok_s = B * T / med
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch {name} B={B} T={T}: {tok_s:.0f} tokens/s ({med * 1e3:.1f} ms/step, median of {steps}), "
      f"loss {loss.item():.3f}, peak RSS {rss_mb:.0f} MB (torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"{precision})")
print(f"RESULT torch_tok_s {tok_s:.1f} rss_mb {rss_mb:.1f}")
