"""Corpus BLEU (sacreBLEU 2.x defaults) and ROUGE-1/2/L (rouge-score, no stemming) written in
Python from their documented algorithms, with Python's own `re` running the mteval-v13a
regular expressions and rouge-score's tokenizer, compared with `aero eval --metrics-only` on a
seeded random corpus full of what tokenizers trip on: ASCII punctuation between letters and
digits, "1,000" and "3.14", dashes after digits, HTML entities, non-ASCII letters and
punctuation, Python-only whitespace (NBSP, U+3000, U+2028), the Kelvin sign and dotted capital
I, empty lines. Neither sacreBLEU nor rouge-score is installed here, so this checks aero's
code-point re-implementation of the regexes against the regex engine they are defined in.

Usage: metrics_ref.py AERO WORKDIR
"""
import collections
import json
import math
import os
import random
import re
import subprocess
import sys
import unicodedata

# --- sacreBLEU: tokenizer_13a.py + tokenizer_re.py, metrics/bleu.py (exp smoothing) ---------
_RE13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tok13a(line):
    line = line.rstrip()
    for a, b in (("<skipped>", ""), ("-\n", ""), ("\n", " "), ("&quot;", '"'), ("&amp;", "&"),
                 ("&lt;", "<"), ("&gt;", ">")):
        line = line.replace(a, b)
    line = " %s " % line
    for r, s in _RE13A:
        line = r.sub(s, line)
    return line.split()


def ngrams(toks):
    c = collections.Counter()
    for n in range(1, 5):
        for i in range(len(toks) - n + 1):
            c[tuple(toks[i:i + n])] += 1
    return c


def corpus_bleu(hyps, refs):
    correct, total, sys_len, ref_len = [0] * 4, [0] * 4, 0, 0
    for h, r in zip(hyps, refs):
        ht, rt = tok13a(h), tok13a(r)
        sys_len += len(ht)
        ref_len += len(rt)
        rc = ngrams(rt)
        for g, c in ngrams(ht).items():
            total[len(g) - 1] += c
            correct[len(g) - 1] += min(c, rc.get(g, 0))
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    prec = [0.0] * 4
    if not any(correct):
        return 0.0, correct, total, sys_len, ref_len
    smooth = 1.0
    for n in range(4):
        if total[n] == 0:
            break
        if correct[n] == 0:
            smooth *= 2
            prec[n] = 100.0 / (smooth * total[n])
        else:
            prec[n] = 100.0 * correct[n] / total[n]
    s = sum(math.log(p) if p > 0 else -9999999999 for p in prec) / 4
    return bp * math.exp(s), correct, total, sys_len, ref_len


# --- rouge-score: tokenize.py (no stemmer), rouge_scorer.py ----------------------------------
def rouge_tok(text):
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return [t for t in re.split(r"\s+", text) if re.match(r"^[a-z0-9]+$", t)]


def rouge_tok_unicode(text):
    """aero's Unicode mode: NFC, full case folding, NFC; runs of letters, marks and numbers."""
    t = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    out, cur = [], ""
    for ch in t:
        if unicodedata.category(ch)[0] in "LMN":
            cur += ch
        elif cur:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def fm(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def rouge_n(t, p, n):
    tc = collections.Counter(tuple(t[i:i + n]) for i in range(len(t) - n + 1))
    pc = collections.Counter(tuple(p[i:i + n]) for i in range(len(p) - n + 1))
    inter = sum(min(c, pc[g]) for g, c in tc.items())
    P, R = inter / max(sum(pc.values()), 1), inter / max(sum(tc.values()), 1)
    return fm(P, R)


def rouge_l(t, p):
    if not t or not p:
        return 0.0
    tab = [[0] * (len(p) + 1) for _ in range(len(t) + 1)]
    for i in range(1, len(t) + 1):
        for j in range(1, len(p) + 1):
            tab[i][j] = tab[i - 1][j - 1] + 1 if t[i - 1] == p[j - 1] else max(tab[i - 1][j], tab[i][j - 1])
    lcs = tab[-1][-1]
    return fm(lcs / len(p), lcs / len(t))


# --- a corpus that exercises the tokenizers -----------------------------------------------
PIECES = ["the", "cat", "dog", "Man", "bit", "3.14", "1,000", "5-3", "e-mail", "U.S.A.", "x.y",
          "a,b", "end.", "(", ")", "[x]", "{y}", "~", "`q`", "@home", "#1", "$5", "%", "&amp;",
          "&quot;hi&quot;", "&lt;b&gt;", "it's", "don't", "-", "--", "2-", "-2", "cảm", "ơn",
          "Việt", "NAM", "đà", "nẵng", "giới.", "Ồ,", "naïve", "café", "Straße", "…", "«a»",
          "\u212akelvin", "\u0130stanbul", "x\u00a0y", "a\u3000b", "a\u2028b", "<skipped>",
          "hy-\nphen", "tab\there", "9.", ".9", ",,", "..", "7,", "a/b", "c:d", "e;f", "g?h",
          "i!j", "k=l", "m+n", "o*p", "q|r", "s^t", "u_v", "w\\x"]


def line(rng):
    if rng.random() < 0.05:
        return ""
    return " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))


def main():
    aero, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(2024)
    refs = [line(rng) for _ in range(300)]
    # Hypotheses share much with their reference, so every n-gram order matches somewhere.
    hyps = []
    for r in refs:
        w = r.split(" ")
        if rng.random() < 0.3:
            rng.shuffle(w)
        keep = [x for x in w if rng.random() < 0.8] + ([line(rng)] if rng.random() < 0.3 else [])
        hyps.append(" ".join(keep))
    # Line breaks inside a segment would split the files: keep "\n" out of the lines written.
    hyps = [h.replace("\n", " ") for h in hyps]
    refs = [r.replace("\n", " ") for r in refs]
    with open(f"{work}/hyp.txt", "w", encoding="utf-8") as f:
        f.write("".join(h + "\n" for h in hyps))
    with open(f"{work}/ref.txt", "w", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in refs))
    out = subprocess.run([aero, "eval", "--metrics-only", "--hyp", f"{work}/hyp.txt", "--ref",
                          f"{work}/ref.txt", "--rouge-tokenize", "ascii", "--json"],
                         check=True, capture_output=True, text=True).stdout
    got = json.loads(out)
    score, correct, total, sys_len, ref_len = corpus_bleu(hyps, refs)
    b = got["bleu"]
    print("BLEU python %.10f aero %.10f; lengths %d/%d vs %d/%d" % (
        score, b["score"], sys_len, ref_len, b["sys_len"], b["ref_len"]))
    assert (b["sys_len"], b["ref_len"]) == (sys_len, ref_len), "token counts differ"
    assert abs(b["score"] - score) < 1e-9, "BLEU differs"
    r1 = sum(rouge_n(rouge_tok(r), rouge_tok(h), 1) for h, r in zip(hyps, refs)) / len(hyps)
    r2 = sum(rouge_n(rouge_tok(r), rouge_tok(h), 2) for h, r in zip(hyps, refs)) / len(hyps)
    rl = sum(rouge_l(rouge_tok(r), rouge_tok(h)) for h, r in zip(hyps, refs)) / len(hyps)
    g = got["rouge"]
    print("ROUGE python %.10f %.10f %.10f aero %.10f %.10f %.10f" % (
        r1, r2, rl, g["rouge1"]["f"], g["rouge2"]["f"], g["rougeL"]["f"]))
    for want, key in ((r1, "rouge1"), (r2, "rouge2"), (rl, "rougeL")):
        assert abs(g[key]["f"] - want) < 1e-12, key
    out = subprocess.run([aero, "eval", "--metrics-only", "--hyp", f"{work}/hyp.txt", "--ref",
                          f"{work}/ref.txt", "--json"], check=True, capture_output=True,
                         text=True).stdout
    g = json.loads(out)["rouge"]
    assert g["tokenize"] == "unicode"
    for key, fn in (("rouge1", lambda t, p: rouge_n(t, p, 1)), ("rouge2", lambda t, p: rouge_n(t, p, 2)),
                    ("rougeL", rouge_l)):
        want = sum(fn(rouge_tok_unicode(r), rouge_tok_unicode(h)) for h, r in zip(hyps, refs)) / len(hyps)
        print("ROUGE %s unicode python %.10f aero %.10f" % (key, want, g[key]["f"]))
        assert abs(g[key]["f"] - want) < 1e-12, key
    print("metrics-reference-ok")


if __name__ == "__main__":
    main()
