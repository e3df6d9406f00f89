"""An independent GGUF v3 reader (from docs/gguf.md of ggml, no gguf package) that checks the
layout of a file aero exported and, given the checkpoint, that llama.cpp would compute the same
logits as aero.

Layout checks: magic, version 3, counts, every key and value type, general.alignment, the data
section aligned, every tensor offset aligned, inside the file, in order and not overlapping, the
tensor names and shapes llama.cpp's loader asks for (src/models/{gpt2,llama}.cpp), tokenizer
arrays as long as the vocabulary.

Logit check (--ckpt DIR): the aero checkpoint (model.safetensors + config.json) run with aero's
conventions (separate q/k/v, rotate-half RoPE) against the GGUF run as llama.cpp's graphs do
(fused attn_qkv split in Q, K, V order for gpt2; RoPE on adjacent pairs (2i, 2i+1) for llama;
token_embd as the head when output.weight is absent; hyperparameters from the GGUF metadata),
in float64. f32 files must agree to 1e-7 relative (the GGUF holds the epsilon as f32); f16 / bf16
files to 1% of the logit range, q8_0 files to 3%.

llama.cpp check (--llama-cpp DIR --text T --ids aero's ids of T, with --ckpt): llama.cpp itself
(tests/reference/llama_cpp_probs.mjs through node-llama-cpp in DIR) must tokenize T into the
same ids and give the checkpoint's next-token logits up to a constant: 2e-4 of their spread for
f32, 1% for f16 / bf16, 5% for q8_0.

Usage: gguf_read.py FILE.gguf [--ckpt CKPT_DIR] [--ids 1,2,3] [--llama-cpp DIR --text T]
(prints "gguf-ok" at the end)
"""
import collections
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np

TYPES = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
         11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
GGML = {0: ("f32", 1, 4), 1: ("f16", 1, 2), 8: ("q8_0", 32, 34), 30: ("bf16", 1, 2)}


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n):
        assert self.pos + n <= len(self.buf), f"truncated at {self.pos} (+{n})"
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return self.take(self.scalar("<Q")).decode("utf-8")

    def value(self, t):
        if t == STRING:
            return self.string()
        if t == ARRAY:
            et, n = self.scalar("<I"), self.scalar("<Q")
            assert et != ARRAY, "nested array"
            return [self.value(et) for _ in range(n)]
        return self.scalar(TYPES[t])


def read_gguf(path):
    """-> (metadata {key: (type, value)}, tensors [dict], raw bytes); asserts the layout."""
    buf = open(path, "rb").read()
    r = Reader(buf)
    assert r.take(4) == b"GGUF", "bad magic"
    version = r.scalar("<I")
    assert version == 3, f"version {version}"
    n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        t = r.scalar("<I")
        assert key not in meta, f"duplicate key {key}"
        meta[key] = (t, r.value(t))
    align = meta.get("general.alignment", (4, 32))[1]
    assert align > 0 and align & (align - 1) == 0
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.scalar("<I")
        ne = [r.scalar("<Q") for _ in range(n_dims)]
        ggml_type, offset = r.scalar("<I"), r.scalar("<Q")
        kind, block, block_bytes = GGML[ggml_type]
        numel = math.prod(ne)
        assert ne[0] % block == 0, f"{name}: ne0 {ne[0]} not a multiple of {block}"
        tensors.append(dict(name=name, ne=ne, shape=ne[::-1], type=kind, offset=offset,
                            nbytes=numel // block * block_bytes))
    data_start = (r.pos + align - 1) // align * align
    assert all(b == 0 for b in buf[r.pos:data_start]), "non-zero header padding"
    end = 0
    for t in tensors:  # llama.cpp's loader wants them in order, each at the next aligned place
        assert t["offset"] % align == 0, f"{t['name']}: offset {t['offset']} not aligned"
        assert t["offset"] == (end + align - 1) // align * align, f"{t['name']}: gap or overlap"
        end = t["offset"] + t["nbytes"]
        assert data_start + end <= len(buf), f"{t['name']}: beyond the end of the file"
        t["data"] = buf[data_start + t["offset"]:data_start + end]
    assert len(buf) == data_start + (end + align - 1) // align * align, "trailing bytes"
    return meta, tensors, data_start


def to_array(t):
    """A tensor's values as float64, shape in PyTorch order (reversed ne)."""
    if t["type"] == "f32":
        a = np.frombuffer(t["data"], dtype="<f4").astype(np.float64)
    elif t["type"] == "f16":
        a = np.frombuffer(t["data"], dtype="<f2").astype(np.float64)
    elif t["type"] == "bf16":
        a = (np.frombuffer(t["data"], dtype="<u2").astype(np.uint32) << 16).view("<f4")
        a = a.astype(np.float64)
    else:  # q8_0: blocks of (f16 d, 32 x int8)
        blocks = np.frombuffer(t["data"], dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]))
        a = (blocks["d"].astype(np.float64)[:, None] * blocks["q"].astype(np.float64)).ravel()
    return a.reshape(t["shape"])


def expected_tensors(arch, n_layer, tied):
    """The names llama.cpp's loader creates for the arch (biases required for gpt2)."""
    names = ["token_embd.weight", "output_norm.weight"]
    per = ["attn_norm.weight", "attn_output.weight", "ffn_norm.weight", "ffn_up.weight",
           "ffn_down.weight"]
    if arch == "gpt2":
        names += ["position_embd.weight", "output_norm.bias"]
        per += ["attn_norm.bias", "attn_qkv.weight", "attn_qkv.bias", "attn_output.bias",
                "ffn_norm.bias", "ffn_up.bias", "ffn_down.bias"]
    else:
        per += ["attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_gate.weight"]
    if not tied:
        names.append("output.weight")
    return set(names + [f"blk.{l}.{p}" for l in range(n_layer) for p in per])


def check_layout(meta, tensors):
    def get(key):
        assert key in meta, f"missing key {key}"
        return meta[key][1]

    arch = get("general.architecture")
    assert arch in ("gpt2", "llama"), arch
    for k in ("context_length", "embedding_length", "block_count", "feed_forward_length",
              "attention.head_count"):
        assert meta[f"{arch}.{k}"][0] == 4, f"{arch}.{k} is not u32"
    C, L = get(f"{arch}.embedding_length"), get(f"{arch}.block_count")
    H, NH = get(f"{arch}.feed_forward_length"), get(f"{arch}.attention.head_count")
    n_ctx = get(f"{arch}.context_length")
    tokens = get("tokenizer.ggml.tokens")
    V = len(tokens)
    assert len(get("tokenizer.ggml.scores")) == V and len(get("tokenizer.ggml.token_type")) == V
    assert len(set(tokens)) == V, "duplicate tokens"
    assert all(1 <= t <= 6 for t in get("tokenizer.ggml.token_type"))
    for k in ("bos", "eos", "unknown", "padding"):
        assert meta.get(f"tokenizer.ggml.{k}_token_id", (4, 0))[1] < V, k
    if get("tokenizer.ggml.model") == "gpt2":  # llama.cpp's BPE needs merges and a pre-tokenizer
        assert get("tokenizer.ggml.pre") == "gpt-2"
        for m in get("tokenizer.ggml.merges"):
            a, b = m.split(" ")
            assert a + b in tokens, m
    else:
        assert get("tokenizer.ggml.model") == "llama"
    by_name = {t["name"]: t for t in tensors}
    tied = "output.weight" not in by_name
    assert set(by_name) == expected_tensors(arch, L, tied), \
        sorted(set(by_name) ^ expected_tensors(arch, L, tied))
    # ne as llama.cpp's create_tensor asks for it (innermost first).
    want = {"token_embd.weight": [C, V], "output_norm.weight": [C], "output.weight": [C, V],
            "position_embd.weight": [C, n_ctx], "output_norm.bias": [C]}
    for l in range(L):
        b = f"blk.{l}."
        want.update({b + "attn_norm.weight": [C], b + "attn_norm.bias": [C],
                     b + "attn_qkv.weight": [C, 3 * C], b + "attn_qkv.bias": [3 * C],
                     b + "attn_q.weight": [C, C], b + "attn_k.weight": [C, C],
                     b + "attn_v.weight": [C, C], b + "attn_output.weight": [C, C],
                     b + "attn_output.bias": [C], b + "ffn_norm.weight": [C],
                     b + "ffn_norm.bias": [C], b + "ffn_gate.weight": [C, H],
                     b + "ffn_up.weight": [C, H], b + "ffn_up.bias": [H],
                     b + "ffn_down.weight": [H, C], b + "ffn_down.bias": [C]})
    for t in tensors:
        assert t["ne"] == want[t["name"]], f"{t['name']}: ne {t['ne']} != {want[t['name']]}"
        if len(t["ne"]) == 1:
            assert t["type"] == "f32", f"{t['name']} should stay f32"
    if arch == "llama":
        assert get("llama.rope.dimension_count") == C // NH
        assert get("llama.attention.head_count_kv") == NH
    return arch


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(q, k, v, NH):
    """q, k, v (T, C) -> (T, C), causal, scale 1/sqrt(HS)."""
    T, C = q.shape
    HS = C // NH
    out = np.zeros((T, C))
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for h in range(NH):
        s = slice(h * HS, (h + 1) * HS)
        a = q[:, s] @ k[:, s].T / math.sqrt(HS)
        a[mask] = -np.inf
        a = np.exp(a - a.max(-1, keepdims=True))
        out[:, s] = (a / a.sum(-1, keepdims=True)) @ v[:, s]
    return out


def rope_rotate_half(x, NH, theta):
    """aero / Hugging Face: pairs (i, i + HS/2) of each head, angle t * theta^(-2i/HS)."""
    T, C = x.shape
    HS = C // NH
    ang = np.arange(T)[:, None] * theta ** (-np.arange(0, HS, 2) / HS)[None, :]  # (T, HS/2)
    y = x.copy()
    for h in range(NH):
        a, b = x[:, h * HS:h * HS + HS // 2], x[:, h * HS + HS // 2:(h + 1) * HS]
        y[:, h * HS:h * HS + HS // 2] = a * np.cos(ang) - b * np.sin(ang)
        y[:, h * HS + HS // 2:(h + 1) * HS] = b * np.cos(ang) + a * np.sin(ang)
    return y


def rope_adjacent(x, NH, n_rot, theta):
    """llama.cpp's LLAMA_ROPE_TYPE_NORM: pairs (2i, 2i + 1), angle t * theta^(-2i/n_rot)."""
    T, C = x.shape
    HS = C // NH
    ang = np.arange(T)[:, None] * theta ** (-np.arange(0, n_rot, 2) / n_rot)[None, :]
    y = x.copy()
    for h in range(NH):
        a, b = x[:, h * HS:h * HS + n_rot:2], x[:, h * HS + 1:h * HS + n_rot:2]
        y[:, h * HS:h * HS + n_rot:2] = a * np.cos(ang) - b * np.sin(ang)
        y[:, h * HS + 1:h * HS + n_rot:2] = b * np.cos(ang) + a * np.sin(ang)
    return y


def llama_cpp_logits(meta, tensors, ids):
    """The GGUF as llama.cpp's gpt2 / llama graph computes it."""
    W = {t["name"]: to_array(t) for t in tensors}
    arch = meta["general.architecture"][1]
    m = lambda k: meta[f"{arch}.{k}"][1]
    NH, L = m("attention.head_count"), m("block_count")
    x = W["token_embd.weight"][ids]
    T = len(ids)
    lin = lambda h, n: h @ W[n + ".weight"].T + (W[n + ".bias"] if n + ".bias" in W else 0)
    if arch == "gpt2":
        eps = m("attention.layer_norm_epsilon")
        x = x + W["position_embd.weight"][:T]
        for l in range(L):
            b = f"blk.{l}."
            h = layer_norm(x, W[b + "attn_norm.weight"], W[b + "attn_norm.bias"], eps)
            qkv = lin(h, b + "attn_qkv")
            C = x.shape[1]
            q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
            x = x + lin(attention(q, k, v, NH), b + "attn_output")
            h = layer_norm(x, W[b + "ffn_norm.weight"], W[b + "ffn_norm.bias"], eps)
            x = x + lin(gelu_tanh(lin(h, b + "ffn_up")), b + "ffn_down")
        x = layer_norm(x, W["output_norm.weight"], W["output_norm.bias"], eps)
    else:
        eps, theta, n_rot = (m("attention.layer_norm_rms_epsilon"), m("rope.freq_base"),
                             m("rope.dimension_count"))
        for l in range(L):
            b = f"blk.{l}."
            h = rms_norm(x, W[b + "attn_norm.weight"], eps)
            q = rope_adjacent(lin(h, b + "attn_q"), NH, n_rot, theta)
            k = rope_adjacent(lin(h, b + "attn_k"), NH, n_rot, theta)
            x = x + lin(attention(q, k, lin(h, b + "attn_v"), NH), b + "attn_output")
            h = rms_norm(x, W[b + "ffn_norm.weight"], eps)
            g = lin(h, b + "ffn_gate")
            x = x + lin(g / (1 + np.exp(-g)) * lin(h, b + "ffn_up"), b + "ffn_down")
        x = rms_norm(x, W["output_norm.weight"], eps)
    head = W["output.weight"] if "output.weight" in W else W["token_embd.weight"]
    return x @ head.T


def read_safetensors(path):
    buf = open(path, "rb").read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: {e['dtype']}"
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(buf[8 + n + a:8 + n + b], dtype="<f4").astype(
            np.float64).reshape(e["shape"])
    return out


def aero_logits(ckpt, ids):
    """The checkpoint with aero's conventions (GptConfig options), pre-LN only."""
    P = read_safetensors(ckpt + "/model.safetensors")
    c = json.load(open(ckpt + "/config.json"))["model"]
    NH, eps, T = c["n_head"], c["norm_eps"], len(ids)
    norm = ((lambda x, n: layer_norm(x, P[n + ".weight"], P[n + ".bias"], eps))
            if c["norm"] == "layernorm" else (lambda x, n: rms_norm(x, P[n + ".weight"], eps)))
    lin = lambda h, n: h @ P[n + ".weight"].T + (P[n + ".bias"] if n + ".bias" in P else 0)
    x = P["token_embd.weight"][ids]
    if c["pos"] == "learned":
        x = x + P["position_embd.weight"][:T]
    for l in range(c["n_layer"]):
        b = f"blk.{l}."
        h = norm(x, b + "attn_norm")
        q, k, v = lin(h, b + "attn_q"), lin(h, b + "attn_k"), lin(h, b + "attn_v")
        if c["pos"] == "rope":
            theta = c["rope_theta"]
            q, k = rope_rotate_half(q, NH, theta), rope_rotate_half(k, NH, theta)
        x = x + lin(attention(q, k, v, NH), b + "attn_output")
        h = norm(x, b + "ffn_norm")
        if c["act"] == "swiglu":
            g = lin(h, b + "ffn_gate")
            m = g / (1 + np.exp(-g)) * lin(h, b + "ffn_up")
        else:
            m = gelu_tanh(lin(h, b + "ffn_up"))
        x = x + lin(m, b + "ffn_down")
    x = norm(x, "output_norm")
    return x @ (P["token_embd.weight"] if c["tie_head"] else P["output.weight"]).T


def get_meta(path, key):
    return read_gguf(path)[0][key][1]


def check_with_llama_cpp(path, opts, n_q8, n_half):
    """llama.cpp itself: its tokens for --text must be --ids (aero's), and its next-token
    log-probabilities must be the checkpoint's logits up to a constant."""
    env = dict(os.environ, AERO_NODE_LLAMA_CPP=opts["--llama-cpp"])
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llama_cpp_probs.mjs")
    node = os.path.join(env["AERO_NODE_LLAMA_CPP"], "bin", "node")  # scripts/llama-cpp.sh
    # node-llama-cpp exited with status 1 about once in ten full test runs on a loaded machine
    # (both CPUs busy with other tests), never when run alone: its stderr is printed and the
    # run tried once more. A wrong answer is not retried: the checks below stand.
    for attempt in (1, 2):
        run = subprocess.run([node, script, path, opts["--text"]], env=env,
                             capture_output=True, text=True)
        if run.returncode == 0:
            break
        print(f"llama.cpp run {attempt} on {path} exited with {run.returncode}:\n{run.stderr}",
              file=sys.stderr)
    else:
        raise SystemExit(f"llama.cpp failed twice on {path}")
    out = run.stdout
    got = json.loads(out.strip().splitlines()[-1])
    ids = [int(i) for i in opts["--ids"].split(",")]
    arch = get_meta(path, "general.architecture")
    assert len(ids) <= get_meta(path, f"{arch}.context_length"), "text longer than the context"
    print(f"llama.cpp tokens: {' '.join(map(str, got['tokens']))}")
    assert got["tokens"] == ids, f"llama.cpp tokenizes {opts['--text']!r} differently from aero"
    lp = np.array([x if x is not None else -np.inf for x in got["logprobs"]])
    want = aero_logits(opts["--ckpt"], ids)[-1]
    assert len(lp) == len(want) and np.isfinite(lp).all()
    d = (lp - lp.mean()) - (want - want.mean())
    err, spread = np.abs(d).max(), want.max() - want.min()
    tol = (0.05 if n_q8 else 0.01 if n_half else 2e-4) * max(spread, 0.1)
    print(f"llama.cpp next-token logits (up to a constant): max |llama.cpp - aero| = {err:.3g} "
          f"(spread {spread:.3g}, tolerance {tol:.3g})")
    assert err <= tol, "llama.cpp's logits differ"


def main():
    args = sys.argv[1:]
    path = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    meta_t, tensors, data_start = read_gguf(path)
    arch = check_layout(meta_t, tensors)
    meta = {k: v for k, v in meta_t.items()}
    n_q8 = sum(t["type"] == "q8_0" for t in tensors)
    n_half = sum(t["type"] in ("f16", "bf16") for t in tensors)
    kinds = collections.Counter(t["type"] for t in tensors)
    types = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(f"{path}: GGUF v3, arch {arch}, {len(meta)} keys, {len(tensors)} tensors "
          f"({types}), data at {data_start}, alignment "
          f"{meta.get('general.alignment', (4, 32))[1]}, vocab "
          f"{len(meta['tokenizer.ggml.tokens'][1])} ({meta['tokenizer.ggml.model'][1]})")
    if "--ckpt" in opts:
        ids = [int(i) for i in opts.get("--ids", "1,5,7,2,9,4,4,3,8,6").split(",")]
        want = aero_logits(opts["--ckpt"], ids)
        got = llama_cpp_logits(meta, tensors, ids)
        err = np.abs(got - want).max()
        scale = np.abs(want).max()
        if n_q8:
            tol = 0.03 * (want.max() - want.min())
        elif n_half:
            tol = 0.01 * (want.max() - want.min())
        else:
            tol = 1e-7 * max(scale, 1.0)
        print(f"logits over {len(ids)} tokens: max |llama.cpp - aero| = {err:.3g} "
              f"(max |logit| {scale:.3g}, tolerance {tol:.3g})")
        assert err <= tol, "logits differ"
    if "--llama-cpp" in opts:
        check_with_llama_cpp(path, opts, n_q8, n_half)
    print("gguf-ok")


if __name__ == "__main__":
    main()
