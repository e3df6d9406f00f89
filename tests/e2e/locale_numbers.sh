#!/usr/bin/env bash
# Numbers keep '.' as the decimal point under a locale that writes a decimal comma: aero sets
# only LC_CTYPE from the environment. de_DE.UTF-8 is generated into a private LOCPATH (no root
# needed; the locales package has its source). Config values with decimals are read right
# (--set train.lr=0.005), metrics.jsonl is JSON, and eval, info and the charts write exactly the
# same bytes as under LC_ALL=C.
#   locale_numbers.sh AERO MODEL_FIXTURE_DIR [PYTHON]
set -euo pipefail
A=$1; F=$2; PY=${3:-/usr/bin/python3}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
mkdir loc
localedef -i de_DE -f UTF-8 loc/de_DE.UTF-8 2> /dev/null || true  # warnings, not errors
export LOCPATH=$d/loc
de=(env LC_ALL=de_DE.UTF-8); c=(env LC_ALL=C)
# The locale is live: a program that takes LC_NUMERIC from it writes a decimal comma.
[[ $("${de[@]}" /usr/bin/printf '%.1f' 1.5) == "1,5" ]] || { echo "de_DE.UTF-8 not usable"; exit 1; }
sed "s/\"max_steps\": 20/\"max_steps\": 6/; s/\"log_every\": 10/\"log_every\": 1/; s|\"shards/|\"$F/shards/|g" \
  "$F/c.json" > c.json
"${de[@]}" "$A" train -c c.json --set train.lr=0.005 --set train.out_dir=run > train.log 2>&1 ||
  { cat train.log; exit 1; }
ck=$(ls -d run/ckpt-* | head -1)
for env in de c; do
  declare -n e=$env
  "${e[@]}" "$A" eval -m run -d "$F/shards/val.bin" --batches 1 --threads 1 > eval.$env
  "${e[@]}" "$A" info -m "$ck" > info.$env
  "${e[@]}" "$A" plot run > /dev/null && cp run/loss.svg loss.$env.svg
done
cat eval.de
cmp eval.de eval.c && cmp info.de info.c && cmp loss.de.svg loss.c.svg
grep -Eq '^loss [0-9]+\.[0-9]{4}  perplexity [0-9]+\.[0-9]{2} ' eval.de
"$PY" - <<'PY'
import json
rows = [json.loads(l) for l in open("run/metrics.jsonl")]
lrs = [r["lr"] for r in rows if "lr" in r]
assert lrs and abs(max(lrs) - 0.005) < 1e-6, lrs
assert all(isinstance(r["loss"], float) for r in rows if "loss" in r), rows
print("metrics-json-ok", len(rows), "rows, peak lr", max(lrs))
PY
echo locale-numbers-ok
