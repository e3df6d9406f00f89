#!/usr/bin/env bash
# Prompts for `aero generate` from --prompt, --prompt-file, standard input and --batch-file:
# decomposed Vietnamese reaches the model in NFC (stdout starts with the prompt the model got);
# invalid UTF-8 is one error naming the source, the byte and its offset, and exit status 1.
#   generate_prompt.sh AERO MODEL
set -euo pipefail
A=$1; M=$(realpath "$2")
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
G=("$A" generate -m "$M" --max-new 2 --temperature 0)
nfc='Tiếng Việt có dấu'
dec=$'Tie\xcc\x82\xcc\x81ng Vie\xcc\xa3\xcc\x82t co\xcc\x81 da\xcc\x82\xcc\x81u'
starts() { [[ "$(cat "$1")" == "$nfc"* ]] || { echo "$1 does not start with the NFC prompt:"; cat "$1"; exit 1; }; }
"${G[@]}" -p "$dec" > p.out 2> /dev/null; starts p.out
printf '%s\n' "$dec" > dec.txt
"${G[@]}" --prompt-file dec.txt > f.out 2> /dev/null; starts f.out
"${G[@]}" < dec.txt > s.out 2> /dev/null; starts s.out
printf '%s\nline two\n' "$dec" > batch.txt
"${G[@]}" --batch-file batch.txt > b.out 2> /dev/null
grep -q "\"prompt\":\"$nfc\"" b.out || { cat b.out; exit 1; }
echo nfc-ok
printf 'ok\nVi\xeat Nam\n' > latin1.txt  # ê in Latin-1
fails() {  # fails EXPECTED-MESSAGE COMMAND...: exit status 1 and the message on stderr
  local want=$1; shift
  set +e; "$@" > /dev/null 2> err.txt; local rc=$?; set -e
  [[ $rc == 1 ]] && grep -qF -- "$want" err.txt || { echo "rc=$rc, wanted: $want"; cat err.txt; exit 1; }
}
fails 'latin1.txt is not valid UTF-8: byte 0xEA at byte offset 5 (line 2)' "${G[@]}" --prompt-file latin1.txt
fails 'standard input is not valid UTF-8: byte 0xEA at byte offset 5 (line 2)' bash -c "\"\$@\" < latin1.txt" _ "${G[@]}"
fails 'latin1.txt is not valid UTF-8: byte 0xEA at byte offset 5 (line 2)' "${G[@]}" --batch-file latin1.txt
fails '--prompt is not valid UTF-8: byte 0xEA at byte offset 2;' "${G[@]}" -p $'Vi\xeat'
fails 'give one of --prompt, --prompt-file and --batch-file' "${G[@]}" -p x --prompt-file dec.txt
cat err.txt
echo generate-prompt-ok
