#!/usr/bin/env bash
# Side by side in one run: `aero data prepare` vs Debian's `spm_encode` on the same text and
# model (same ids), and the cleaning pass in MB/s.
# Usage: bench/data_bench.sh [path/to/aero] [copies of the corpus, default 8]
set -euo pipefail
AERO=${1:-$(dirname "$0")/../build/aero}
COPIES=${2:-8}
command -v spm_encode >/dev/null || { echo "spm_encode missing: apt-get install sentencepiece"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

# Corpus: Vietnamese LibreOffice help as text, repeated to tens of MB.
"$AERO" data clean -i /usr/share/libreoffice/help/vi/text -o "$work/help.txt" --no-dedup >/dev/null
for _ in $(seq "$COPIES"); do cat "$work/help.txt"; echo; done >"$work/corpus.txt"
mb=$(echo "$(stat -c %s "$work/corpus.txt") / 1000000" | bc -l)
zcat /usr/share/doc/maint-guide-vi/maint-guide.vi.txt.gz >"$work/train.txt"
"$AERO" tokenizer train -i "$work/train.txt" -o "$work/m.model" --vocab-size 8000 >/dev/null

printf 'corpus: %.1f MB, %d CPUs, aero threads: %s, load average: %s\n' "$mb" "$(nproc)" \
  "${AERO_THREADS:-$(nproc)}" "$(cut -d' ' -f1 /proc/loadavg)"

# Best of REPS interleaved runs each: the reference machine is shared, so the minimum is the
# least disturbed measurement.
REPS=${REPS:-3}
spm_s=1000000000
aero_s=1000000000
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
for _ in $(seq "$REPS"); do
  t0=$(now)
  spm_encode --model "$work/m.model" --output_format=id <"$work/corpus.txt" >"$work/spm.ids"
  t1=$(now)
  "$AERO" data prepare -i "$work/corpus.txt" -t "$work/m.model" -o "$work/shards" >/dev/null
  t2=$(now)
  spm_s=$(min "$spm_s" "$(secs "$t0" "$t1")")
  aero_s=$(min "$aero_s" "$(secs "$t1" "$t2")")
done
spm_tokens=$(wc -w <"$work/spm.ids")
aero_tokens=$(od -An -t u8 -j 24 -N 8 "$work/shards/corpus.bin" | tr -d ' ')
printf 'spm_encode:        %7.2f s  %6.2f MB/s  %d tokens\n' "$spm_s" "$(echo "$mb / $spm_s" | bc -l)" "$spm_tokens"
printf 'aero data prepare: %7.2f s  %6.2f MB/s  %d tokens (incl. end-of-text ids)\n' \
  "$aero_s" "$(echo "$mb / $aero_s" | bc -l)" "$aero_tokens"
printf 'prepare speed-up vs spm_encode: %.2fx\n' "$(echo "$spm_s / $aero_s" | bc -l)"

clean_s=1000000000
for _ in $(seq "$REPS"); do
  t0=$(now)
  "$AERO" data clean -i "$work/corpus.txt" -o "$work/clean.txt" >/dev/null
  t1=$(now)
  clean_s=$(min "$clean_s" "$(secs "$t0" "$t1")")
done
printf 'aero data clean (text in, all rules, one thread): %.1f MB/s (%.2f s)\n' \
  "$(echo "$mb / $clean_s" | bc -l)" "$clean_s"
