#!/usr/bin/env python3
"""Read a safetensors file with PyTorch alone (no `safetensors` package), the
way the format specifies it: an 8-byte little-endian header length, a JSON
header, tensors as raw little-endian bytes loaded with torch.frombuffer.

  torch_safetensors.py dump FILE.safetensors
      prints {"__metadata__": {...}, "tensors": {name: {dtype, shape, values}}}
  torch_safetensors.py compare FILE.safetensors FILE.pt
      exits 0 when the .pt (read with torch.load) holds exactly the same
      names, dtypes, shapes and values; prints the first difference otherwise.

The tests use it to prove that PyTorch reads what sortlens writes.
"""
import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = bytearray(raw[8 + n :])
    tensors, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, stop = info["data_offsets"]
        assert begin == end, f"{name}: hole or overlap"
        end = stop
        dt = DTYPES[info["dtype"]]
        count = 1
        for s in info["shape"]:
            count *= s
        size = torch.tensor([], dtype=dt).element_size()
        assert stop - begin == count * size, f"{name}: size"
        if count:
            t = torch.frombuffer(data, dtype=dt, count=count, offset=begin)
        else:
            t = torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(info["shape"]).clone()
    assert end == len(data), "trailing bytes"
    return meta, tensors


def main():
    if sys.argv[1] == "dump":
        meta, tensors = load(sys.argv[2])
        out = {"__metadata__": meta, "tensors": {}}
        for name, t in tensors.items():
            v = t.flatten()
            if t.dtype in (torch.float16, torch.bfloat16):
                v = v.float()
            out["tensors"][name] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": v.tolist()}
        json.dump(out, sys.stdout)
        return 0
    if sys.argv[1] == "compare":
        _, ours = load(sys.argv[2])
        theirs = torch.load(sys.argv[3], map_location="cpu")
        if set(ours) != set(theirs):
            print("names differ:", sorted(set(ours) ^ set(theirs)))
            return 1
        for name, t in theirs.items():
            o = ours[name]
            if o.dtype != t.dtype or o.shape != t.shape or not torch.equal(o, t.contiguous()):
                print(f"{name}: differs ({o.dtype} {list(o.shape)} vs {t.dtype} {list(t.shape)})")
                return 1
        print(f"identical: {len(theirs)} tensors")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
