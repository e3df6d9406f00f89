#!/usr/bin/env bash
# Installs llama.cpp for the GGUF tests: the npm package node-llama-cpp with its prebuilt Linux
# x64 library (CPU), about 85 MB, into $AERO_NODE_LLAMA_CPP (default ~/.cache/aero/node-llama-cpp).
# Idempotent. tests/formats.cmake's formats.llama_cpp_* tests run llama.cpp on aero's exports
# when it is there and are skipped otherwise.
set -euo pipefail
DIR=${AERO_NODE_LLAMA_CPP:-$HOME/.cache/aero/node-llama-cpp}
VERSION=3.22.1
if [[ -f "$DIR/node_modules/node-llama-cpp/package.json" ]] &&
   grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/node-llama-cpp/package.json"; then
  exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "aero: installing Debian packages: nodejs npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  install() { $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
  install || { $SUDO apt-get update -qq && install; }
fi
mkdir -p "$DIR"
echo "aero: installing node-llama-cpp $VERSION (llama.cpp, CPU build) into $DIR" >&2
# --ignore-scripts: the package's postinstall would try to build or download llama.cpp; the
# prebuilt library comes in @node-llama-cpp/linux-x64 instead.
npm install --prefix "$DIR" --no-audit --no-fund --ignore-scripts --omit=optional --loglevel=error \
  "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >/dev/null
