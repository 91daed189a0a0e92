#!/usr/bin/env python3
"""The training recipe of `sortlens train`, in PyTorch, timed per step.

The model is make_reference.py's forward (TransformerLens semantics,
attention-only, no layernorm) generalised to H heads and L layers, with autograd and
torch.optim.AdamW; each step draws a fresh batch of random lists, computes the
tutorial's loss, backpropagates and steps, as `sortlens train` does.

Usage: /usr/bin/python3 bench_train.py [--steps N] [--threads T] [--batch B] [--layers L] [--heads H]
Prints one line: "torch threads T: X ms/step wall, Y ms/step CPU (N steps, final loss L)".
"""
import argparse
import math
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=300)
ap.add_argument("--warmup-steps", type=int, default=10, help="untimed steps first")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--list-len", type=int, default=10)
ap.add_argument("--max-num", type=int, default=50)
ap.add_argument("--d-model", type=int, default=128)
ap.add_argument("--heads", type=int, default=1)
ap.add_argument("--layers", type=int, default=1)
args = ap.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
n, Vo, D, H = args.list_len, args.max_num, args.d_model, args.heads
E, V, T, B = D // H, Vo + 2, 2 * n + 2, args.batch
BOS, MID = Vo, Vo + 1
std = 0.8 / math.sqrt(D)  # TransformerLens: initializer_range = 0.8 / sqrt(d_model)

L = args.layers
shapes = {"embed.W_E": (V, D), "pos_embed.W_pos": (T, D), "unembed.W_U": (D, Vo)}
for l in range(L):
    shapes.update({f"blocks.{l}.attn.W_Q": (H, D, E), f"blocks.{l}.attn.W_K": (H, D, E),
                   f"blocks.{l}.attn.W_V": (H, D, E), f"blocks.{l}.attn.W_O": (H, E, D)})
sd = {k: (torch.randn(s) * std).requires_grad_(True) for k, s in shapes.items()}
# biases frozen at zero, as the seed was trained (and sortlens trains by default)
sd["unembed.b_U"] = torch.zeros(Vo)
for l in range(L):
    sd.update({f"blocks.{l}.attn.b_Q": torch.zeros(H, E), f"blocks.{l}.attn.b_K": torch.zeros(H, E),
               f"blocks.{l}.attn.b_V": torch.zeros(H, E), f"blocks.{l}.attn.b_O": torch.zeros(D)})
causal = torch.tril(torch.ones(T, T, dtype=torch.bool))


def forward(tokens):
    resid = sd["embed.W_E"][tokens] + sd["pos_embed.W_pos"][: tokens.shape[1]]
    for l in range(L):
        p = f"blocks.{l}.attn."
        q = torch.einsum("bpd,hde->bphe", resid, sd[p + "W_Q"]) + sd[p + "b_Q"]
        k = torch.einsum("bpd,hde->bphe", resid, sd[p + "W_K"]) + sd[p + "b_K"]
        v = torch.einsum("bpd,hde->bphe", resid, sd[p + "W_V"]) + sd[p + "b_V"]
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(E)
        pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
        resid = resid + torch.einsum("bqhe,hed->bqd", z, sd[p + "W_O"]) + sd[p + "b_O"]
    return resid @ sd["unembed.W_U"] + sd["unembed.b_U"]


def loss_fn(logits, tokens):
    logits = logits[:, -(n + 1): -1, :]
    labels = tokens[:, -n:]
    return -logits.log_softmax(-1).gather(-1, labels[..., None])[..., 0].mean()


def batch():
    x = torch.randint(0, Vo, (B, n))
    col = lambda v: torch.full((B, 1), v)
    return torch.cat([col(BOS), x, col(MID), x.sort(dim=-1).values], dim=-1)


opt = torch.optim.AdamW([v for v in sd.values() if v.requires_grad], lr=1e-3, betas=(0.9, 0.98),
                        eps=1e-8, weight_decay=0.01)


def step():
    tokens = batch()
    loss = loss_fn(forward(tokens), tokens)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(args.warmup_steps):
    step()
start, cpu_start = time.perf_counter(), time.process_time()
for _ in range(args.steps):
    loss = step()
ms = 1000 * (time.perf_counter() - start) / args.steps
cpu_ms = 1000 * (time.process_time() - cpu_start) / args.steps
print(f"torch threads {args.threads}: {ms:.2f} ms/step wall, {cpu_ms:.2f} ms/step CPU ({args.steps} steps, final loss {loss:.4f})")
