#!/usr/bin/env bash
# A rule file extends the default source rules (a news agency tag stripped along with the
# default "TTO - "); a bad regex in it is one clear error with exit 1.
#   data_cli_source_rules_file.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
printf '%s\n' '# agencies' '^.AFP. *' > rules.txt
printf '%s\n' '[AFP] Tin thế giới' 'TTO - Tin trong nước' > in.txt
"$A" data clean -i in.txt -o out.txt --source-rules rules.txt > /dev/null
expect "cleaned lines" "$(cat out.txt)" $'Tin thế giới\nTin trong nước'
printf '(bad\n' > bad.txt
expect_error "bad rule" "bad source rule regex '\(bad'" \
  "$A" data clean -i in.txt -o out2.txt --source-rules bad.txt
echo source-rules-ok
