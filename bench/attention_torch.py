"""PyTorch "manual attention" as in nanoGPT, forward + backward of q, k, v.

Shapes and options match bench/attention_bench.cpp: B 4, NH 12, T 256, HS 64, causal, fp32,
2 threads. Prints one line: "torch_ms <median>".
Run: OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/attention_torch.py
"""
import argparse
import math
import statistics
import time

import torch


def attention(q, k, v, n_head, mask):
    B, T, C = q.shape
    hs = C // n_head
    q = q.view(B, T, n_head, hs).transpose(1, 2)  # (B, NH, T, HS)
    k = k.view(B, T, n_head, hs).transpose(1, 2)
    v = v.view(B, T, n_head, hs).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, NH, T, T)
    att = att.masked_fill(mask[:, :, :T, :T] == 0, float("-inf"))
    att = torch.softmax(att, dim=-1)
    y = att @ v  # (B, NH, T, HS)
    return y.transpose(1, 2).contiguous().view(B, T, C)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--B", type=int, default=4)
    p.add_argument("--NH", type=int, default=12)
    p.add_argument("--T", type=int, default=256)
    p.add_argument("--HS", type=int, default=64)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    C = a.NH * a.HS
    q, k, v = (torch.randn(a.B, a.T, C, requires_grad=True) for _ in range(3))
    dy = torch.randn(a.B, a.T, C)
    mask = torch.tril(torch.ones(a.T, a.T)).view(1, 1, a.T, a.T)
    times = []
    for i in range(a.runs + 3):
        t0 = time.perf_counter()
        y = attention(q, k, v, a.NH, mask)
        y.backward(dy)
        t1 = time.perf_counter()
        q.grad = k.grad = v.grad = None
        if i >= 3:  # warm-up
            times.append((t1 - t0) * 1e3)
    print(f"torch_ms {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
