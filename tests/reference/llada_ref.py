"""Reference truth for tests/parity/test_llada_parity.cpp: LLaDA in float64, written from the
paper's and ML-GSAI/LLaDA's documented algorithm.

The model is gpt_ref.py's GPT without the causal mask (every position attends to every other).

llada_loss.safetensors: x0 (B, T), per-row t and p = (1 - eps) t + eps (eps 1e-3), the mask
(each token masked with probability p), the loss
    sum over masked (b, i) of -log p(x0[b, i] | xt[b]) / p[b], divided by B * T
and every gradient.

llada_sample_<case>.safetensors: LLaDA's generate() with temperature 0 (greedy): the prompt, then
gen_length mask tokens; gen_length / block_length blocks in order, steps / blocks steps each; in
each step the masked positions of the current block get the argmax prediction, their
confidence (softmax probability of it, or margin / negative entropy) ranks them, and the top
get_num_transfer_tokens(...)[step] are committed. Optional CFG: logits = un + (s + 1)(cond - un),
un = the same sequence with the prompt masked. One deviation from the published script, on both
sides: the mask token itself is never predicted (a trained model never targets it). The state x
after every step is stored (steps, T).
Usage: llada_ref.py OUT_DIR
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

from gpt_ref import init_params, rope
from st_write import write_safetensors

CFG = dict(vocab=37, n_embd=32, n_layer=2, n_head=4, ffn_hidden=80, T=12, B=4, block_size=32,
           seed=777, eps=1e-3)
OPTS = dict(pos="rope", norm="layernorm", pre_ln=True, act="gelu", bias=False, tie_head=False)
MASK_ID = CFG["vocab"] - 1
# name -> (prompt length, gen_length, block_length, steps, remasking, cfg_scale)
SAMPLE_CASES = {
    "one_block": (5, 16, 16, 16, "low_confidence", 0.0),
    "blocks": (5, 16, 4, 8, "low_confidence", 0.0),
    "few_steps": (3, 12, 6, 4, "low_confidence", 0.0),
    "margin": (5, 16, 8, 8, "margin", 0.0),
    "entropy": (5, 16, 8, 8, "entropy", 0.0),
    "cfg": (5, 16, 8, 8, "low_confidence", 1.5),
}


def logits_of(P, idx, cfg, o):
    """idx (B, T) -> logits (B, T, V), bidirectional attention."""
    B, T = idx.shape
    C, NH = cfg["n_embd"], cfg["n_head"]
    HS = C // NH

    def norm(x, name):
        return F.layer_norm(x, (C,), P[name + ".weight"], P[name + ".bias"], 1e-5)

    x = P["token_embd.weight"][idx]
    for l in range(cfg["n_layer"]):
        b = f"blk.{l}."
        lin = lambda h, m: F.linear(h, P[b + m + ".weight"], P.get(b + m + ".bias"))
        h = norm(x, b + "attn_norm")
        q, k, v = lin(h, "attn_q"), lin(h, "attn_k"), lin(h, "attn_v")
        q, k = rope(q, NH), rope(k, NH)
        q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(HS)).softmax(dim=-1)  # no causal mask
        x = x + lin((att @ v).transpose(1, 2).reshape(B, T, C), "attn_output")
        h = norm(x, b + "ffn_norm")
        x = x + lin(F.gelu(lin(h, "ffn_up"), approximate="tanh"), "ffn_down")
    x = norm(x, "output_norm")
    return F.linear(x, P["output.weight"])


def make_loss(out):
    g = torch.Generator().manual_seed(CFG["seed"])
    P = init_params(CFG, OPTS, g)
    B, T, eps = CFG["B"], CFG["T"], CFG["eps"]
    x0 = torch.randint(0, MASK_ID, (B, T), generator=g)
    t = torch.rand(B, generator=g, dtype=torch.float64)
    p = ((1 - eps) * t + eps).float().double()  # aero reads p as float32
    mask = torch.rand(B, T, generator=g, dtype=torch.float64) < p[:, None]
    mask[0, 0] = True  # at least one masked token
    xt = torch.where(mask, torch.full_like(x0, MASK_ID), x0)
    logits = logits_of(P, xt, CFG, OPTS)
    ce = F.cross_entropy(logits.reshape(-1, CFG["vocab"]), x0.reshape(-1), reduction="none")
    loss = (ce.view(B, T) * mask / p[:, None]).sum() / (B * T)
    loss.backward()
    tensors = {f"param.{k}": v.detach().float() for k, v in P.items()}
    tensors.update({"x0": x0.int(), "mask": mask.int(), "p": p.float(),
                    "loss": loss.detach().reshape(1).float()})
    tensors.update({f"grad.{k}": v.grad.float() for k, v in P.items()})
    write_safetensors(out, tensors, dict(CFG, mask_id=MASK_ID, torch=torch.__version__))


def num_transfer_tokens(masked, steps):
    base, rem = masked // steps, masked % steps
    return [base + (1 if i < rem else 0) for i in range(steps)]


def confidence(logits, x0, remasking):
    p = logits.softmax(-1)
    if remasking == "low_confidence":
        return p.gather(-1, x0[..., None]).squeeze(-1)
    if remasking == "margin":
        top = p.topk(2, dim=-1).values
        return top[..., 0] - top[..., 1]
    return (p * p.clamp_min(1e-300).log()).sum(-1)  # entropy: negative entropy


@torch.no_grad()
def generate(P, prompt, gen_length, block_length, steps, remasking, cfg_scale):
    P_len = prompt.shape[0]
    x = torch.full((1, P_len + gen_length), MASK_ID, dtype=torch.long)
    x[0, :P_len] = prompt
    prompt_index = x != MASK_ID
    num_blocks = gen_length // block_length
    steps //= num_blocks
    states = []
    for nb in range(num_blocks):
        lo, hi = P_len + nb * block_length, P_len + (nb + 1) * block_length
        sched = num_transfer_tokens(int((x[0, lo:hi] == MASK_ID).sum()), steps)
        for i in range(steps):
            mask_index = x == MASK_ID
            if cfg_scale > 0:
                un = x.clone()
                un[prompt_index] = MASK_ID
                both = logits_of(P, torch.cat([x, un]), CFG, OPTS)
                logits = both[1:] + (cfg_scale + 1) * (both[:1] - both[1:])
            else:
                logits = logits_of(P, x, CFG, OPTS)
            logits[..., MASK_ID] = -math.inf
            x0 = logits.argmax(-1)
            conf = confidence(logits, x0, remasking)
            conf[:, hi:] = -math.inf
            x0 = torch.where(mask_index, x0, x)
            conf = torch.where(mask_index, conf, torch.tensor(-math.inf, dtype=conf.dtype))
            _, sel = conf[0].topk(sched[i])
            x[0, sel] = x0[0, sel]
            states.append(x[0].clone())
    return torch.stack(states)


def make_sample(name, case, out):
    P_len, gen_length, block_length, steps, remasking, cfg_scale = case
    g = torch.Generator().manual_seed(CFG["seed"])
    P = init_params(CFG, OPTS, g)
    gp = torch.Generator().manual_seed(5 + list(SAMPLE_CASES).index(name))
    prompt = torch.randint(0, MASK_ID, (P_len,), generator=gp)
    states = generate(P, prompt, gen_length, block_length, steps, remasking, cfg_scale)
    tensors = {f"param.{k}": v.detach().float() for k, v in P.items()}
    tensors.update({"prompt": prompt.int(), "states": states.int()})
    write_safetensors(out, tensors, dict(CFG, mask_id=MASK_ID, gen_length=gen_length,
                                         block_length=block_length, steps=steps,
                                         remasking=remasking, cfg_scale=cfg_scale))


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    make_loss(os.path.join(out_dir, "llada_loss.safetensors"))
    for name, case in SAMPLE_CASES.items():
        make_sample(name, case, os.path.join(out_dir, f"llada_sample_{name}.safetensors"))
