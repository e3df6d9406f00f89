#!/usr/bin/env python3
"""PEFT's LoRA adapter layout without PEFT (not installable here), from its documented format.

  peft_ref.py write OUT_DIR   an adapter for tests/parity/test_peft.cpp's GPT (2 blocks, n_embd
                              16, ffn 24): adapter_config.json + adapter_model.safetensors with
                              PEFT's key names, and OUT_DIR/delta.safetensors holding
                              scale * B @ A per module (what merging adds to each weight)
  peft_ref.py write-modules OUT_DIR
                              the same adapter with modules_to_save = ["output", "ffn_down"] as
                              PEFT saves them: base_model.model.<module>.weight whole (the head
                              shrunk to 17 of the model's 19 rows, as a table Hugging Face
                              resized to a tokenizer's length); OUT_DIR/modules.safetensors holds
                              the values under the model's parameter names
  peft_ref.py check DIR       reads an adapter aero wrote: checks the config keys and the tensor
                              names, dtypes and shapes PEFT expects, and that DIR/delta.safetensors
                              (written by aero) equals scale * B @ A computed here
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402

PREFIX = "base_model.model."
SHAPES = {"attn_q": (16, 16), "ffn_up": (24, 16)}  # module -> (out, in)
DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DT[e["dtype"]]).reshape(e["shape"])
        out[name] = t.to(torch.float64)
    return out, header


def scale_of(cfg):
    r = cfg["r"]
    return cfg["lora_alpha"] / (r ** 0.5 if cfg.get("use_rslora") else r)


def write(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(3)
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny",
           "r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "target_modules": ["attn_q", "ffn_up"],
           "bias": "none", "fan_in_fan_out": False, "modules_to_save": None,
           "use_rslora": False, "use_dora": False, "inference_mode": True,
           "some_future_key": {"ignored": True}, "init_lora_weights": True}
    tensors, deltas = {}, {}
    for layer in range(2):
        for part, (o, i) in SHAPES.items():
            m = f"blk.{layer}.{part}"
            a = torch.randn(cfg["r"], i) * 0.3
            b = torch.randn(o, cfg["r"]) * 0.3
            tensors[f"{PREFIX}{m}.lora_A.weight"] = a
            tensors[f"{PREFIX}{m}.lora_B.weight"] = b
            deltas[m] = (b.double() @ a.double() * scale_of(cfg)).float()
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors, {"format": "pt"})
    write_safetensors(os.path.join(out, "delta.safetensors"), deltas)
    print(f"wrote a PEFT adapter with {len(tensors)} tensors to {out}")


def write_modules(out):
    write(out)
    with open(os.path.join(out, "adapter_config.json")) as f:
        cfg = json.load(f)
    cfg["modules_to_save"] = ["output", "ffn_down"]
    tensors, _ = read_safetensors(os.path.join(out, "adapter_model.safetensors"))
    tensors = {k: v.float() for k, v in tensors.items()}
    torch.manual_seed(4)
    modules = {"output.weight": torch.randn(17, 16), "blk.1.ffn_down.weight": torch.randn(16, 24)}
    for name, value in modules.items():
        # PEFT's ModulesToSaveWrapper copy, saved with "modules_to_save.default." taken out.
        tensors[PREFIX + name] = value
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors, {"format": "pt"})
    write_safetensors(os.path.join(out, "modules.safetensors"), modules)
    print(f"wrote a PEFT adapter with modules_to_save {cfg['modules_to_save']} to {out}")


def check(d):
    with open(os.path.join(d, "adapter_config.json")) as f:
        cfg = json.load(f)
    for key, want in [("peft_type", "LORA"), ("bias", "none"), ("fan_in_fan_out", False)]:
        assert cfg[key] == want, f"adapter_config.json: {key} = {cfg[key]!r}, PEFT wants {want!r}"
    for key in ["r", "lora_alpha", "lora_dropout", "target_modules", "task_type",
                "base_model_name_or_path", "use_rslora"]:
        assert key in cfg, f"adapter_config.json has no {key}"
    tensors, header = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    deltas, _ = read_safetensors(os.path.join(d, "delta.safetensors"))
    r, scale, seen = cfg["r"], scale_of(cfg), 0
    for m, want in deltas.items():
        a = tensors[f"{PREFIX}{m}.lora_A.weight"]
        b = tensors[f"{PREFIX}{m}.lora_B.weight"]
        assert a.shape[0] == r and b.shape[1] == r, f"{m}: A {tuple(a.shape)}, B {tuple(b.shape)}"
        assert b.shape[0] == want.shape[0] and a.shape[1] == want.shape[1], m
        err = (b @ a * scale - want).abs().max().item()
        assert err < 1e-5, f"{m}: |scale B A - aero's merge delta| = {err}"
        seen += 2
    assert seen == len(tensors), f"{len(tensors) - seen} tensors aero wrote that PEFT would not load"
    print(f"PEFT layout ok: {seen} tensors, r {r}, scale {scale}, "
          f"targets {cfg['target_modules']}")


if __name__ == "__main__":
    {"write": write, "write-modules": write_modules, "check": check}[sys.argv[1]](sys.argv[2])
