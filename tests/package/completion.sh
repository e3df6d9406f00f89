#!/usr/bin/env bash
# The bash completion script printed by `aero completion bash` completes subcommands, nested
# subcommands and options, and leaves option values to file-name completion.
#   completion.sh AERO
set -euo pipefail
script=$(mktemp); trap 'rm -f "$script"' EXIT
"$1" completion bash > "$script"
bash -n "$script"
complete_words() {  # complete_words WORD... : completions of the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _aero; echo "${COMPREPLY[*]}"' \
    _ "$script" "$@"
}
echo "1: $(complete_words aero tok)"
echo "2: $(complete_words aero tokenizer tr)"
echo "3: $(complete_words aero train --con)"
echo "4: $(complete_words aero plot --compare --fo)"
echo "5: [$(complete_words aero train --config '')]"
echo "6: $(complete_words aero comp)"
