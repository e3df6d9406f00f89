"""Reference trajectories of torch.optim for tests/parity/test_optim_parity.cpp.

Two float32 tensors, "w" (5, 7) with weight decay and "b" (37,) without, get 5 steps of each
optimizer from fixed random gradients; the parameters after every step are saved, and
clip_grad_norm_ on gradients above and below max_norm.
Usage: optim_ref.py OUT.safetensors
"""
import os
import sys

import torch

from st_write import write_safetensors

STEPS = 5
CONFIGS = {  # name -> (class, kwargs); weight decay is applied to "w" only
    "sgd": (torch.optim.SGD, dict(lr=0.1, weight_decay=0.01)),
    "momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    "nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.01)),
    "adam": (torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)),
    "adamw": (torch.optim.AdamW, dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)),
}


def main(out):
    g = torch.Generator().manual_seed(1234)
    init = {"w": torch.randn(5, 7, generator=g), "b": torch.randn(37, generator=g)}
    grads = [{k: torch.randn(v.shape, generator=g) for k, v in init.items()} for _ in range(STEPS)]
    tensors = {f"init.{k}": v for k, v in init.items()}
    for s, gs in enumerate(grads):
        tensors.update({f"grad.{s}.{k}": v for k, v in gs.items()})
    for name, (cls, kw) in CONFIGS.items():
        p = {k: v.clone().requires_grad_(True) for k, v in init.items()}
        wd = kw.pop("weight_decay")
        opt = cls([{"params": [p["w"]], "weight_decay": wd},
                   {"params": [p["b"]], "weight_decay": 0.0}], **kw)
        for s in range(STEPS):
            for k in p:
                p[k].grad = grads[s][k].clone()
            opt.step()
            tensors.update({f"{name}.{s}.{k}": v.detach().clone() for k, v in p.items()})
    for case, max_norm in (("above", 1.0), ("below", 1e3)):
        ps = [torch.zeros(5, 7, requires_grad=True), torch.zeros(37, requires_grad=True)]
        for q, k in zip(ps, ("w", "b")):
            q.grad = grads[0][k].clone() * 3
            tensors[f"clip.{case}.in.{k}"] = q.grad.clone()
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        tensors[f"clip.{case}.norm"] = norm.reshape(1).float()
        tensors[f"clip.{case}.max_norm"] = torch.tensor([max_norm], dtype=torch.float32)
        for q, k in zip(ps, ("w", "b")):
            tensors[f"clip.{case}.out.{k}"] = q.grad.clone()
    write_safetensors(out, tensors, {"torch": torch.__version__, "steps": STEPS})


if __name__ == "__main__":
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    main(sys.argv[1])
