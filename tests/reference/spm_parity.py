"""Encode parity: aero's SentencePiece wrapper vs the SentencePiece Python module.

Trains BPE and unigram models with `aero tokenizer train` on 80% of maint-guide-vi, holds out
the rest and libreoffice-help-vi (extracted with `aero data clean`), encodes it with `aero tokenizer encode` and
with the Python module, and requires identical ids on every line.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm

MAINT_GUIDE = "/usr/share/doc/maint-guide-vi/maint-guide.vi.txt.gz"
LO_HELP = "/usr/share/libreoffice/help/vi/text"


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aero", required=True)
    ap.add_argument("--held-out-dir", default=LO_HELP)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Train on the first 80% of maint-guide-vi; hold out its last 20% and all of
        # libreoffice-help-vi.
        with gzip.open(MAINT_GUIDE, "rt", encoding="utf-8") as f:
            guide = f.read().splitlines()
        cut = len(guide) * 8 // 10
        train = os.path.join(tmp, "train.txt")
        with open(train, "w", encoding="utf-8") as out:
            out.write("\n".join(guide[:cut]) + "\n")
        held = os.path.join(tmp, "held.txt")
        run([args.aero, "data", "clean", "-i", args.held_out_dir, "-o", held])
        lines = [l for l in guide[cut:] if l.strip()]
        with open(held, encoding="utf-8") as f:
            lines += [l.rstrip("\n") for l in f if l.strip()]
        # Edge strings too: emoji, decomposed tone marks, mixed scripts, byte fallback.
        lines += ["😀 Xin chào", "Tie\u0302\u0301ng Vie\u0323\u0302t", "中文 русский ελληνικά",
                  "  nhiều   khoảng   trắng  "]
        held_all = os.path.join(tmp, "held_all.txt")
        with open(held_all, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        failures = 0
        for model_type in ("bpe", "unigram"):
            model = os.path.join(tmp, model_type + ".model")
            run([args.aero, "tokenizer", "train", "--type", model_type, "-i", train, "-o", model,
                 "--vocab-size", "2500"])
            out = subprocess.run([args.aero, "tokenizer", "encode", "-m", model, "-i", held_all],
                                 check=True, capture_output=True, text=True).stdout.splitlines()
            sp = spm.SentencePieceProcessor(model_file=model)
            if len(out) != len(lines):
                print(f"{model_type}: {len(out)} lines of ids for {len(lines)} lines of text")
                failures += 1
                continue
            same = 0
            for text, got in zip(lines, out):
                want = " ".join(map(str, sp.encode(text)))
                if got == want:
                    same += 1
                elif failures < 5:
                    print(f"{model_type} mismatch: {text!r}\n  aero:   {got}\n  python: {want}")
                    failures += 1
            n_tok = sum(len(l.split()) for l in out)
            print(f"{model_type}: {same}/{len(lines)} lines identical ({n_tok} tokens)")
            failures += same != len(lines)
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
