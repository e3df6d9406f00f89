#!/usr/bin/env bash
# SIGTERM (or Ctrl-C) during training: the step finishes, a checkpoint of that step is written,
# `latest` points at it and aero exits 0.   train_cli_sigterm.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 100000
"$A" train -c c.json > t.log 2>&1 & pid=$!
while [[ ! -e runA/latest ]]; do sleep 0.02; done
kill -TERM $pid; rc=0; wait $pid || rc=$?
expect "exit status after SIGTERM" $rc 0
grep -o 'interrupted at step [0-9]*' t.log || { cat t.log; fail "t.log does not say 'interrupted at step N'"; }
step=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' t.log)
[[ -d runA/ckpt-$step ]] || fail "no checkpoint runA/ckpt-$step"
expect "latest" "$(cat runA/latest)" "ckpt-$step"
echo stopped-cleanly
