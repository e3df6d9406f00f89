"""PyTorch peer for bench/t5_train_bench.cpp: one full seq2seq training step of a T5 of CONFIG's
shape on random weights, float32, written from Hugging Face's modeling_t5.py semantics (the
package is not installed here; tests/reference/t5_ref.py is the float64 version the parity tests
check aero against): T5LayerNorm (variance in fp32, no mean, no bias), no 1/sqrt(d) score
scaling, the relative-position bias of layer 0 plus the padding (and causal) mask computed once
per stack and reused by every layer, softmax in fp32, dropout on embeddings, attention weights,
residual branches, the FFN hidden and the stack outputs; relu or gated-gelu FFN; untied lm_head
or the tied head with d_model^-0.5. Decoder input shift_right(labels); loss = cross-entropy over
labels != -100; backward; torch.optim.AdamW (weight decay on matrices); zero_grad.
Batches as t5_train_bench.cpp builds them (row r keeps len - r * len / (2B) tokens; the rest is
padding). tokens/s counts B * (S + T) positions per step. Run through bench/t5_train.sh.
    t5_train_torch.py CONFIG.json [B] [STEPS] [WARMUP] [S] [T] [THREADS]
    t5_train_torch.py --check     this model against tests/reference/t5_ref.py (float64)"""
import json
import pathlib
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from t5_torch import bucket  # HF's _relative_position_bucket, shared with the generation bench


def arg(i, default):
    return int(sys.argv[i]) if len(sys.argv) > i and sys.argv[i] and int(sys.argv[i]) > 0 else default


def configure(cfg):
    """Sets the shape globals the modules below read from a config's model section."""
    global c, V, D, KV, NH, FF, L, LD, NB, MD, P_DROP, EPS, GATED, TIED, INNER
    c = cfg
    V, D, KV, NH, FF = c["vocab_size"], c["d_model"], c["d_kv"], c["num_heads"], c["d_ff"]
    L = c["num_layers"]
    LD = c.get("num_decoder_layers") or L
    NB = c.get("relative_attention_num_buckets", 32)
    MD = c.get("relative_attention_max_distance", 128)
    P_DROP = c.get("dropout_rate", 0.1)
    EPS = c.get("layer_norm_epsilon", 1e-6)
    GATED = c.get("feed_forward_proj", "relu") == "gated-gelu"
    TIED = c.get("tie_word_embeddings", True)
    INNER = NH * KV


class T5LayerNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(D))

    def forward(self, h):
        var = h.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (h * torch.rsqrt(var + EPS))


class Attention(nn.Module):
    def __init__(self, relative_bias=False, bidirectional=True):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(D, INNER, bias=False) for _ in range(3))
        self.o = nn.Linear(INNER, D, bias=False)
        self.bidirectional = bidirectional
        self.relative_attention_bias = nn.Embedding(NB, NH) if relative_bias else None

    def compute_bias(self, qlen, klen):  # (1, NH, qlen, klen)
        rel = torch.arange(klen)[None, :] - torch.arange(qlen)[:, None]
        b = self.relative_attention_bias(bucket(rel, self.bidirectional, NB, MD))
        return b.permute(2, 0, 1)[None]

    def forward(self, h, kv, bias):
        B, Tq, Tk = h.shape[0], h.shape[1], kv.shape[1]
        q = self.q(h).view(B, Tq, NH, KV).transpose(1, 2)
        k = self.k(kv).view(B, Tk, NH, KV).transpose(1, 2)
        v = self.v(kv).view(B, Tk, NH, KV).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(3, 2)) + bias  # no 1/sqrt(d)
        w = F.softmax(scores.float(), dim=-1).type_as(scores)
        w = F.dropout(w, P_DROP, self.training)
        return self.o(torch.matmul(w, v).transpose(1, 2).reshape(B, Tq, INNER))


class Block(nn.Module):
    def __init__(self, decoder, first):
        super().__init__()
        self.self_attn = Attention(first, not decoder)
        self.n0 = T5LayerNorm()
        self.cross = Attention() if decoder else None
        self.n1 = T5LayerNorm() if decoder else None
        if GATED:
            self.wi_0, self.wi_1 = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False)
        else:
            self.wi = nn.Linear(D, FF, bias=False)
        self.wo = nn.Linear(FF, D, bias=False)
        self.n2 = T5LayerNorm()

    def forward(self, x, bias, enc=None, enc_bias=None):
        h = self.n0(x)
        x = x + F.dropout(self.self_attn(h, h, bias), P_DROP, self.training)
        if self.cross is not None:
            x = x + F.dropout(self.cross(self.n1(x), enc, enc_bias), P_DROP, self.training)
        h = self.n2(x)
        m = F.gelu(self.wi_0(h), approximate="tanh") * self.wi_1(h) if GATED else F.relu(self.wi(h))
        m = F.dropout(m, P_DROP, self.training)
        return x + F.dropout(self.wo(m), P_DROP, self.training)


class T5(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(V, D)
        self.encoder = nn.ModuleList(Block(False, l == 0) for l in range(L))
        self.decoder = nn.ModuleList(Block(True, l == 0) for l in range(LD))
        self.enc_norm, self.dec_norm = T5LayerNorm(), T5LayerNorm()
        self.lm_head = None if TIED else nn.Linear(D, V, bias=False)
        f = c.get("initializer_factor", 1.0)  # HF's _init_weights
        with torch.no_grad():
            for n, w in self.named_parameters():
                if w.dim() < 2:
                    continue
                std = f * (1.0 if n.startswith(("shared", "lm_head")) else D ** -0.5)
                if n.endswith("wo.weight"):
                    std = f * FF ** -0.5
                elif n.endswith(".o.weight"):
                    std = f * INNER ** -0.5
                elif n.endswith(".q.weight"):
                    std = f * (D * KV) ** -0.5
                w.normal_(0.0, std)

    def forward(self, src, mask, dec_in):
        neg = torch.finfo(torch.float32).min
        S, T = src.shape[1], dec_in.shape[1]
        mask_bias = (1.0 - mask[:, None, None, :].float()) * neg  # (B, 1, 1, S)
        x = F.dropout(self.shared(src), P_DROP, self.training)
        bias = self.encoder[0].self_attn.compute_bias(S, S) + mask_bias  # (B, NH, S, S)
        for b in self.encoder:
            x = b(x, bias)
        enc = F.dropout(self.enc_norm(x), P_DROP, self.training)
        y = F.dropout(self.shared(dec_in), P_DROP, self.training)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        dbias = self.decoder[0].self_attn.compute_bias(T, T).masked_fill(~causal, neg)
        for b in self.decoder:
            y = b(y, dbias, enc, mask_bias)
        y = F.dropout(self.dec_norm(y), P_DROP, self.training)
        if TIED:
            return F.linear(y * D ** -0.5, self.shared.weight)
        return self.lm_head(y)


def row_length(n, r, B):
    return n - r * n // (2 * B)


def make_batch(B, S, T):
    src, mask = torch.zeros(B, S, dtype=torch.long), torch.zeros(B, S, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    for r in range(B):
        ns, nt = row_length(S, r, B), row_length(T, r, B)
        src[r, :ns], mask[r, :ns] = torch.randint(2, V, (ns,)), 1
        labels[r, : nt - 1], labels[r, nt - 1] = torch.randint(2, V, (nt - 1,)), 1
    dec = torch.zeros_like(labels)  # shift_right, -100 -> pad
    dec[:, 1:] = labels[:, :-1]
    dec = dec.masked_fill(dec == -100, 0)
    return src, mask, dec, labels


def hf_name(name):
    """This module's parameter name -> Hugging Face's: encoder.0.self_attn.q.weight ->
    encoder.block.0.layer.0.SelfAttention.q.weight, decoder.1.n2.weight ->
    decoder.block.1.layer.2.layer_norm.weight, enc_norm.weight -> encoder.final_layer_norm.weight."""
    top = {"enc_norm": "encoder.final_layer_norm", "dec_norm": "decoder.final_layer_norm"}
    parts = name.split(".")
    if parts[0] not in ("encoder", "decoder"):
        return ".".join([top.get(parts[0], parts[0])] + parts[1:])
    stack, l, module, *rest = parts
    ff = "2" if stack == "decoder" else "1"
    layer = {"self_attn": "0.SelfAttention", "n0": "0.layer_norm", "cross": "1.EncDecAttention",
             "n1": "1.layer_norm", "n2": ff + ".layer_norm"}.get(module, f"{ff}.DenseReluDense.{module}")
    return ".".join([stack, "block", l, "layer", layer] + rest)


def check():
    """The peer against tests/reference/t5_ref.py (float64, HF semantics) on its v1.0 and mT5
    cases, dropout off: the losses must agree to 1e-6."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "reference"))
    import t5_ref
    torch.set_default_dtype(torch.float64)
    for case, cfg in t5_ref.CASES.items():
        configure(dict(cfg, dropout_rate=0.0))
        g = torch.Generator().manual_seed(5)
        P = t5_ref.init_params(c, g)
        m = T5().double()
        assert len(list(m.parameters())) == len(P), f"{case}: parameter count differs from t5_ref.py"
        with torch.no_grad():
            for name, w in m.named_parameters():
                w.copy_(P[hf_name(name)])
        src, mask, labels = t5_ref.inputs(c, g)
        ref = float(t5_ref.forward(P, src, mask, labels, c)[2])
        out = m.eval()(src, mask, t5_ref.shift_right(labels, c))
        loss = float(F.cross_entropy(out.view(-1, V), labels.view(-1), ignore_index=-100))
        print(f"{case}: peer loss {loss:.12f}, float64 reference {ref:.12f}")
        assert abs(loss - ref) < 1e-6, f"t5_train_torch.py differs from t5_ref.py on {case}"


def main():
    configure(json.load(open(sys.argv[1]))["model"])
    torch.set_num_threads(arg(7, 2))
    torch.manual_seed(0)
    model = T5()
    n_params = sum(w.numel() for w in model.parameters())
    small = n_params <= 16_000_000
    B = arg(2, 16 if small else 4)
    steps = arg(3, 20 if small else 3)
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else (2 if small else 1)
    S, T = arg(5, 256), arg(6, 64)
    model.train()
    decay = [w for w in model.parameters() if w.dim() >= 2]
    no_decay = [w for w in model.parameters() if w.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4)
    times, opt_times = [], []  # whole step; AdamW + zero_grad
    for it in range(warmup + steps):
        src, mask, dec, labels = make_batch(B, S, T)
        t0 = time.perf_counter()
        logits = model(src, mask, dec)
        loss = F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=-100)
        loss.backward()
        t_opt = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if it >= warmup:
            times.append(time.perf_counter() - t0)
            opt_times.append(time.perf_counter() - t_opt)
    times.sort()
    opt_times.sort()
    med, opt_med = times[len(times) // 2], opt_times[len(opt_times) // 2]
    tok_s = B * (S + T) / med
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {sys.argv[1]} B={B} S={S} T={T}: {tok_s:.0f} tokens/s (source + target positions; "
          f"{med * 1e3:.1f} ms/step, AdamW + zero_grad {opt_med * 1e3:.1f} ms, median of {steps}), loss {loss.item():.3f}, {n_params / 1e6:.1f}M parameters, "
          f"peak RSS {rss_mb:.0f} MB (torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, "
          f"dropout {P_DROP})")
    print(f"RESULT torch_tok_s {tok_s:.1f} rss_mb {rss_mb:.1f}")


if __name__ == "__main__":
    check() if sys.argv[1:2] == ["--check"] else main()
