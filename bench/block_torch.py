"""PyTorch peer for bench/block_bench.cpp: nanoGPT's Block (manual attention, torch 1.13 has no
fused attention on CPU), forward + backward, fp32. Run through bench/block.sh."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
B, T, C, NH, iters = (int(a) for a in (sys.argv[1:6] + ["4", "256", "768", "12", "10"][len(sys.argv[1:6]):]))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def attn(self, x):
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / (C // NH) ** 0.5)
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


block = Block()
x0 = torch.randn(B, T, C)
times = []
for it in range(iters + 2):
    t0 = time.perf_counter()
    x = x0.clone().requires_grad_(True)
    y = block(x)
    y.backward(torch.full_like(y, 1.0 / y.numel()))
    if it >= 2:
        times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(f"torch block B={B} T={T} C={C} NH={NH}: {med * 1e3:.2f} ms/step fwd+bwd "
      f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
print(f"RESULT torch_ms {med * 1e3:.3f}")
