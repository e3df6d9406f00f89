# shellcheck shell=bash
# Checks shared by the end-to-end scripts (sourced): each failure names what was checked, what
# came and what was wanted, and exits 1.
fail() { echo "FAIL $*"; exit 1; }
expect() {  # WHAT GOT WANT: equal strings
  [[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
  echo "ok $1"
}
has() {  # WHAT ERE < TEXT: some line of the standard input matches ERE (all of it is read)
  local text; text=$(cat)
  local line; line=$(grep -Em1 -- "$2" <<< "$text") || fail "$1: no line matches /$2/ in:"$'\n'"$text"
  echo "ok $1: $line"
}
expect_error() {  # WHAT ERE CMD...: CMD exits 1 and its output (stdout and stderr) matches ERE
  local what=$1 ere=$2 rc=0 out; shift 2
  out=$("$@" 2>&1) || rc=$?
  [[ $rc == 1 ]] || fail "$what: '$*' exited $rc, want 1; it printed:"$'\n'"$out"
  has "$what" "$ere" <<< "$out"
}
