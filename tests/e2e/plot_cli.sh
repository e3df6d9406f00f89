#!/usr/bin/env bash
# aero plot from the command line: charts next to the metrics, a comparison (PNG + SVG, PDF on
# request, log scale, Vietnamese labels and title), and errors that name the file and line with
# exit 1.   plot_cli.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
mkdir a b
printf '{"step": 0, "loss": 4, "lr": 0}\n{"step": 10, "loss": 3, "lr": 1e-3, "val_loss": 3.2}\n' > a/metrics.jsonl
printf '{"step": 0, "val_loss": 4.1}\n{"step": 10, "val_loss": 3.5}\n' > b/metrics.jsonl
"$A" plot a > /dev/null
expect "charts beside the metrics" "$(ls a | tr '\n' ' ')" "loss.png loss.svg lr.png lr.svg metrics.jsonl "
out=$("$A" plot a b --compare --key val_loss -o cmp --label 'mọi token' --label 'token cuối' --log \
  --format png,svg,pdf --title 'So sánh')
expect "comparison files written" "$out" $'cmp.png\ncmp.svg\ncmp.pdf'
expect "PNG magic" "$(head -c 4 cmp.png | tail -c 3)" PNG
expect "PDF magic" "$(head -c 5 cmp.pdf)" %PDF-
expect "SVG title" "$(grep -o '<title>[^<]*</title>' cmp.svg | head -1)" '<title>So sánh</title>'
expect_error "unknown format" "unknown chart format 'gif'" "$A" plot a --format gif
printf '{"step": 0}\n{"step": "x"}\n' > b/metrics.jsonl
expect_error "bad metrics line" 'b/metrics.jsonl:2: "step" is missing or not an integer' "$A" plot b
echo plot-ok
