#!/usr/bin/env bash
# CSV in, CSV out: each column cleaned on its own (source tag, spaces, emoji), rows with an
# emptied field or a duplicate dropped, quotes and embedded newlines kept valid CSV.
#   data_cli_clean_csv.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
printf 'id,input_text,target_text\n1,"(Dân trí) - Phim   hay 😍","Cảm ơn, ""bạn"""\n2,Phim hay,"Cảm ơn, ""bạn"""\n3,😍😍,ok\n4,"một\nhai",Vâng ạ\n5,,x\n' > p.csv
"$A" data clean -i p.csv -o out.csv | has "clean summary" '4 in|5 in'
printf 'input_text,target_text\nPhim hay,"Cảm ơn, ""bạn"""\n"một\nhai",Vâng ạ\n' > want.csv
diff -u want.csv out.csv || fail "out.csv differs from the expected rows (diff above)"
echo clean-csv-ok
