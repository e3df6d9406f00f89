#!/usr/bin/env bash
# The whole data path on the command line, on Vietnamese text every Debian system can have
# (maint-guide-vi): clean -> split -> tokenizer train / add-tokens -> prepare, char tokenizer too.
#   data_cli_pipeline.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
zcat /usr/share/doc/maint-guide-vi/maint-guide.vi.txt.gz | sed -n 1,3000p > raw.txt
"$A" data clean -i raw.txt -o clean.txt --report report.json
has "clean report" '"docs_out"' < report.json
"$A" data split -i clean.txt -o split --seed 7
for s in train val test; do [[ -s split/$s.txt ]] || fail "split/$s.txt is missing or empty"; done
"$A" tokenizer train -i split/train.txt -o tok.model --vocab-size 1000
"$A" tokenizer add-tokens -m tok.model '<TIKTOK>' '<FACEBOOK>' '<YOUTUBE>' '<COMMENT>' |
  has "added token ids" $'^<COMMENT>\t1003$'
expect "encode <YOUTUBE>" "$("$A" tokenizer encode -m tok.model -t '<YOUTUBE>')" 1002
ids=$("$A" tokenizer encode -m tok.model -t 'Tiếng Việt <TIKTOK>')
expect "decode round trip" "$("$A" tokenizer decode -m tok.model --ids "$ids")" 'Tiếng Việt<TIKTOK>'
"$A" data prepare -i split -t tok.model -o shards
"$A" data inspect shards/train.bin | has "shard header" 'vocab 1004, end-of-text 3'
"$A" tokenizer info -m tok.model | has "tokenizer info" $'^special <TIKTOK>\t1000$'
"$A" tokenizer train --type char -i split/train.txt -o chars.json
"$A" data prepare -i split/val.txt -t chars.json -o cshards
echo pipeline-ok
