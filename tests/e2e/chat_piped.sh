#!/usr/bin/env bash
# `aero chat` from a pipe: commands, history and the prompt each turn sends, checked by content.
# The replies must be what `aero generate` gives for the same prompts (greedy), so the chat's
# output is exactly reply, "[system prompt set]", "[history cleared]", reply.
#   chat_piped.sh AERO MODEL [PYTHON]      (run where MODEL's relative paths hold)
set -euo pipefail
A=$1; M=$2; PY=${3:-/usr/bin/python3}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
printf 'line 5: the quick\n/system You are a fox.\n/reset\nline 9\n/quit\nnever read\n' |
  "$A" chat -m "$M" --max-new 12 --temperature 0 --prompt-log "$d/log.jsonl" > "$d/chat.txt"
cat "$d/chat.txt"
p1=$'User: line 5: the quick\nAssistant:'
p2=$'You are a fox.\nUser: line 9\nAssistant:'
"$A" generate -m "$M" -p "$p1" --max-new 12 --temperature 0 --stop $'\nUser:' > "$d/g1.txt" 2> /dev/null
"$A" generate -m "$M" -p "$p2" --max-new 12 --temperature 0 --stop $'\nUser:' > "$d/g2.txt" 2> /dev/null
# Decomposed Vietnamese from a pipe reaches the model in NFC; invalid UTF-8 names its line and
# byte and ends the chat with an error.
printf 'Xin cha\xcc\x80o, ba\xcc\xa3n\n' | "$A" chat -m "$M" --max-new 2 --prompt-log "$d/vi.jsonl" > /dev/null
set +e
printf 'ok\nVi\xeat\n' | "$A" chat -m "$M" --max-new 2 > /dev/null 2> "$d/bad.err"
rc=$?
set -e
cat "$d/bad.err"
[[ $rc == 1 ]] || { echo "invalid UTF-8 ended the chat with $rc"; exit 1; }
cd "$d"
P1="$p1" P2="$p2" "$PY" - <<'PY'
import json, os
log = [json.loads(l) for l in open("log.jsonl", encoding="utf-8")]
assert [e["message"] for e in log] == ["line 5: the quick", "line 9"], log
assert log[0]["prompt"] == os.environ["P1"], log[0]
assert log[1]["prompt"] == os.environ["P2"], log[1]  # the system prompt, and no history
def reply(path, prompt):
    out = open(path, encoding="utf-8").read()
    assert out.startswith(prompt) and out.endswith("\n"), out
    return out[len(prompt):-1].lstrip(" ")
r1, r2 = reply("g1.txt", os.environ["P1"]), reply("g2.txt", os.environ["P2"])
chat = open("chat.txt", encoding="utf-8").read()
want = f"{r1}\n[system prompt set]\n[history cleared]\n{r2}\n"
assert chat == want, (chat, want)
vi = [json.loads(l)["message"] for l in open("vi.jsonl", encoding="utf-8")]
assert vi == ["Xin chào, bạn"], vi
print("chat-piped-content-ok")
PY
grep -q 'standard input line 2 is not valid UTF-8: byte 0xEA at byte offset 2' "$d/bad.err"
echo chat-piped-ok
