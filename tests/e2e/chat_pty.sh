#!/usr/bin/env bash
# `aero chat` and `aero generate` typed at a real pseudo-terminal in the C locale (LC_ALL=C, and
# no locale variable at all) and in a UTF-8 one: every tone mark on every vowel plus đ/Đ, edited
# with backspace, arrows and history recall, and combining marks; the model must receive exactly
# the intended text in NFC.
#   chat_pty.sh AERO MODEL [PYTHON]
set -euo pipefail
A=$1; M=$(realpath "$2"); PY=${3:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
for loc in C none C.UTF-8; do "$PY" "$here/pty_drive.py" "$A" "$M" "$d" "$loc"; done
echo chat-pty-ok
