"""Reference truth for tests/parity/test_gpt_parity.cpp: a 2-layer GPT in float64.

Token embedding, learned positions or RoPE (rotate-half, theta 10000), pre-LN blocks
(LayerNorm eps 1e-5, causal multi-head attention with separate q, k, v, o linears with bias,
GELU(tanh) MLP 4x), final LayerNorm, untied LM head, cross-entropy mean over all positions.
Weights and inputs come from a seed and are rounded to float32, so aero starts from exactly the
same numbers. Saved: weights, inputs, logits, loss, every gradient, then 5 AdamW steps
(lr 1e-2, betas (0.9, 0.95), eps 1e-8, wd 0.1 on matrices only): the loss before each step and
the weights after the last. The config travels in the file's metadata.
Usage: gpt_ref.py OUT_DIR  -> OUT_DIR/gpt_learned.safetensors, OUT_DIR/gpt_rope.safetensors
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

from st_write import write_safetensors

CFG = dict(vocab=67, n_embd=48, n_layer=2, n_head=4, T=17, B=3, block_size=24, seed=1234,
           lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, steps=5)


def param_shapes(cfg, pos):
    """-> [(name, shape)] in declaration order, with aero's (GGUF) names."""
    V, C, L = cfg["vocab"], cfg["n_embd"], cfg["n_layer"]
    s = [("token_embd.weight", (V, C))]
    if pos == "learned":
        s.append(("position_embd.weight", (cfg["block_size"], C)))
    for l in range(L):
        b = f"blk.{l}."
        s += [(b + "attn_norm.weight", (C,)), (b + "attn_norm.bias", (C,))]
        for m in ("attn_q", "attn_k", "attn_v", "attn_output"):
            s += [(b + m + ".weight", (C, C)), (b + m + ".bias", (C,))]
        s += [(b + "ffn_norm.weight", (C,)), (b + "ffn_norm.bias", (C,)),
              (b + "ffn_up.weight", (4 * C, C)), (b + "ffn_up.bias", (4 * C,)),
              (b + "ffn_down.weight", (C, 4 * C)), (b + "ffn_down.bias", (C,))]
    s += [("output_norm.weight", (C,)), ("output_norm.bias", (C,)), ("output.weight", (V, C))]
    return s


def init_params(cfg, pos, g):
    """Random weights (float32 values held in float64); norms near 1, biases small, not zero."""
    P = {}
    for name, shape in param_shapes(cfg, pos):
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


def forward(P, idx, targets, cfg, pos):
    B, T = idx.shape
    C, NH = cfg["n_embd"], cfg["n_head"]
    HS = C // NH
    x = P["token_embd.weight"][idx]  # (B, T, C)
    if pos == "learned":
        x = x + P["position_embd.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        b = f"blk.{l}."
        lin = lambda h, m: F.linear(h, P[b + m + ".weight"], P[b + m + ".bias"])
        h = F.layer_norm(x, (C,), P[b + "attn_norm.weight"], P[b + "attn_norm.bias"], 1e-5)
        q, k, v = lin(h, "attn_q"), lin(h, "attn_k"), lin(h, "attn_v")
        if pos == "rope":
            q, k = rope(q, NH), rope(k, NH)
        q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in (q, k, v))  # (B, NH, T, HS)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + lin(y, "attn_output")
        h = F.layer_norm(x, (C,), P[b + "ffn_norm.weight"], P[b + "ffn_norm.bias"], 1e-5)
        x = x + lin(F.gelu(lin(h, "ffn_up"), approximate="tanh"), "ffn_down")
    x = F.layer_norm(x, (C,), P["output_norm.weight"], P["output_norm.bias"], 1e-5)
    logits = F.linear(x, P["output.weight"])  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
    return logits, loss


def make(cfg, pos, out):
    g = torch.Generator().manual_seed(cfg["seed"])
    P = init_params(cfg, pos, g)
    B, T, V = cfg["B"], cfg["T"], cfg["vocab"]
    idx = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    t = {f"param.{k}": v.detach().float() for k, v in P.items()}
    t["idx"], t["targets"] = idx.int(), targets.int()

    logits, loss = forward(P, idx, targets, cfg, pos)
    loss.backward()
    t["logits"], t["loss"] = logits.detach().float(), loss.detach().reshape(1).float()
    t.update({f"grad.{k}": v.grad.float() for k, v in P.items()})

    decay = [p for p in P.values() if p.dim() >= 2]
    no_decay = [p for p in P.values() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"])
    losses = []
    for _ in range(cfg["steps"]):
        opt.zero_grad()
        _, loss = forward(P, idx, targets, cfg, pos)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    t["adamw.losses"] = torch.tensor(losses, dtype=torch.float32)
    t.update({f"final.{k}": v.detach().float() for k, v in P.items()})
    meta = dict(cfg, pos=pos, torch=torch.__version__)
    write_safetensors(out, t, meta)


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for pos in ("learned", "rope"):
        make(CFG, pos, os.path.join(out_dir, f"gpt_{pos}.safetensors"))
