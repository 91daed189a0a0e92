#!/usr/bin/env python3
"""Checks that a model written by `sortlens train` is an ordinary PyTorch
checkpoint: parses the safetensors file by hand (8-byte length, JSON header,
raw little-endian data), loads it with load_state_dict(strict=True) into a
hand-written torch module whose parameter and buffer names are
TransformerLens's (HookedTransformer, attn_only, no layernorm), and measures
with that module's forward the per-token (teacher-forced) and whole-list
(greedy) accuracy on random lists.

Usage: /usr/bin/python3 train_torch_check.py MODEL.safetensors [--lists N]
       [--min-token-accuracy X] [--min-list-accuracy X]
Exit 0 if it loads and reaches the minimums; 77 (skip) without torch.
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import safetensors_raw  # noqa: E402

try:
    import torch
except ImportError:
    print("skipped: no torch in this python")
    sys.exit(77)

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "BOOL": torch.bool}


def read_safetensors(path):
    """(tensors, metadata), read by hand (safetensors_raw)."""
    raw, meta = safetensors_raw.read(path)
    tensors = {}
    for name, (dtype, shape, data) in raw.items():
        t = torch.frombuffer(bytearray(data), dtype=DTYPES[dtype]) if data else torch.empty(0, dtype=DTYPES[dtype])
        tensors[name] = t.reshape(shape).clone()
    return tensors, meta


class Attention(torch.nn.Module):
    def __init__(self, H, D, E, T):
        super().__init__()
        self.W_Q = torch.nn.Parameter(torch.empty(H, D, E))
        self.W_K = torch.nn.Parameter(torch.empty(H, D, E))
        self.W_V = torch.nn.Parameter(torch.empty(H, D, E))
        self.W_O = torch.nn.Parameter(torch.empty(H, E, D))
        self.b_Q = torch.nn.Parameter(torch.empty(H, E))
        self.b_K = torch.nn.Parameter(torch.empty(H, E))
        self.b_V = torch.nn.Parameter(torch.empty(H, E))
        self.b_O = torch.nn.Parameter(torch.empty(D))
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))
        self.register_buffer("IGNORE", torch.tensor(-1e5))

    def forward(self, x):
        q = torch.einsum("bpd,hde->bphe", x, self.W_Q) + self.b_Q
        k = torch.einsum("bpd,hde->bphe", x, self.W_K) + self.b_K
        v = torch.einsum("bpd,hde->bphe", x, self.W_V) + self.b_V
        s = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
        T = x.shape[1]
        s = torch.where(self.mask[:T, :T], s, self.IGNORE)
        z = torch.einsum("bhqk,bkhe->bqhe", s.softmax(-1), v)
        return torch.einsum("bqhe,hed->bqd", z, self.W_O) + self.b_O


class Block(torch.nn.Module):
    def __init__(self, H, D, E, T):
        super().__init__()
        self.attn = Attention(H, D, E, T)


class Embed(torch.nn.Module):
    def __init__(self, name, rows, cols):
        super().__init__()
        setattr(self, name, torch.nn.Parameter(torch.empty(rows, cols)))


class Unembed(torch.nn.Module):
    def __init__(self, D, Vo):
        super().__init__()
        self.W_U = torch.nn.Parameter(torch.empty(D, Vo))
        self.b_U = torch.nn.Parameter(torch.empty(Vo))


class SortModel(torch.nn.Module):
    def __init__(self, L, H, D, E, T, V, Vo):
        super().__init__()
        self.embed = Embed("W_E", V, D)
        self.pos_embed = Embed("W_pos", T, D)
        self.blocks = torch.nn.ModuleList([Block(H, D, E, T) for _ in range(L)])
        self.unembed = Unembed(D, Vo)

    def forward(self, tokens):
        x = self.embed.W_E[tokens] + self.pos_embed.W_pos[: tokens.shape[1]]
        for b in self.blocks:
            x = x + b.attn(x)
        return x @ self.unembed.W_U + self.unembed.b_U


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--lists", type=int, default=2000)
    ap.add_argument("--min-token-accuracy", type=float, default=0.0)
    ap.add_argument("--min-list-accuracy", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    tensors, meta = read_safetensors(args.model)
    cfg = {k: int(meta[k]) for k in ("n_layers", "n_heads", "d_model", "d_head", "n_ctx", "d_vocab", "d_vocab_out", "list_len")}
    model = SortModel(cfg["n_layers"], cfg["n_heads"], cfg["d_model"], cfg["d_head"], cfg["n_ctx"], cfg["d_vocab"], cfg["d_vocab_out"])
    model.load_state_dict(tensors, strict=True)   # every name and shape, nothing left over
    n, Vo = cfg["list_len"], cfg["d_vocab_out"]
    torch.manual_seed(0)
    x = torch.randint(0, Vo, (args.lists, n))
    col = lambda v: torch.full((args.lists, 1), v)
    tokens = torch.cat([col(Vo), x, col(Vo + 1), x.sort(-1).values], dim=-1)
    labels = tokens[:, n + 2:]
    logits = model(tokens)[:, n + 1: -1]
    token_acc = (logits.argmax(-1) == labels).float().mean().item()
    cur = tokens.clone()
    cur[:, n + 2:] = 0
    for i in range(n):
        end = n + 2 + i
        cur[:, end] = model(cur[:, :end])[:, -1].argmax(-1)
    list_acc = (cur[:, n + 2:] == labels).all(-1).float().mean().item()
    print(f"{args.model}: loaded into torch with load_state_dict(strict=True); {args.lists} random lists: "
          f"token accuracy {token_acc:.5f}, list accuracy {list_acc:.5f}; "
          f"metadata: seed {meta.get('seed')}, steps {meta.get('steps')}, final_loss {meta.get('final_loss')}")
    print(f"training command: {meta.get('training_command')}")
    ok = token_acc >= args.min_token_accuracy and list_acc >= args.min_list_accuracy
    if not ok:
        print(f"FAIL: below --min-token-accuracy {args.min_token_accuracy} or --min-list-accuracy {args.min_list_accuracy}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
