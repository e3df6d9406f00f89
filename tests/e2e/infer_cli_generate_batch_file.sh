#!/usr/bin/env bash
# generate --batch-file: one JSON line per prompt in input order, and greedy batched text equals
# the text of the same prompt generated alone; --context stop ends a long generation.
#   infer_cli_generate_batch_file.sh AERO [PYTHON]
set -euo pipefail
A=$(realpath "$1"); PY=${2:-/usr/bin/python3}; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_infer.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
infer_setup
printf 'line 12: the\nline 3\n\nline 250: the quick brown\n' > prompts.txt
"$A" generate -m run --batch-file prompts.txt --max-new 24 --temperature 0 --threads 2 > out.jsonl
cat out.jsonl
expect "lines in out.jsonl" "$(wc -l < out.jsonl)" 4
"$A" generate -m run -p 'line 250: the quick brown' --max-new 24 --temperature 0 > one.txt 2> one.err
"$PY" - <<'PY'
import json
rows = [json.loads(l) for l in open('out.jsonl')]
assert [r['prompt'] for r in rows] == ['line 12: the', 'line 3', '', 'line 250: the quick brown'], rows
assert all(r['finish'] == 'length' and r['tokens'] == 24 for r in rows), rows
alone = open('one.txt').read()
assert alone == rows[3]['prompt'] + rows[3]['text'] + '\n', (alone, rows[3])
print('batch-file-ok')
PY
"$A" generate -m run -p 'line 1' --max-new 200 --context stop --ignore-eos --temperature 0 2>&1 > /dev/null |
  has "--context stop" 'finished by context'
echo batch-file-context-ok
