#!/usr/bin/env bash
# Side by side in one run: `aero data prepare` (both cores; a word cache for BPE) vs Debian's
# `spm_encode` on the same text and model, checking the ids are identical, for a BPE and a
# unigram model; and the cleaning pass in MB/s.
# Usage: bench/data_bench.sh [path/to/aero] [copies of the corpus, default 8]
set -euo pipefail
AERO=${1:-$(dirname "$0")/../build/aero}
COPIES=${2:-2}
command -v spm_encode >/dev/null || { echo "spm_encode missing: apt-get install sentencepiece"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

# Corpus: Vietnamese LibreOffice help as text, repeated to tens of MB.
"$AERO" data clean -i /usr/share/libreoffice/help/vi/text -o "$work/help.txt" --no-dedup >/dev/null
for _ in $(seq "$COPIES"); do cat "$work/help.txt"; echo; done >"$work/corpus.txt"
mb=$(echo "$(stat -c %s "$work/corpus.txt") / 1000000" | bc -l)

printf 'corpus: %.1f MB, %d CPUs, aero threads: %s, load average: %s\n' "$mb" "$(nproc)" \
  "${AERO_THREADS:-$(nproc)}" "$(cut -d' ' -f1 /proc/loadavg)"

# Best of REPS interleaved runs each: the reference machine is shared, so the minimum is the
# least disturbed measurement.
REPS=${REPS:-3}
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
compare() {  # compare TYPE: spm_encode vs aero data prepare with a TYPE model
  local type=$1 spm_s=1000000000 aero_s=1000000000
  "$AERO" tokenizer train --type "$type" -i "$work/help.txt" -o "$work/$type.model" \
    --vocab-size 8000 >/dev/null
  for _ in $(seq "$REPS"); do
    t0=$(now)
    spm_encode --model "$work/$type.model" --output_format=id <"$work/corpus.txt" >"$work/spm.ids"
    t1=$(now)
    "$AERO" data prepare -i "$work/corpus.txt" -t "$work/$type.model" -o "$work/shards" >/dev/null
    t2=$(now)
    spm_s=$(min "$spm_s" "$(secs "$t0" "$t1")")
    aero_s=$(min "$aero_s" "$(secs "$t1" "$t2")")
  done
  # Same ids? The shard holds spm_encode's ids plus end-of-text (3) after each document.
  tr -s ' ' '\n' <"$work/spm.ids" | grep -v '^$' >"$work/spm.flat"
  od -An -v -t u2 -j 32 "$work/shards/corpus.bin" | tr -s ' ' '\n' | grep -v '^$' | grep -vx 3 \
    >"$work/aero.flat"
  local same=DIFFERENT
  cmp -s "$work/spm.flat" "$work/aero.flat" && same=identical
  printf '%-8s spm_encode:        %6.2f s  %6.2f MB/s\n' "$type" "$spm_s" "$(echo "$mb / $spm_s" | bc -l)"
  printf '%-8s aero data prepare: %6.2f s  %6.2f MB/s  (%s ids, %d tokens)\n' "$type" "$aero_s" \
    "$(echo "$mb / $aero_s" | bc -l)" "$same" "$(wc -l <"$work/aero.flat")"
  printf '%-8s prepare speed-up vs spm_encode: %.2fx\n' "$type" "$(echo "$spm_s / $aero_s" | bc -l)"
}
compare bpe
compare unigram

clean_s=1000000000
for _ in $(seq "$REPS"); do
  t0=$(now)
  "$AERO" data clean -i "$work/corpus.txt" -o "$work/clean.txt" >/dev/null
  t1=$(now)
  clean_s=$(min "$clean_s" "$(secs "$t0" "$t1")")
done
printf 'aero data clean (text in, all rules, all threads): %.1f MB/s (%.2f s)\n' \
  "$(echo "$mb / $clean_s" | bc -l)" "$clean_s"
