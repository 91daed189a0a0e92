#!/usr/bin/python3
"""Writes the fuzzers' seed corpora under tests/fuzz/corpus/: small valid and
near-valid PyTorch checkpoints (made by torch.save with Debian's
python3-torch), safetensors files (written here byte by byte), and typed
lists.  Every model is a tiny random attention-only transformer with
TransformerLens parameter names; none is derived from any other checkpoint.

Usage: /usr/bin/python3 tests/fuzz/make_corpus.py [CORPUS_DIR]
The output is deterministic (fixed seeds), so re-running it rewrites the same
files, except seed-legacy-format.pt and seed-torchscript.pt, whose bytes vary
from run to run and which are kept once written.  Inputs found by fuzzing
(named crash-* or found-*) are left alone.
"""
import io
import json
import os
import struct
import sys
import zipfile

import torch


class Attention(torch.nn.Module):
    def __init__(self, H, D, E, T, g, biases, buffers):
        super().__init__()
        P = torch.nn.Parameter
        self.W_Q = P(torch.randn(H, D, E, generator=g))
        self.W_K = P(torch.randn(H, D, E, generator=g))
        self.W_V = P(torch.randn(H, D, E, generator=g))
        self.W_O = P(torch.randn(H, E, D, generator=g))
        if biases:
            self.b_Q = P(torch.randn(H, E, generator=g))
            self.b_K = P(torch.randn(H, E, generator=g))
            self.b_V = P(torch.randn(H, E, generator=g))
            self.b_O = P(torch.randn(D, generator=g))
        if buffers:
            self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))
            self.register_buffer("IGNORE", torch.tensor(-1e5))


class Block(torch.nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.attn = Attention(*args)


class Embed(torch.nn.Module):
    def __init__(self, V, D, g):
        super().__init__()
        self.W_E = torch.nn.Parameter(torch.randn(V, D, generator=g))


class PosEmbed(torch.nn.Module):
    def __init__(self, T, D, g):
        super().__init__()
        self.W_pos = torch.nn.Parameter(torch.randn(T, D, generator=g))


class Unembed(torch.nn.Module):
    def __init__(self, D, Vo, g, biases):
        super().__init__()
        self.W_U = torch.nn.Parameter(torch.randn(D, Vo, generator=g))
        if biases:
            self.b_U = torch.nn.Parameter(torch.randn(Vo, generator=g))


class TinySorter(torch.nn.Module):
    """The module layout of a TransformerLens HookedTransformer with
    attn_only=True and no layernorm, which fixes the state_dict names."""

    def __init__(self, L=1, H=1, D=4, E=2, n=2, Vo=5, seed=0, biases=True, buffers=True):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        T = 2 * n + 2
        self.embed = Embed(Vo + 2, D, g)
        self.pos_embed = PosEmbed(T, D, g)
        self.blocks = torch.nn.ModuleList(
            [Block(H, D, E, T, g, biases, buffers) for _ in range(L)])
        self.unembed = Unembed(D, Vo, g, biases)


def state_dict(dtype=torch.float32, **kw):
    return TinySorter(**kw).to(dtype).state_dict()


def torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def rezip(data, edit):
    """Rewrites a ZIP: edit(name, bytes) returns new bytes, or None to drop."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = edit(info.filename, src.read(info.filename))
            if body is not None:
                zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                dst.writestr(zi, body)
    return out.getvalue()


def raw_zip(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, body in entries:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body)
    return out.getvalue()


def pt_seeds():
    s = {}
    s["l1h1-f32"] = torch_bytes(state_dict(seed=1))
    s["l2h2-f32-nobuffers"] = torch_bytes(state_dict(L=2, H=2, D=6, E=3, n=3, Vo=7, seed=2, buffers=False))
    s["l1h2-f16-nobiases"] = torch_bytes(state_dict(torch.float16, H=2, seed=3, biases=False))
    s["l1h1-bf16"] = torch_bytes(state_dict(torch.bfloat16, seed=4))
    s["l1h1-f64"] = torch_bytes(state_dict(torch.float64, D=3, E=3, n=1, Vo=3, seed=5))
    s["l3h1-f32-nobiases-nobuffers"] = torch_bytes(state_dict(L=3, D=2, E=1, n=1, Vo=2, seed=6, biases=False, buffers=False))
    # a plain dict instead of the module's OrderedDict (no _metadata)
    s["plain-dict"] = torch_bytes(dict(state_dict(seed=7)))
    # views: W_U stored transposed (strides (1, D)); Q, K and V slices of
    # one storage (storage offsets); b_O a strided view
    g = torch.Generator().manual_seed(8)
    sd = state_dict(seed=8)
    qkv = torch.randn(3, 1, 4, 2, generator=g)
    sd["blocks.0.attn.W_Q"], sd["blocks.0.attn.W_K"], sd["blocks.0.attn.W_V"] = qkv[0], qkv[1], qkv[2]
    sd["unembed.W_U"] = torch.randn(5, 4, generator=g).t()
    sd["blocks.0.attn.b_O"] = torch.randn(8, generator=g)[::2]
    s["views-shared-storage"] = torch_bytes(sd)
    # saved from a CUDA machine: location 'cuda:0'
    s["location-cuda"] = rezip(s["l1h1-f32"], lambda n, b: b.replace(
        b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0") if n.endswith("data.pkl") else b)
    # pickle protocols 4 and 5 (accepted: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL)
    s["protocol4"] = torch_bytes(state_dict(seed=9), pickle_protocol=4)
    s["protocol5"] = torch_bytes(state_dict(L=2, H=2, D=6, E=3, n=3, Vo=7, seed=10), pickle_protocol=5)
    # refused: the legacy (pre-1.6, not ZIP) format.  Its storage keys are
    # object ids, so it differs between runs; main() keeps it once written.
    s["legacy-format"] = torch_bytes(state_dict(seed=10), _use_new_zipfile_serialization=False)
    # refused: TorchScript
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buf)
    s["torchscript"] = buf.getvalue()
    # refused: a pickle that would run a command if torch.load executed it
    evil = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    s["global-posix-system"] = raw_zip([("archive/data.pkl", evil), ("archive/version", b"3\n")])
    # refused: a storage entry missing, a short storage, truncation, NaN, an unknown tensor
    s["missing-storage"] = rezip(s["l1h1-f32"], lambda n, b: None if n.endswith("/data/0") else b)
    s["short-storage"] = rezip(s["l1h1-f32"], lambda n, b: b[:-4] if n.endswith("/data/1") else b)
    s["truncated"] = s["l1h1-f32"][: len(s["l1h1-f32"]) * 2 // 3]
    sd = state_dict(seed=11)
    sd["embed.W_E"][1, 2] = float("nan")
    s["nan-weight"] = torch_bytes(sd)
    sd = state_dict(seed=12)
    sd["ln_final.w"] = torch.ones(4)
    s["unknown-tensor"] = torch_bytes(sd)
    sd = state_dict(seed=13)
    sd["embed.W_E"] = torch.randn(9, 4)
    s["wrong-vocab"] = torch_bytes(sd)
    return {k + ".pt": v for k, v in s.items()}


# ---- safetensors ---------------------------------------------------------

ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
             torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def tensor_bytes(t):
    t = t.contiguous().reshape(-1)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def safetensors_bytes(tensors, metadata=None, header_edit=None, pad=True):
    """tensors: list of (name, tensor); header_edit may change the header
    dict (or return a raw header string) before it is written."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if header_edit:
        header = header_edit(header) or header
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    raw = text.encode("utf-8")
    if pad:
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(blobs)


def config_meta(L, H, D, E, n, Vo):
    return {"n_layers": str(L), "n_heads": str(H), "d_model": str(D), "d_head": str(E),
            "n_ctx": str(2 * n + 2), "d_vocab": str(Vo + 2), "d_vocab_out": str(Vo),
            "list_len": str(n), "format": "sortlens"}


def st_model(dtype=torch.float32, meta=True, **kw):
    cfg = dict(L=1, H=1, D=4, E=2, n=2, Vo=5)
    cfg.update({k: v for k, v in kw.items() if k in cfg})
    sd = state_dict(dtype, **kw)
    return list(sd.items()), (config_meta(**cfg) if meta else None)


def st_seeds():
    s = {}
    t, m = st_model(seed=21)
    s["l1h1-f32"] = safetensors_bytes(t, m)
    t, m = st_model(torch.float16, meta=False, L=2, H=2, D=6, E=3, n=3, Vo=7, seed=22, buffers=False)
    s["l2h2-f16-nometa"] = safetensors_bytes(t, m)
    t, m = st_model(torch.bfloat16, seed=23, biases=False)
    s["l1h1-bf16-nobiases"] = safetensors_bytes(t, m, pad=False)
    t, m = st_model(torch.float64, D=3, E=3, n=1, Vo=3, seed=24)
    s["l1h1-f64"] = safetensors_bytes(t, m)
    # every dtype, a scalar and an empty tensor (a valid file, not a model)
    g = torch.Generator().manual_seed(25)
    every = [(ST_DTYPES[d].lower(), (torch.randn(2, 3, generator=g) * 50).to(d)) for d in ST_DTYPES]
    every += [("scalar", torch.tensor(1.5)), ("empty", torch.zeros(0, 3))]
    s["every-dtype"] = safetensors_bytes(every, {"note": "not a model"})
    s["empty-header"] = safetensors_bytes([], None)
    # near-valid: each breaks one rule
    t, m = st_model(seed=26)
    good = safetensors_bytes(t, m)
    s["trailing-bytes"] = good + b"\0\0\0\0"
    s["truncated"] = good[:-3]
    s["header-too-long"] = struct.pack("<Q", len(good)) + good[8:]

    def edit(fn):
        def f(h):
            fn(h)
            return h
        return f
    s["overlap"] = safetensors_bytes(t, m, edit(lambda h: h["pos_embed.W_pos"].update(
        data_offsets=[h["pos_embed.W_pos"]["data_offsets"][0] - 4, h["pos_embed.W_pos"]["data_offsets"][1] - 4])))
    s["bad-dtype"] = safetensors_bytes(t, m, edit(lambda h: h["embed.W_E"].update(dtype="F8")))
    s["shape-mismatch"] = safetensors_bytes(t, m, edit(lambda h: h["embed.W_E"].update(shape=[7, 5])))
    s["metadata-not-string"] = safetensors_bytes(t, m, edit(lambda h: h["__metadata__"].update(n_layers=1)))
    s["huge-shape"] = safetensors_bytes(t, m, edit(lambda h: h["embed.W_E"].update(
        shape=[4294967296, 4294967296, 4])))
    s["negative-offset"] = safetensors_bytes(t, m, edit(lambda h: h["embed.W_E"].update(data_offsets=[-4, 0])))

    def dup(h):
        text = json.dumps(h, separators=(",", ":"))
        first = '"unembed.b_U":' + json.dumps(h["unembed.b_U"], separators=(",", ":"))
        return text[:-1] + "," + first + "}"
    s["duplicate-key"] = safetensors_bytes(t, m, dup)
    s["header-not-object"] = safetensors_bytes([], None, lambda h: "[]")
    s["header-not-utf8"] = struct.pack("<Q", 8) + b'{"\xff":1}'[:8]
    s["short"] = b"\x08\0\0\0\0\0\0"
    sd = state_dict(seed=27)
    sd["embed.W_E"][0, 0] = float("inf")
    s["inf-weight"] = safetensors_bytes(list(sd.items()), None)
    sd = state_dict(seed=28)
    sd["blocks.0.ln1.w"] = torch.ones(4)
    s["unknown-tensor"] = safetensors_bytes(list(sd.items()), None)
    sd = state_dict(seed=29)
    sd["embed.W_E"] = torch.randn(9, 4)
    s["wrong-vocab"] = safetensors_bytes(list(sd.items()), None)
    return {k + ".safetensors": v for k, v in s.items()}


def list_seeds():
    lines = {
        "spaces": "5 3 9 0 49 12 12 7 1 2",
        "commas": "5,3,9,0,49,12,12,7,1,2",
        "brackets": "[5, 3, 9, 0, 49, 12, 12, 7, 1, 2]\n",
        "tabs-crlf": "\t5\t3 9,0  49 12,12 7 1 2\r\n",
        "leading-zeros": "05 003 9 0 49 12 12 7 1 2",
        "too-few": "1 2 3",
        "too-many": "1 2 3 4 5 6 7 8 9 10 11",
        "out-of-range": "1 2 3 4 5 6 7 8 9 50",
        "huge": "1 2 3 4 5 6 7 8 9 99999999999999999999",
        "negative": "1 2 -3 4 5 6 7 8 9 1",
        "decimal": "1 2 3.5 4 5 6 7 8 9 1",
        "letter": "1 2 x 4 5 6 7 8 9 1",
        "unclosed": "[1 2 3 4 5 6 7 8 9 1",
        "unopened": "1 2 3 4 5 6 7 8 9 1]",
        "after-bracket": "[1 2 3 4 5 6 7 8 9 1] 2",
        "empty": "",
        "utf8": "1 2 3 4 5 6 7 8 9 \u00b9",
        "invalid-utf8": "1 2 3 \xff\xfe",
    }
    return {k + ".txt": v.encode("utf-8", "surrogateescape") if k != "invalid-utf8"
            else b"1 2 3 \xff\xfe" for k, v in lines.items()}


KEEP = {"legacy-format.pt", "torchscript.pt"}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    torch.manual_seed(0)
    for sub, files in (("pt", pt_seeds()), ("safetensors", st_seeds()), ("list", list_seeds())):
        d = os.path.join(root, sub)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old.startswith("seed-") and old[5:] not in KEEP:
                os.remove(os.path.join(d, old))
        for name, data in files.items():
            path = os.path.join(d, "seed-" + name)
            if name in KEEP and os.path.exists(path):
                continue
            with open(path, "wb") as f:
                f.write(data)
        print(f"{d}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
