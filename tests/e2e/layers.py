#!/usr/bin/env python3
"""Every #include under src/<layer>/ names its own layer or one below it (CMakeLists.txt's
AERO_LAYERS table, passed as arguments "layer:dep dep"), so dependencies flow one way.
Usage: layers.py SRC_DIR 'core:' 'kernels:core' ..."""
import os
import re
import sys

src, rows = sys.argv[1], sys.argv[2:]
deps = {}
for row in rows:
    layer, _, below = row.partition(":")
    deps[layer] = below.split()


def closure(layer, seen=None):
    seen = set() if seen is None else seen
    for d in deps[layer]:
        if d not in seen:
            seen.add(d)
            closure(d, seen)
    return seen


bad = []
for layer in deps:
    allowed = closure(layer) | {layer}
    root = os.path.join(src, layer)
    files = sorted(os.path.relpath(os.path.join(d, f), root)
                   for d, _, fs in os.walk(root) for f in fs)
    for name in files:
        path = os.path.join(root, name)
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            m = re.match(r'#include "([a-z_]+)/', line)
            # aero/ is the public API (include/aero/), which src/api implements.
            if m and m.group(1) not in allowed and m.group(1) != "aero":
                bad.append(f"{layer}/{name}:{n}: includes {m.group(1)}/ (allowed: {' '.join(sorted(allowed))})")
for b in bad:
    print(b)
print(f"{len(deps)} layers, {len(bad)} upward includes")
sys.exit(1 if bad else 0)
