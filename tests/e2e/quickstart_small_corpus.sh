#!/usr/bin/env bash
# aero quickstart end to end on a small part of the Vietnamese corpus (40 documents of each
# package, 0.75 minutes of training): the validation loss beats the unigram entropy of the data,
# the chat fine-tune on the help pages' questions lowers the held-out answer loss, the chat sends
# the prompt the fine-tune trained on, and a second run reuses corpus, tokenizer, shards, base
# model, instruction set and chat model and ends by itself (stdin no tty).
#   quickstart_small_corpus.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
"$A" quickstart --dir q --minutes 0.75 --max-docs 40 --vocab-size 600 --threads 2 --no-chat > 1.log 2>&1 ||
  { cat 1.log; fail "the first quickstart failed"; }
grep -E 'in Vietnamese lines|kept|val loss|unigram entropy' 1.log
awk '/quickstart: val loss/ { v = $4 } /quickstart: unigram entropy/ { u = $4 }
  END { if (v > 0 && v < u) print "beats-unigram", v, "<", u; else { print "FAIL val loss", v, "does not beat the unigram entropy", u; exit 1 } }' 1.log
awk '/quickstart: held-out answer loss/ { b = $5; f = $7 }
  END { if (b > 0 && f > 0 && f < b) print "answer-loss-fell", b, "->", f; else { print "FAIL held-out answer loss", b, "->", f, "did not fall"; exit 1 } }' 1.log
grep -E 'instruction set:' 1.log
awk '/instruction set: .* train \/ .* held-out pairs/ { if ($4 >= 50 && $7 >= 5) ok = 1 } END { exit !ok }' 1.log ||
  fail "the instruction set holds fewer than 50 train / 5 held-out pairs"
for f in corpus.txt tokenizer.model model/loss.png instruct/train.jsonl instruct/val.jsonl; do [[ -s q/$f ]] || fail "q/$f is missing or empty"; done
echo outputs-ok
# English left after the Vietnamese-line filter: function words are ~40% of English text, 17% of
# the raw LibreOffice help, and must be rare in the corpus.
perl -CSD -ne 'for (split) { $t++; $e++ if /^(the|and|of|to|is|for|this|that|with|you|are|be|in|on|from|or|by|an|as|it|can)$/i }
  END { printf "English function words %.2f%% of %d words\n", 100 * $e / $t, $t; exit($e < 0.02 * $t ? 0 : 1) }' q/corpus.txt ||
  fail "English function words are 2% or more of the corpus"
# The chat lays out a question exactly as the fine-tune's prompts were (tokens compared through
# the chat's decoded prompt and the training row's text, both without the newline SentencePiece
# folds into a space).
chat=$(sed -n 's/.*done. Chat with it: aero chat -m \([^ ]*\) .*/\1/p' 1.log)
[[ $chat == */chat/* ]] || fail "the quickstart does not end with the chat model: '$chat'"
row=$(head -1 q/instruct/val.jsonl)
question=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["question"])' "$row")
printf '%s\n' "$question" | "$A" chat -m "$chat" --max-new 4 --temperature 0 --prompt-log p.jsonl > /dev/null
python3 - "$row" p.jsonl <<'PY' || fail "the chat prompt differs from the fine-tune's prompt"
import json, sys
row = json.loads(sys.argv[1])
sent = json.loads(open(sys.argv[2]).readline())["prompt"]
norm = lambda s: " ".join(s.split())
assert norm(sent) == norm(row["input_text"]), (sent, row["input_text"])
print("ok chat prompt = training prompt:", repr(sent))
PY
"$A" quickstart --dir q --threads 2 < /dev/null > 2.log 2>&1 || { cat 2.log; fail "the second quickstart failed"; }
expect "steps reused" "$(grep -c reusing 2.log)" 5
expect "same model" "$(grep 'quickstart: val loss' 2.log)" "$(grep 'quickstart: val loss' 1.log)"
expect "same chat model" "$(grep 'held-out answer loss' 2.log)" "$(grep 'held-out answer loss' 1.log)"
grep 'done. Chat with it' 2.log || fail "the second run did not end with 'done. Chat with it'"
echo quickstart-ok
