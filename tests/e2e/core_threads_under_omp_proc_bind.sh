#!/usr/bin/env bash
# Under OMP_PROC_BIND libgomp binds the main thread to one CPU as it loads, before main(); aero
# must still count every CPU the process may use (`aero doctor --json` reports the same threads).
#   core_threads_under_omp_proc_bind.sh AERO
set -euo pipefail
A=$1; here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
threads() { sed -n 's/^  "threads": \([0-9]*\),*$/\1/p'; }
plain=$("$A" doctor --json --no-measure | threads)
bound=$(OMP_PROC_BIND=true "$A" doctor --json --no-measure | threads)
echo "threads: $plain, with OMP_PROC_BIND=true: $bound"
[[ -n $plain ]] || fail "aero doctor --json printed no \"threads\""
expect "threads with OMP_PROC_BIND=true" "$bound" "$plain"
echo threads-ok
