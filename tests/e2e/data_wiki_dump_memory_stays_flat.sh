#!/usr/bin/env bash
# Streaming: a 250 MB Wikipedia XML dump cleans in under 48 MB of resident memory.
#   data_wiki_dump_memory_stays_flat.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
body=$(printf 'Hà Nội là thủ đô của Việt Nam, [[sông Hồng|sông]] {{tmpl|x}} %.0s' {1..60})
{ echo '<mediawiki>'
  { yes "<page><title>T</title><ns>0</ns><revision><text>$body</text></revision></page>" || true; } |
    head -n 60000  # yes ends by SIGPIPE
  echo '</mediawiki>'; } > dump.xml
(( $(stat -c %s dump.xml) > 250000000 )) || fail "dump.xml is only $(stat -c %s dump.xml) bytes"
/usr/bin/time -f 'rss_kb=%M' "$A" data clean -i dump.xml -o out.txt --threads 1 2> time.txt > /dev/null ||
  { cat time.txt; fail "aero data clean failed"; }
rss=$(sed -n 's/^rss_kb=//p' time.txt)
echo "rss_kb=$rss"
(( rss < 49152 )) || fail "peak RSS $rss kB, want under 49152 kB"
echo memory-flat
