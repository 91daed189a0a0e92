#!/usr/bin/env python3
"""overflow_model.py IN.safetensors OUT.safetensors: a copy of a model whose
weights are all finite but whose forward overflows: W_U times 1e37, so that
the logits pass 3.4e38 (Inf in float32) and the softmax gives NaN.  Plain
Python (json, array): the safetensors layout is an 8-byte little-endian
header length, the JSON header, then the tensors' bytes."""
import array
import json
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    blob = f.read()
(hlen,) = struct.unpack("<Q", blob[:8])
header = json.loads(blob[8:8 + hlen])
data = bytearray(blob[8 + hlen:])
info = header["unembed.W_U"]
assert info["dtype"] == "F32", info
begin, end = info["data_offsets"]
w = array.array("f")
w.frombytes(bytes(data[begin:end]))
if sys.byteorder != "little":
    w.byteswap()
for i in range(len(w)):
    w[i] = w[i] * 1e37
assert all(abs(x) < 3e38 for x in w), "the weights must stay finite"
if sys.byteorder != "little":
    w.byteswap()
data[begin:end] = w.tobytes()
with open(dst, "wb") as f:
    f.write(blob[:8 + hlen])
    f.write(data)
