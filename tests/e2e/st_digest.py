#!/usr/bin/env python3
"""SHA-256 of the tensors of a safetensors file (names, dtypes, shapes and bytes, in name order),
ignoring its metadata: equal digests mean bit-identical weights whatever wrote the file.
Usage: st_digest.py FILE"""
import hashlib
import json
import struct
import sys

with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
h = hashlib.sha256()
for name in sorted(k for k in header if k != "__metadata__"):
    e = header[name]
    b, end = e["data_offsets"]
    h.update(f"{name} {e['dtype']} {e['shape']}\n".encode())
    h.update(data[b:end])
print(h.hexdigest())
