"""safetensors_raw.py: a safetensors file read by hand for the test scripts
(an 8-byte little-endian header length, the JSON header, then the data),
with no library, so that what sortlens wrote is read independently of it.
Each script turns the bytes into its own arrays (struct, numpy or torch)."""
import json
import struct


def read(path):
    """({name: (dtype, shape, raw bytes)}, the __metadata__ dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], blob[base + a:base + b])
    return tensors, meta
