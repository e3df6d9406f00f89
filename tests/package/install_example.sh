#!/usr/bin/env bash
# cmake --install into a temporary prefix, then what a user of the installed aero does: the
# program finds its web page and configs there, and examples/ builds against the installed CMake
# package (find_package(aero), aero::aero) and generates text from a model the installed aero
# trains; and a second example trains through the API.
#   install_example.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1; build=$2
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
cmake --install "$build" --prefix "$d/prefix" > "$d/install.log"
cd "$d/prefix"
for f in bin/aero lib/libaero_core.a lib/libaero_api.a include/aero/aero.h lib/cmake/aero/aeroConfig.cmake \
         lib/cmake/aero/aeroTargets.cmake share/aero/web/index.html share/aero/configs/seed-tiny.json \
         share/bash-completion/completions/aero; do
  test -e "$f" || { echo "not installed: $f"; exit 1; }
done
echo "installed: $(find . -type f | wc -l) files"
# No internal header is installed: the public API stands alone.
test "$(find include -name '*.h' | grep -v '^include/aero/' | wc -l)" = 0
A=$d/prefix/bin/aero
$A --version
$A serve --help | grep -q -- "--web TEXT=$d/prefix/share/aero/web" && echo "web page: installed copy"
$A train --config seed-tiny --help-config > /dev/null
bash "$src/tests/package/tiny_model.sh" "$A" "$d/model" > /dev/null

cmake -S "$src/examples" -B "$d/example" -G Ninja -DCMAKE_PREFIX_PATH="$d/prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$d/configure.log" || { cat "$d/configure.log"; exit 1; }
cmake --build "$d/example" > "$d/build.log" || { cat "$d/build.log"; exit 1; }
"$d/example/aero_example" "$d/model/run" "the fox" 30
cd "$d/model" && "$d/example/aero_train_example" c.json train.out_dir=api-run train.max_steps=30 2> /dev/null
