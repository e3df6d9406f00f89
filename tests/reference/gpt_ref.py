"""Reference truth for tests/parity/test_gpt_parity.cpp and test_gpt_options.cpp: GPTs in float64.

Token embedding, learned positions or RoPE (rotate-half, theta 10000), blocks with causal
multi-head attention (separate q, k, v, o linears, scale 1/sqrt(HS)) and an MLP, cross-entropy.
Options, as GptConfig: norm layernorm (eps 1e-5) | rmsnorm (x * rsqrt(mean(x^2) + eps) * w);
pre_ln (x + f(LN(x)), final norm) or post-LN (x = LN(x + f(x)), no final norm); act
gelu (tanh) | relu | swiglu (down(silu(gate(x)) * up(x))); bias in every linear; tie_head
(logits use token_embd.weight).
Weights and inputs come from a seed and are rounded to float32, so aero starts from exactly the
same numbers. The config travels in the file's metadata.

gpt_{learned,rope}.safetensors: the 2-layer pre-LN GELU model with biases; weights, logits,
loss, every gradient, then 5 AdamW steps (lr 1e-2, betas (0.9, 0.95), eps 1e-8, wd 0.1 on
matrices only): the loss before each step and the weights after the last.

gpt_opt_<case>.safetensors, one per option combination in CASES: logits; for each objective
("all": mean over all tokens, "final": nll_loss(log_softmax(logits[:, -1]), y[:, -1])) the loss
and every gradient; then for each objective and optimizer in OPTIMS, 5 steps with global-norm
clipping (max_norm CLIP) and weight decay on matrices only: the loss and pre-clip gradient norm
before each step, and the weights after the last.
Usage: gpt_ref.py OUT_DIR
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

from st_write import write_safetensors

CFG = dict(vocab=67, n_embd=48, n_layer=2, n_head=4, T=17, B=3, block_size=24, seed=1234,
           lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, steps=5)
# The two original cases: pre-LN, LayerNorm, GELU, biases, untied, MLP 4x.
BASE_OPTS = dict(norm="layernorm", pre_ln=True, act="gelu", bias=True, tie_head=False)

# Small enough that all cases, objectives and optimizers run in a few seconds on both sides.
OPT_CFG = dict(vocab=37, n_embd=32, n_layer=2, n_head=4, ffn_hidden=80, T=9, B=3, block_size=12,
               seed=4321, norm_eps=1e-5, steps=5, clip=0.5)
CASES = {  # name -> GptConfig options; the first three are the ready configs' combinations
    "seed_tiny": dict(pos="rope", norm="layernorm", pre_ln=True, act="gelu", bias=False,
                      tie_head=False),
    "char_small": dict(pos="learned", norm="layernorm", pre_ln=True, act="gelu", bias=True,
                       tie_head=False),
    "gpt2": dict(pos="learned", norm="layernorm", pre_ln=True, act="gelu", bias=True,
                 tie_head=True),
    "llama": dict(pos="rope", norm="rmsnorm", pre_ln=True, act="swiglu", bias=False,
                  tie_head=False, norm_eps=1e-6),
    "postln_relu": dict(pos="learned", norm="layernorm", pre_ln=False, act="relu", bias=True,
                        tie_head=False),
}
# name -> (class, kwargs); weight decay on matrices only. RMSprop's first step is about
# 10 * lr per element whatever the gradient, so at lr 1e-2 the weights (scale 0.1) move chaotically
# and float32 roundoff reaches 5e-3 after 5 steps; 1e-3 is a sane rate and stays near 1e-4.
OPTIMS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1, weight_decay=0.01)),
    "momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=1e-3, alpha=0.99, eps=1e-8, weight_decay=0.01)),
    "adam": (torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)),
    "adamw": (torch.optim.AdamW, dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)),
}


def param_shapes(cfg, o):
    """-> [(name, shape)] in declaration order, with aero's (GGUF) names."""
    V, C, L = cfg["vocab"], cfg["n_embd"], cfg["n_layer"]
    H = cfg.get("ffn_hidden", 4 * C)
    s = [("token_embd.weight", (V, C))]
    if o["pos"] == "learned":
        s.append(("position_embd.weight", (cfg["block_size"], C)))

    def norm(name):
        return [(name + ".weight", (C,))] + ([(name + ".bias", (C,))]
                                             if o["norm"] == "layernorm" else [])

    def lin(name, out, inp):
        return [(name + ".weight", (out, inp))] + ([(name + ".bias", (out,))] if o["bias"] else [])

    for l in range(L):
        b = f"blk.{l}."
        s += norm(b + "attn_norm")
        for m in ("attn_q", "attn_k", "attn_v", "attn_output"):
            s += lin(b + m, C, C)
        s += norm(b + "ffn_norm")
        if o["act"] == "swiglu":
            s += lin(b + "ffn_gate", H, C)
        s += lin(b + "ffn_up", H, C) + lin(b + "ffn_down", C, H)
    if o["pre_ln"]:
        s += norm("output_norm")
    if not o["tie_head"]:
        s.append(("output.weight", (V, C)))
    return s


def init_params(cfg, o, g):
    """Random weights (float32 values held in float64); norms near 1, biases small, not zero."""
    P = {}
    for name, shape in param_shapes(cfg, o):
        if "norm.weight" in name:
            t = 1 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif len(shape) == 1:
            t = 0.05 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            t = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        P[name] = t.float().double().requires_grad_(True)
    return P


def rope(x, n_head, theta=10000.0):
    """x (B, T, NH*HS): rotate the two halves of each head by angle t * theta^(-2i/HS)."""
    B, T, C = x.shape
    HS = C // n_head
    inv_freq = 1.0 / theta ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS)
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)  # (T, HS/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, HS)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    x = x.view(B, T, n_head, HS)
    x1, x2 = x[..., : HS // 2], x[..., HS // 2:]
    rot = torch.cat([-x2, x1], dim=-1)
    return (x * cos[None, :, None, :] + rot * sin[None, :, None, :]).reshape(B, T, C)


def logits_of(P, idx, cfg, o):
    """idx (B, T) -> logits (B, T, V)."""
    B, T = idx.shape
    C, NH = cfg["n_embd"], cfg["n_head"]
    HS = C // NH
    eps = cfg.get("norm_eps", 1e-5) if o["norm"] == "rmsnorm" else 1e-5

    def norm(x, name):
        if o["norm"] == "rmsnorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * P[name + ".weight"]
        return F.layer_norm(x, (C,), P[name + ".weight"], P[name + ".bias"], eps)

    x = P["token_embd.weight"][idx]  # (B, T, C)
    if o["pos"] == "learned":
        x = x + P["position_embd.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        b = f"blk.{l}."
        lin = lambda h, m: F.linear(h, P[b + m + ".weight"], P.get(b + m + ".bias"))
        h = norm(x, b + "attn_norm") if o["pre_ln"] else x
        q, k, v = lin(h, "attn_q"), lin(h, "attn_k"), lin(h, "attn_v")
        if o["pos"] == "rope":
            q, k = rope(q, NH), rope(k, NH)
        q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in (q, k, v))  # (B, NH, T, HS)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + lin(y, "attn_output")
        if not o["pre_ln"]:
            x = norm(x, b + "attn_norm")
        h = norm(x, b + "ffn_norm") if o["pre_ln"] else x
        if o["act"] == "swiglu":
            m = F.silu(lin(h, "ffn_gate")) * lin(h, "ffn_up")
        elif o["act"] == "relu":
            m = F.relu(lin(h, "ffn_up"))
        else:
            m = F.gelu(lin(h, "ffn_up"), approximate="tanh")
        x = x + lin(m, "ffn_down")
        if not o["pre_ln"]:
            x = norm(x, b + "ffn_norm")
    if o["pre_ln"]:
        x = norm(x, "output_norm")
    head = P["token_embd.weight"] if o["tie_head"] else P["output.weight"]
    return F.linear(x, head)  # (B, T, V)


def loss_of(logits, targets, objective):
    if objective == "final":
        return F.nll_loss(F.log_softmax(logits[:, -1], dim=-1), targets[:, -1])
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def forward(P, idx, targets, cfg, o, objective="all"):
    logits = logits_of(P, idx, cfg, o)
    return logits, loss_of(logits, targets, objective)


def param_groups(P, wd):
    return [{"params": [p for p in P.values() if p.dim() >= 2], "weight_decay": wd},
            {"params": [p for p in P.values() if p.dim() < 2], "weight_decay": 0.0}]


def inputs(cfg, o):
    g = torch.Generator().manual_seed(cfg["seed"])
    P = init_params(cfg, o, g)
    B, T, V = cfg["B"], cfg["T"], cfg["vocab"]
    idx = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    t = {f"param.{k}": v.detach().float() for k, v in P.items()}
    t["idx"], t["targets"] = idx.int(), targets.int()
    return P, idx, targets, t


def make(cfg, pos, out):
    o = dict(BASE_OPTS, pos=pos)
    P, idx, targets, t = inputs(cfg, o)
    logits, loss = forward(P, idx, targets, cfg, o)
    loss.backward()
    t["logits"], t["loss"] = logits.detach().float(), loss.detach().reshape(1).float()
    t.update({f"grad.{k}": v.grad.float() for k, v in P.items()})

    opt = torch.optim.AdamW(param_groups(P, cfg["weight_decay"]), lr=cfg["lr"],
                            betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"])
    losses = []
    for _ in range(cfg["steps"]):
        opt.zero_grad()
        _, loss = forward(P, idx, targets, cfg, o)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    t["adamw.losses"] = torch.tensor(losses, dtype=torch.float32)
    t.update({f"final.{k}": v.detach().float() for k, v in P.items()})
    meta = dict(cfg, pos=pos, torch=torch.__version__)
    write_safetensors(out, t, meta)


def make_options(name, o, out):
    cfg = dict(OPT_CFG, **{k: v for k, v in o.items() if k == "norm_eps"})
    P0, idx, targets, t = inputs(cfg, o)
    t["logits"] = logits_of(P0, idx, cfg, o).detach().float()
    for objective in ("all", "final"):
        P = {k: v.detach().clone().requires_grad_(True) for k, v in P0.items()}
        _, loss = forward(P, idx, targets, cfg, o, objective)
        loss.backward()
        t[f"{objective}.loss"] = loss.detach().reshape(1).float()
        t.update({f"{objective}.grad.{k}": v.grad.float() for k, v in P.items()})
        for opt_name, (cls, kw) in OPTIMS.items():
            P = {k: v.detach().clone().requires_grad_(True) for k, v in P0.items()}
            kw = dict(kw)
            opt = cls(param_groups(P, kw.pop("weight_decay")), **kw)
            losses, norms = [], []
            for _ in range(cfg["steps"]):
                opt.zero_grad()
                _, loss = forward(P, idx, targets, cfg, o, objective)
                losses.append(loss.item())
                loss.backward()
                norms.append(torch.nn.utils.clip_grad_norm_(list(P.values()), cfg["clip"]).item())
                opt.step()
            p = f"{objective}.{opt_name}."
            t[p + "losses"] = torch.tensor(losses, dtype=torch.float32)
            t[p + "norms"] = torch.tensor(norms, dtype=torch.float32)
            t.update({f"{p}final.{k}": v.detach().float() for k, v in P.items()})
    o = dict(o, norm_eps=cfg["norm_eps"])
    write_safetensors(out, t, dict(cfg, **o, case=name, torch=torch.__version__))


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for pos in ("learned", "rope"):
        make(CFG, pos, os.path.join(out_dir, f"gpt_{pos}.safetensors"))
    for name, o in CASES.items():
        make_options(name, o, os.path.join(out_dir, f"gpt_opt_{name}.safetensors"))
