#!/usr/bin/env bash
# The KJV learning check: char-small trained by `aero train` and by a PyTorch trainer with the
# same architecture, hyperparameters, batches and schedule (tests/reference/train_ref.py) reach
# validation losses within 2% of each other on the same validation windows.
#   train_kjv_matches_pytorch.sh AERO STEPS [PYTHON]
set -euo pipefail
A=$(realpath "$1"); S=$2; PY=${3:-/usr/bin/python3}; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
bible 'Gen1:1-Rev22:21' > kjv.txt
"$A" data split -i kjv.txt -o split --seed 1 > /dev/null
"$A" tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
"$A" data prepare -i split -t chars.json -o shards > /dev/null
V=$("$A" data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
"$A" train -c "$here/../../configs/char-small.json" --set model.vocab_size=$V \
  --set data.train=shards/train.bin --set data.val=shards/val.bin --set data.test= \
  --set data.tokenizer=chars.json --set train.max_steps=$S --set train.eval_every=$S \
  --set train.eval_batches=40 --set train.threads=2 --set train.log_every=100 \
  --set train.out_dir=run > aero.log 2>&1 || { cat aero.log; fail "aero train failed"; }
aero=$(grep -o '"val_loss":[0-9.]*' run/metrics.jsonl | tail -1 | cut -d: -f2)
OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE "$PY" "$here/../reference/train_ref.py" \
  run/ckpt-$S/config.json > torch.log
torch=$(tail -1 torch.log | cut -d' ' -f4)
awk -v a="$aero" -v t="$torch" 'BEGIN { r = (a - t) / t; printf "val_loss aero %.4f pytorch %.4f (%+.2f%%)\n", a, t, 100 * r;
  if (r < 0.02 && r > -0.02) print "within-2-percent"; else { print "FAIL not within 2%"; exit 1 } }'
