#!/usr/bin/env python3
"""Make small PyTorch files that exercise the .pt reader beyond plain
contiguous float tensors, and the contiguous values PyTorch itself sees.

Needs only Debian's python3-torch.  Writes under tests/data/pt/:

  views.pt   torch.save of an OrderedDict whose tensors are views and other
             dtypes, exactly as PyTorch stores them (one storage per base
             tensor, views as offset/size/stride):
               transposed   F32 [3,2]   arange(6).reshape(2,3).t()  (stride (1,3))
               sliced       F32 [4]     arange(10)[3:7]             (offset 3)
               strided      F32 [2,2]   arange(16).reshape(4,4)[::2, 1::2]
               shared_a     F32 [2,3]   and shared_b, a view of the same storage
               shared_b     F32 [3]     shared_a's storage, second row
               f64 F64 [3], f16 F16 [3], bf16 BF16 [3], i64 I64 [3], i32 I32 [3],
               i16 I16 [3], i8 I8 [3], u8 U8 [3], flag BOOL [4], scalar F32 []
               empty        F32 [0, 5]
  views_expected.safetensors  the same tensors made contiguous, written by
             hand in the safetensors layout (8-byte length, JSON, raw bytes)
  deflated.pt  views.pt re-zipped with every entry deflate-compressed
  torchscript.pt  torch.jit.save of a tiny scripted module (holds constants.pkl)
  legacy.pt  torch.save(..., _use_new_zipfile_serialization=False): the
             pre-1.6 format, not a ZIP
  parameters.pt  torch.save(module.state_dict(keep_vars=True)): parameters
             pickled through torch._utils._rebuild_parameter (one frozen),
             next to a buffer; parameters_expected.safetensors holds the values
  views_proto4.pt, views_proto5.pt, parameters_proto4.pt  the same state
             dicts saved with torch.save(..., pickle_protocol=4 or 5): FRAME,
             SHORT_BINUNICODE, MEMOIZE and STACK_GLOBAL instead of protocol 2's
             opcodes (the expected values are the files above)

Usage: /usr/bin/python3 tests/data/make_pt_cases.py
"""
import collections
import json
import os
import struct
import zipfile

import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pt")
NAMES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def cases():
    sd = collections.OrderedDict()
    sd["transposed"] = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    sd["sliced"] = torch.arange(10, dtype=torch.float32)[3:7]
    sd["strided"] = torch.arange(16, dtype=torch.float32).reshape(4, 4)[::2, 1::2]
    base = torch.tensor([[1.5, -2.0, 3.25], [4.0, -5.5, 6.0]])
    sd["shared_a"] = base
    sd["shared_b"] = base[1]
    sd["f64"] = torch.tensor([1.0 / 3.0, -2.5, 1e100], dtype=torch.float64)
    sd["f16"] = torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.5, -2.0, 3.0e38], dtype=torch.bfloat16)
    sd["i64"] = torch.tensor([-(2**40), 0, 2**62], dtype=torch.int64)
    sd["i32"] = torch.tensor([-(2**31), 7, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 1, 32767], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    sd["flag"] = torch.tensor([True, False, True, True])
    sd["scalar"] = torch.tensor(-1e5)
    sd["empty"] = torch.zeros(0, 5)
    return sd


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))

    def forward(self, x):
        return x * self.w


class WithBuffer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4)
        self.b = torch.nn.Parameter(torch.tensor([-1.5, 2.25]), requires_grad=False)
        self.register_buffer("mask", torch.tril(torch.ones(3, 3)))


def parameters():
    """The keep_vars=True case alone: `python3 -c 'import make_pt_cases as m; m.parameters()'`."""
    os.makedirs(HERE, exist_ok=True)
    sd = WithBuffer().state_dict(keep_vars=True)
    torch.save(sd, os.path.join(HERE, "parameters.pt"))
    write_safetensors(os.path.join(HERE, "parameters_expected.safetensors"),
                      collections.OrderedDict((k, v.detach()) for k, v in sd.items()))
    back = torch.load(os.path.join(HERE, "parameters.pt"))
    assert all(torch.equal(back[k], sd[k]) for k in sd)


def protocols():
    """Pickle protocols 4 and 5: `python3 -c 'import make_pt_cases as m; m.protocols()'`."""
    os.makedirs(HERE, exist_ok=True)
    sd = cases()
    for proto in (4, 5):
        path = os.path.join(HERE, "views_proto%d.pt" % proto)
        torch.save(sd, path, pickle_protocol=proto)
        back = torch.load(path)
        assert all(torch.equal(back[k], sd[k]) for k in sd), path
    torch.manual_seed(0)
    params = WithBuffer().state_dict(keep_vars=True)
    path = os.path.join(HERE, "parameters_proto4.pt")
    torch.save(params, path, pickle_protocol=4)
    back = torch.load(path)
    assert all(torch.equal(back[k], params[k]) for k in params)


def main():
    os.makedirs(HERE, exist_ok=True)
    parameters()
    protocols()
    sd = cases()
    torch.save(sd, os.path.join(HERE, "views.pt"))
    write_safetensors(os.path.join(HERE, "views_expected.safetensors"), sd)
    with zipfile.ZipFile(os.path.join(HERE, "views.pt")) as src, zipfile.ZipFile(
        os.path.join(HERE, "deflated.pt"), "w", compression=zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            dst.writestr(info.filename.replace("views/", "deflated/", 1), src.read(info.filename))
    torch.jit.save(torch.jit.script(Tiny()), os.path.join(HERE, "torchscript.pt"))
    torch.save(collections.OrderedDict(w=torch.ones(2)), os.path.join(HERE, "legacy.pt"),
               _use_new_zipfile_serialization=False)
    # PyTorch reads back what it wrote (the re-zipped copy too).
    for name in ("views.pt", "deflated.pt"):
        back = torch.load(os.path.join(HERE, name))
        assert all(torch.equal(back[k], sd[k]) for k in sd), name


if __name__ == "__main__":
    main()
