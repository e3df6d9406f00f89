"""Writes a .safetensors file with struct + json (the safetensors package is not installed).

write_safetensors("x.safetensors", {"w": torch.ones(2, 3)}, {"seed": "1"})
-> 8-byte little-endian header length, JSON header padded with spaces to 8 bytes, raw data.
"""
import json
import struct

import torch

_DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64", torch.float16: "F16",
           torch.bfloat16: "BF16", torch.int8: "I8"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: torch tensor of a supported dtype}; metadata: {str: str}."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
