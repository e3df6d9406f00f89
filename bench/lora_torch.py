"""The PyTorch side of bench/lora.sh: one LoRA fine-tuning step of seed 000's recipe on random
weights of a T5 shape (CONFIG.json's model section), as Hugging Face T5 + PEFT would run it:
frozen nn.Linear base layers, LoRA r 16 / alpha 32 / dropout 0.1 on q k v o wi_0 wi_1 wo
(A Kaiming-uniform, B zero), the model's dropout, random source ids (B, src) and labels
(B, tgt), cross-entropy with ignore index -100, AdamW (lr 3e-4, weight decay 0.01) on the
adapters, clip 0.5. Written from modeling_t5.py and PEFT's LoraLayer semantics (neither
package is installed here). --autocast bf16: torch.autocast("cpu", bfloat16) around forward
and loss, as Trainer(bf16=True) does on a CPU; fp32 otherwise. Measured as
bench/lora_bench.cpp measures aero: --micro timed micro-batches after --warmup, the optimizer
part, one step of --accum micro-batches estimated as accum x micro + optimizer; peak RSS.
Prints one JSON line.
Usage: lora_torch.py CONFIG.json [--batch 16] [--src 256] [--tgt 64] [--micro 2] [--warmup 1]
                     [--accum 8] [--autocast bf16|none] [--threads 2]
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from t5_torch import bucket  # HF's _relative_position_bucket, shared with the generation bench


class LoraLinear(nn.Module):
    """A frozen nn.Linear (no bias, as T5's) plus PEFT's LoRA path."""

    def __init__(self, i, o, r, alpha, dropout):
        super().__init__()
        self.base = nn.Linear(i, o, bias=False)
        self.base.weight.requires_grad_(False)
        self.r = r
        if r:
            self.lora_A = nn.Linear(i, r, bias=False)
            self.lora_B = nn.Linear(r, o, bias=False)
            nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B.weight)
            self.drop = nn.Dropout(dropout)
            self.scale = alpha / r

    def forward(self, x):
        y = self.base(x)
        if self.r:
            y = y + self.lora_B(self.lora_A(self.drop(x))) * self.scale
        return y


class Norm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(v + self.eps)).to(self.weight.dtype)


class Attention(nn.Module):
    def __init__(self, c, lin, has_bias, bidirectional):
        super().__init__()
        D, H = c["d_model"], c["num_heads"] * c["d_kv"]
        self.nh, self.dk = c["num_heads"], c["d_kv"]
        self.q, self.k, self.v, self.o = lin(D, H), lin(D, H), lin(D, H), lin(H, D)
        self.bidirectional = bidirectional
        self.nb = c.get("relative_attention_num_buckets", 32)
        self.md = c.get("relative_attention_max_distance", 128)
        self.rel = nn.Embedding(self.nb, self.nh) if has_bias else None
        if self.rel is not None:
            self.rel.weight.requires_grad_(False)
        self.p = c["dropout_rate"]

    def bias(self, q_len, k_len):
        rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
        return self.rel(bucket(rel, self.bidirectional, self.nb, self.md)).permute(2, 0, 1)[None]

    def forward(self, h, kv, bias, mask):
        B, Tq, _ = h.shape
        Tk = kv.shape[1]
        sh = lambda x, T: x.view(B, T, self.nh, self.dk).transpose(1, 2)
        q, k, v = sh(self.q(h), Tq), sh(self.k(kv), Tk), sh(self.v(kv), Tk)
        s = torch.matmul(q, k.transpose(3, 2))
        if bias is not None:
            s = s + bias
        if mask is not None:
            s = s + mask
        w = F.dropout(F.softmax(s.float(), dim=-1).type_as(s), self.p, self.training)
        return self.o(torch.matmul(w, v).transpose(1, 2).reshape(B, Tq, -1))


class Block(nn.Module):
    def __init__(self, c, lin, first, decoder):
        super().__init__()
        D, F_, eps = c["d_model"], c["d_ff"], c["layer_norm_epsilon"]
        self.n1 = Norm(D, eps)
        self.att = Attention(c, lin, first, not decoder)
        self.cross = Attention(c, lin, False, True) if decoder else None
        self.n2 = Norm(D, eps) if decoder else None
        self.n3 = Norm(D, eps)
        self.wi_0, self.wi_1, self.wo = lin(D, F_), lin(D, F_), lin(F_, D)
        self.p = c["dropout_rate"]

    def forward(self, x, bias, mask, enc=None, enc_mask=None):
        d = lambda t: F.dropout(t, self.p, self.training)
        h = self.n1(x)
        x = x + d(self.att(h, h, bias, mask))
        if self.cross is not None:
            x = x + d(self.cross(self.n2(x), enc, None, enc_mask))
        h = self.n3(x)
        m = d(F.gelu(self.wi_0(h), approximate="tanh") * self.wi_1(h))
        return x + d(self.wo(m))


class T5Lora(nn.Module):
    def __init__(self, c, r, alpha, dropout):
        super().__init__()
        D, V, eps = c["d_model"], c["vocab_size"], c["layer_norm_epsilon"]
        lin = lambda i, o: LoraLinear(i, o, r, alpha, dropout)
        self.shared = nn.Embedding(V, D)
        self.shared.weight.requires_grad_(False)
        L = c["num_layers"]
        self.enc = nn.ModuleList([Block(c, lin, i == 0, False) for i in range(L)])
        self.dec = nn.ModuleList([Block(c, lin, i == 0, True)
                                  for i in range(c.get("num_decoder_layers") or L)])
        self.enc_n, self.dec_n = Norm(D, eps), Norm(D, eps)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight.requires_grad_(False)
        self.p = c["dropout_rate"]

    def forward(self, src, mask, labels):
        d = lambda t: F.dropout(t, self.p, self.training)
        neg = torch.finfo(torch.float32).min
        S, T = src.shape[1], labels.shape[1]
        emask = (1.0 - mask[:, None, None, :].float()) * neg
        x = d(self.shared(src))
        bias = self.enc[0].att.bias(S, S)
        for b in self.enc:
            x = b(x, bias, emask)
        enc = d(self.enc_n(x))
        dec_in = torch.cat([torch.zeros_like(labels[:, :1]), labels[:, :-1]], 1)
        dec_in = dec_in.masked_fill(dec_in == -100, 0)
        y = d(self.shared(dec_in))
        causal = torch.triu(torch.full((T, T), neg), 1)[None, None]
        bias = self.dec[0].att.bias(T, T) + causal
        for b in self.dec:
            y = b(y, bias, None, enc, emask)
        logits = self.head(d(self.dec_n(y)))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1),
                               ignore_index=-100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--src", type=int, default=256)
    ap.add_argument("--tgt", type=int, default=64)
    ap.add_argument("--micro", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--accum", type=int, default=8)
    ap.add_argument("--autocast", default="bf16", choices=["bf16", "none"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    c = json.load(open(a.config))["model"]
    m = T5Lora(c, 16, 32, 0.1)
    m.train()
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = [p for p in m.parameters() if p.requires_grad]
    modules = sum(1 for x in m.modules() if isinstance(x, LoraLinear) and x.r)
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(7)
    V = c["vocab_size"]
    micro_s, loss = 0.0, 0.0
    for it in range(a.warmup + a.micro):
        src = torch.randint(2, V, (a.batch, a.src), generator=g)
        mask = torch.ones(a.batch, a.src, dtype=torch.long)
        labels = torch.randint(2, V, (a.batch, a.tgt), generator=g)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            l = m(src, mask, labels)
        (l / a.accum).backward()
        if it >= a.warmup:
            micro_s += time.perf_counter() - t0
        loss = float(l)
    micro_s /= a.micro
    t0 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(params, 0.5)
    opt.step()
    opt.zero_grad(set_to_none=True)
    opt_s = time.perf_counter() - t0
    print(json.dumps({
        "side": "pytorch", "torch": torch.__version__, "threads": a.threads,
        "autocast": a.autocast, "params": sum(p.numel() for p in m.parameters()),
        "trainable": sum(p.numel() for p in params), "lora_modules": modules, "loss": loss,
        "micro_s": micro_s, "optimizer_s": opt_s, "step_s": a.accum * micro_s + opt_s,
        "micro_timed": a.micro, "rss_model_mb": rss_model,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
