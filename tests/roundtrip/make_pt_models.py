#!/usr/bin/python3
"""Writes random valid PyTorch checkpoints for the .pt round trip, each with
the values the loader must produce, in a form that needs no pickle reader.

Usage: /usr/bin/python3 make_pt_models.py OUT_DIR COUNT SEED

For model K it writes, with Debian's python3-torch:
  model-K.pt    torch.save(state_dict) of a random attention-only model with
                TransformerLens names: random L, H, D, E, n, d_vocab_out;
                float32, float64, float16 or bfloat16; biases and buffers
                present or absent; sometimes the module's OrderedDict (with
                _metadata), sometimes a plain dict; sometimes views (a
                transposed W_U, Q/K/V slices of one storage, a strided b_O);
                some special values (-0.0, subnormals, large magnitudes).
  model-K.f32   every parameter as little-endian float32, in manifest order
                (torch's own conversion of the stored values to float32)
  model-K.json  {"config": {...}, "dtype": ..., "tensors": [{"name", "shape",
                "offset"}], "absent": [biases left out of the file]}
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz"))
from make_corpus import TinySorter  # noqa: E402  (the TransformerLens module layout)

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
BIASES = ["b_Q", "b_K", "b_V", "b_O"]


def special_values(t, g):
    """Puts a few edge values into a float tensor, in place."""
    flat = t.view(-1)
    # float64 values beyond float32's range would load as Inf, which the
    # loader rightly refuses: use float32's limits there
    info = torch.finfo(torch.float32 if t.dtype == torch.float64 else t.dtype)
    picks = [-0.0, info.tiny / 4 if t.dtype != torch.bfloat16 else info.tiny, -info.tiny,
             info.max / 2, -info.max / 2, 1.0]
    for v in picks:
        i = int(torch.randint(flat.numel(), (1,), generator=g))
        flat[i] = v


def make(k, rng, out):
    g = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    cfg = dict(L=int(rng.integers(1, 4)), H=int(rng.integers(1, 5)), D=int(rng.integers(1, 33)),
               E=int(rng.integers(1, 17)), n=int(rng.integers(1, 13)), Vo=int(rng.integers(1, 61)))
    dtype = DTYPES[k % len(DTYPES)]
    biases, buffers = bool(rng.integers(2)), bool(rng.integers(2))
    model = TinySorter(**cfg, seed=int(rng.integers(1 << 31)), biases=biases, buffers=buffers)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(float(rng.choice([0.02, 1.0, 30.0])))
    sd = model.to(dtype).state_dict()
    if rng.integers(3) == 0:
        sd = dict(sd)      # a plain dict: no OrderedDict, no _metadata
    for name, t in sd.items():
        if t.is_floating_point() and t.dim() >= 1 and t.numel() >= 8 and rng.integers(2):
            special_values(t, g)
    layout = int(rng.integers(3))
    if layout == 1:
        # W_U stored transposed: strides (1, D) instead of (Vo, 1)
        sd["unembed.W_U"] = sd["unembed.W_U"].t().contiguous().t()
        if biases:
            # b_O a strided view of a longer storage
            sd["blocks.0.attn.b_O"] = torch.stack([sd["blocks.0.attn.b_O"]] * 2, dim=1)[:, 0]
    elif layout == 2:
        # Q, K and V of each layer slices of one storage (offsets)
        for layer in range(cfg["L"]):
            names = [f"blocks.{layer}.attn.W_{x}" for x in "QKV"]
            qkv = torch.stack([sd[n] for n in names])
            for i, n in enumerate(names):
                sd[n] = qkv[i]
    torch.save(sd, os.path.join(out, f"model-{k}.pt"))

    tensors, blobs, offset = [], [], 0
    for name, t in sd.items():
        if name.endswith(".mask") or name.endswith(".IGNORE"):
            continue
        f = t.float().contiguous()
        tensors.append({"name": name, "shape": list(t.shape), "offset": offset})
        blobs.append(f.reshape(-1).numpy().astype("<f4").tobytes())
        offset += f.numel()
    with open(os.path.join(out, f"model-{k}.f32"), "wb") as fh:
        fh.write(b"".join(blobs))
    absent = []
    if not biases:
        absent = [f"blocks.{layer}.attn.{b}" for layer in range(cfg["L"]) for b in BIASES] + ["unembed.b_U"]
    manifest = {
        "config": {"n_layers": cfg["L"], "n_heads": cfg["H"], "d_model": cfg["D"], "d_head": cfg["E"],
                   "n_ctx": 2 * cfg["n"] + 2, "d_vocab": cfg["Vo"] + 2, "d_vocab_out": cfg["Vo"],
                   "list_len": cfg["n"]},
        "dtype": str(dtype).replace("torch.", ""),
        "buffers": buffers,
        "layout": ["contiguous", "transposed", "shared-storage"][layout],
        "tensors": tensors,
        "absent": absent,
    }
    with open(os.path.join(out, f"model-{k}.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import numpy
    rng = numpy.random.default_rng(seed)
    torch.manual_seed(seed)
    os.makedirs(out, exist_ok=True)
    for k in range(count):
        make(k, rng, out)


if __name__ == "__main__":
    main()
