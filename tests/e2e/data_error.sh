#!/usr/bin/env bash
# Malformed input to `aero data`: one clear line naming the file and line (or byte offset), exit
# 1, and where noted no output file left behind.
#   data_error.sh AERO CASE     CASE: csv_quote jsonl utf8 bz2 shard_magic shard_short
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
files=  # what `ls` must show afterwards, where the case checks it
case $2 in
  csv_quote) printf 'input_text,target_text\na,b\n"open,x\n' > p.csv
    cmd=(data clean -i p.csv -o out.txt); want='p\.csv:3: unterminated quote'; files=p.csv ;;
  jsonl) printf '{"text": "a"}\n{oops}\n' > x.jsonl
    cmd=(data clean -i x.jsonl -o out.txt); want='x\.jsonl:2: invalid JSON'; files=x.jsonl ;;
  utf8) printf 'ok\nbad \xff\n' > t.txt
    cmd=(data clean -i t.txt -o out.txt); want='t\.txt:2: invalid UTF-8' ;;
  bz2) printf '<mediawiki><page><title>a</title><revision><text>xin chao</text></revision></page></mediawiki>' |
      bzip2 | head -c 40 > w.xml.bz2
    cmd=(data clean -i w.xml.bz2 -o out.txt); want='w\.xml\.bz2: truncated bzip2 stream'; files=w.xml.bz2 ;;
  shard_magic) head -c 64 /dev/zero > z.bin
    cmd=(data inspect z.bin); want='z\.bin: wrong magic at offset 0' ;;
  shard_short) printf 'AEROTOK' > s.bin
    cmd=(data inspect s.bin); want='s\.bin: 7 bytes is shorter than the 32-byte shard header' ;;
  *) fail "unknown case $2" ;;
esac
expect_error "$2 error" "$want" "$A" "${cmd[@]}"
[[ -z $files ]] || expect "files left" "$(ls | tr '\n' ' ')" "$files "
echo "data-error-$2-ok"
