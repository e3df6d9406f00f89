#!/usr/bin/env bash
# A run killed with SIGKILL after its first checkpoint and resumed ends with the same weights,
# bit for bit, as the uninterrupted run; a leftover temp directory (a save killed half way) is
# removed on the next start. A second argument (e.g. train.precision=bf16) is set on every run.
#   train_cli_kill_and_resume.sh AERO [SECTION.KEY=VALUE]
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 600
extra=(); [[ -z ${2:-} ]] || extra=(--set "$2")
"$A" train -c c.json "${extra[@]}" > a.log 2>&1 || { cat a.log; fail "the uninterrupted run failed"; }
[[ ${2:-} != train.precision=bf16 ]] || grep '\[train\] precision bf16' a.log ||
  fail "a.log does not say which precision the bf16 run used"
want=$(sha256sum < runA/ckpt-600/model.safetensors)
"$A" train -c c.json "${extra[@]}" --set train.out_dir=runB > b.log 2>&1 & pid=$!
while [[ ! -e runB/latest ]]; do sleep 0.02; done
kill -9 $pid; rc=0; wait $pid || rc=$?
echo "killed rc=$rc at $(cat runB/latest)"
expect "exit status of the killed run" $rc 137
[[ $(cat runB/latest) != ckpt-600 ]] || fail "the run finished before it was killed"
mkdir runB/.tmp-ckpt-999
"$A" train -c c.json "${extra[@]}" --set train.out_dir=runB --resume > c.log 2>&1 || { cat c.log; fail "resume failed"; }
grep 'resumed from' c.log || fail "c.log does not say 'resumed from'"
[[ ! -e runB/.tmp-ckpt-999 ]] || fail "the leftover runB/.tmp-ckpt-999 was not removed"
expect "weights after resume" "$(sha256sum < runB/ckpt-600/model.safetensors)" "$want"
expect "test_loss rows" "$(grep -c '"test_loss"' runB/metrics.jsonl)" 1
echo resume-bit-exact
