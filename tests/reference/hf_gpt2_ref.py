"""Reference truth for tests/parity/test_import_hf.cpp: a tiny Hugging Face-format GPT-2 and
what Hugging Face would compute with it (no transformers / tokenizers packages here).

OUT/hf_gpt2/           config.json, model.safetensors (Conv1D (in, out) weights, "transformer."
                       prefix, attn.bias mask buffers, lm_head.weight tied to wte), vocab.json and
                       merges.txt of a byte-level BPE trained here on English and Vietnamese text
OUT/hf_gpt2_bpe.json   {"texts": [...], "ids": [[...]]}: GPT-2 BPE encodings by this file's own
                       encoder (GPT-2's regex run by Python's re with \\p{L} / \\p{N} / \\s built
                       from unicodedata, bytes_to_unicode, merges by rank)
OUT/hf_gpt2_ref.safetensors  ids (I32) and logits (F32) of GPT-2's forward (written here after
                       modeling_gpt2.py's math, float64, gelu_new = tanh approximation)
OUT/hf_gpt2_f16/, OUT/hf_gpt2_f16_ref.safetensors  the same for the bare layout (no prefix, no
                       buffers, no lm_head) in float16 with n_inner 3C, epsilon 1e-6, no tokenizer
Usage: hf_gpt2_ref.py OUT_DIR
"""
import collections
import json
import math
import os
import re
import sys
import unicodedata

import torch

from st_write import write_safetensors

EOT = "<|endoftext|>"
CFG = dict(n_embd=32, n_layer=2, n_head=4, n_positions=24, n_inner=None, seed=2024,
           layer_norm_epsilon=1e-5, merges=300)

CORPUS = """The quick brown fox jumps over the lazy dog. It's 2024, and we're testing GPT-2's
byte-level BPE: don't split "quoted" words, numbers like 3.14159 or 1,000,000, e-mail@example.com!
Tiếng Việt là ngôn ngữ của người Việt. Hôm nay trời đẹp quá, mình đi chơi nhé?
Những học sinh đang học trong trường. Thế giới này có nhiều điều thú vị và đẹp đẽ.
Người ta nói rằng: "Có công mài sắt, có ngày nên kim." Ông bà ta thường dạy con cháu như vậy.
The model learns merges from frequent pairs; the pairs that occur most often merge first.
""" * 3

TEXTS = [
    "Hello world",
    "I'm here, you're there; they've gone and we'll see. She'd said it's fine.",
    "Numbers: 12345 and 3.14, plus 1,000,000 items!!",
    "Tiếng Việt là ngôn ngữ của người Việt.",
    "Hôm nay trời đẹp quá, mình đi chơi nhé?",
    unicodedata.normalize("NFD", "Tiếng Việt có dấu, viết tách rời."),
    "  leading spaces, double  spaces, trailing   ",
    "tabs\tand\nnewlines\n\n  indented\r\nwindows",
    "emoji 😀👍🏽 and 中文字符 and Ελληνικά",
    "",
    "a" + EOT + "b " + EOT,
    "'s 'S 'll don't DON'T ''",
    "x" * 40,
]


def bytes_to_unicode():
    """byte -> printable character: printable Latin-1 bytes keep theirs, the rest get 256 + n."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


BYTE_SYM = bytes_to_unicode()
# Unicode's White_Space property (what \s means in the Rust / Oniguruma engines GPT-2 runs on).
WHITE = [*range(9, 14), 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F,
         0x205F, 0x3000]


def char_class(pred):
    """A regex character class body for every code point satisfying pred."""
    ranges, start = [], None
    for cp in range(0x110000 + 1):
        ok = cp < 0x110000 and not 0xD800 <= cp < 0xE000 and pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            ranges.append((start, cp - 1))
            start = None
    esc = lambda c: "\\U%08x" % c
    return "".join(esc(a) if a == b else esc(a) + "-" + esc(b) for a, b in ranges)


def gpt2_pattern():
    L = char_class(lambda c: unicodedata.category(c) in ("Lu", "Ll", "Lt", "Lm", "Lo"))
    N = char_class(lambda c: unicodedata.category(c) in ("Nd", "Nl", "No"))
    S = "".join("\\U%08x" % c for c in WHITE)
    pat = (r"'s|'t|'re|'ve|'m|'ll|'d| ?[L]+| ?[N]+| ?[^SLN]+|[S]+(?![^S])|[S]+")
    pat = pat.replace("L", L).replace("N", N).replace("S", S)
    return re.compile(pat)


PAT = gpt2_pattern()


def train_bpe(text, n_merges):
    """Byte-level BPE merges from a corpus: the most frequent adjacent pair merges first (ties:
    the smallest pair)."""
    words = collections.Counter("".join(BYTE_SYM[b] for b in w.encode()) for w in PAT.findall(text))
    splits = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, n in words.items():
            s = splits[w]
            for a, b in zip(s, s[1:]):
                pairs[a, b] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w in words:
            s, out, i = splits[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            splits[w] = out
    return merges


def bpe(word, ranks):
    """GPT-2's bpe(): merge the lowest-ranked adjacent pair everywhere until none is ranked."""
    parts = list(word)
    while len(parts) > 1:
        rank, i = min((ranks.get((a, b), math.inf), i) for i, (a, b) in
                      enumerate(zip(parts, parts[1:])))
        if rank == math.inf:
            break
        first, second = parts[i], parts[i + 1]
        out, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
                out.append(first + second)
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return parts


def encode(text, vocab, ranks):
    ids = []
    chunks = text.split(EOT)
    for k, chunk in enumerate(chunks):
        for piece in PAT.findall(chunk):
            sym = "".join(BYTE_SYM[b] for b in piece.encode())
            ids += [vocab[t] for t in bpe(sym, ranks)]
        if k + 1 < len(chunks):
            ids.append(vocab[EOT])
    return ids


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gpt2_forward(W, ids, c):
    """modeling_gpt2.py's GPT2LMHeadModel in float64: Conv1D is x @ W + b."""
    C, NH = c["n_embd"], c["n_head"]
    HS, T, eps = C // NH, len(ids), c["layer_norm_epsilon"]
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), W[p + ".weight"], W[p + ".bias"], eps)
    conv = lambda x, p: x @ W[p + ".weight"] + W[p + ".bias"]
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(c["n_layer"]):
        h = f"h.{l}."
        q, k, v = conv(ln(x, h + "ln_1"), h + "attn.c_attn").split(C, dim=-1)
        q, k, v = (t.view(T, NH, HS).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + conv(y, h + "attn.c_proj")
        x = x + conv(gelu_new(conv(ln(x, h + "ln_2"), h + "mlp.c_fc")), h + "mlp.c_proj")
    return ln(x, "ln_f") @ W["wte.weight"].T


def main():
    out = sys.argv[1]
    d = os.path.join(out, "hf_gpt2")
    os.makedirs(d, exist_ok=True)
    merges = train_bpe(CORPUS, CFG["merges"])
    vocab = {BYTE_SYM[b]: i for i, b in enumerate(sorted(BYTE_SYM, key=lambda b: BYTE_SYM[b]))}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab[EOT] = len(vocab)
    ranks = {m: i for i, m in enumerate(merges)}
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    ids = [encode(t, vocab, ranks) for t in TEXTS]
    with open(os.path.join(out, "hf_gpt2_bpe.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": TEXTS, "ids": ids}, f, ensure_ascii=False)

    x = ids[3] + ids[1]
    x = torch.tensor(x[:CFG["n_positions"]], dtype=torch.int64)
    # The GPT-2 layout of older checkpoints: "transformer." prefix, mask buffers, lm_head.
    write_model(out, "hf_gpt2", dict(CFG, vocab_size=len(vocab)), x, eos=vocab[EOT])
    # The bare layout, float16 weights, n_inner 3C, another epsilon, the PyTorch tanh GELU name.
    write_model(out, "hf_gpt2_f16", dict(CFG, vocab_size=len(vocab), n_inner=3 * CFG["n_embd"],
                                         layer_norm_epsilon=1e-6, seed=7), x, half=True)


def write_model(out, name, c, x, eos=None, half=False):
    """OUT/name/{config.json, model.safetensors} and OUT/name_ref.safetensors (ids, logits)."""
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    C, L, V, P = c["n_embd"], c["n_layer"], c["vocab_size"], c["n_positions"]
    H = c["n_inner"] or 4 * C
    g = torch.Generator().manual_seed(c["seed"])
    dtype = torch.float16 if half else torch.float32
    rnd = lambda *s, std=0.1: (std * torch.randn(*s, generator=g, dtype=torch.float64)).to(dtype)
    W = {"wte.weight": rnd(V, C), "wpe.weight": rnd(P, C)}
    for l in range(L):
        h = f"h.{l}."
        W.update({h + "ln_1.weight": 1 + rnd(C), h + "ln_1.bias": rnd(C, std=0.05),
                  h + "attn.c_attn.weight": rnd(C, 3 * C), h + "attn.c_attn.bias": rnd(3 * C),
                  h + "attn.c_proj.weight": rnd(C, C), h + "attn.c_proj.bias": rnd(C),
                  h + "ln_2.weight": 1 + rnd(C), h + "ln_2.bias": rnd(C, std=0.05),
                  h + "mlp.c_fc.weight": rnd(C, H), h + "mlp.c_fc.bias": rnd(H),
                  h + "mlp.c_proj.weight": rnd(H, C), h + "mlp.c_proj.bias": rnd(C)})
    W.update({"ln_f.weight": 1 + rnd(C), "ln_f.bias": rnd(C, std=0.05)})
    hf_cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V,
              "n_embd": C, "n_layer": L, "n_head": c["n_head"], "n_positions": P,
              "n_inner": c["n_inner"], "layer_norm_epsilon": c["layer_norm_epsilon"]}
    if half:
        tensors = dict(W)
        hf_cfg["activation_function"] = "gelu_pytorch_tanh"
    else:
        tensors = {"transformer." + k: v for k, v in W.items()}
        for l in range(L):  # the causal-mask buffer older checkpoints carry
            tensors[f"transformer.h.{l}.attn.bias"] = torch.ones(1, 1, P, P).tril()
        tensors["lm_head.weight"] = W["wte.weight"]
        hf_cfg.update({"n_ctx": P, "activation_function": "gelu_new",
                       "tie_word_embeddings": True, "bos_token_id": eos, "eos_token_id": eos})
    write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_cfg, f, indent=2)
    logits = gpt2_forward({k: v.double() for k, v in W.items()}, x, c)
    write_safetensors(os.path.join(out, name + "_ref.safetensors"),
                      {"ids": x.int(), "logits": logits.float()})
    print(f"{name}: vocab {V}, {len(x)} tokens, logits max {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
