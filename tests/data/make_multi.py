#!/usr/bin/env python3
"""Make the 2-layer, 2-head test checkpoint and what PyTorch computes for it.

Needs only Debian's python3-torch; runs on the CPU in a second.  Writes, next
to this script:

  multi_2l2h.pt  torch.save(OrderedDict state_dict), TransformerLens names:
      embed.W_E [22,32]  pos_embed.W_pos [12,32]
      blocks.{0,1}.attn.W_Q/W_K/W_V [2,32,16]  W_O [2,16,32]
      blocks.{0,1}.attn.b_Q/b_K/b_V [2,16]  b_O [32]   (biases NONZERO)
      blocks.{0,1}.attn.mask BOOL [12,12]  blocks.{0,1}.attn.IGNORE F32 []
      unembed.W_U [32,20]  unembed.b_U [20]
    config: n_layers 2, n_heads 2, d_model 32, d_head 16, list_len 5,
    n_ctx 12, d_vocab_out 20, d_vocab 22 (BOS 20, MID 21).

  multi_2l2h_expected.safetensors  (B = 32 lists, T = 12):
      tokens                                   I64 [32,12]  BOS, 5 values, MID, sorted values
      logits                                   F32 [32,12,20]
      blocks.{l}.attn.hook_attn_scores         F32 [32,2,12,12]  scaled by 1/sqrt(16), -inf above the diagonal
      blocks.{l}.attn.hook_pattern             F32 [32,2,12,12]
      blocks.{l}.hook_resid_post               F32 [32,12,32]
      cache4.hook_embed, cache4.hook_pos_embed F32 [4,12,32]   (first 4 lists)
      cache4.blocks.{l}.attn.hook_q/k/v/z      F32 [4,12,2,16]
      cache4.blocks.{l}.hook_attn_out          F32 [4,12,32]
      teacher_forced_argmax                    I64 [32,5]  argmax at positions 6..10 (MID..b_4)
      greedy                                   I64 [32,5]  the model's own outputs fill b_1..b_5
      loss                                     F32 []      the tutorial's loss (mean CE at those positions)
    __metadata__: the config, "loss" as repr(float64), "min_top2_gap", torch_version.

The lists are chosen so that at every predicted position (teacher-forced and
greedy) the top two logits differ by more than 1e-3, so that an argmax
comparison cannot flip on rounding.

The forward pass is TransformerLens's HookedTransformer (attn_only, no
layernorm) for L layers and H heads: resid_pre of layer l+1 is resid_post of
layer l; q,k,v = resid_pre W + b; scores = q.k / sqrt(d_head) with a causal
mask; pattern = softmax; z = pattern v; attn_out = sum_h z_h W_O[h] + b_O;
resid_post = resid_pre + attn_out; logits = resid_post W_U + b_U.

Usage: /usr/bin/python3 tests/data/make_multi.py
"""
import collections
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
L, H, D, E, N, VO = 2, 2, 32, 16, 5, 20
CTX, V = 2 * N + 2, VO + 2
BOS, MID = VO, VO + 1
B = 32


def make_state_dict(gen):
    def rnd(*shape, std):
        return (torch.randn(*shape, generator=gen) * std).float()

    sd = collections.OrderedDict()
    sd["embed.W_E"] = rnd(V, D, std=1.0)
    sd["pos_embed.W_pos"] = rnd(CTX, D, std=1.0)
    for l in range(L):
        a = f"blocks.{l}.attn."
        sd[a + "W_Q"] = rnd(H, D, E, std=0.3)
        sd[a + "W_K"] = rnd(H, D, E, std=0.3)
        sd[a + "W_V"] = rnd(H, D, E, std=0.25)
        sd[a + "W_O"] = rnd(H, E, D, std=0.25)
        sd[a + "b_Q"] = rnd(H, E, std=0.2)
        sd[a + "b_K"] = rnd(H, E, std=0.2)
        sd[a + "b_V"] = rnd(H, E, std=0.2)
        sd[a + "b_O"] = rnd(D, std=0.2)
        sd[a + "mask"] = torch.tril(torch.ones(CTX, CTX)).bool()
        sd[a + "IGNORE"] = torch.tensor(-1e5)
    sd["unembed.W_U"] = rnd(D, VO, std=0.15)
    sd["unembed.b_U"] = rnd(VO, std=0.2)
    return sd


def forward(tokens, sd):
    c = {}
    T = tokens.shape[1]
    c["hook_embed"] = sd["embed.W_E"][tokens]
    c["hook_pos_embed"] = sd["pos_embed.W_pos"][:T].expand_as(c["hook_embed"])
    x = c["hook_embed"] + c["hook_pos_embed"]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        a, p = f"blocks.{l}.attn.", f"blocks.{l}."
        q = torch.einsum("bpd,hde->bphe", x, sd[a + "W_Q"]) + sd[a + "b_Q"]
        k = torch.einsum("bpd,hde->bphe", x, sd[a + "W_K"]) + sd[a + "b_K"]
        v = torch.einsum("bpd,hde->bphe", x, sd[a + "W_V"]) + sd[a + "b_V"]
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(E)
        scores = scores.masked_fill(~causal, float("-inf"))
        pattern = scores.softmax(-1)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
        attn_out = torch.einsum("bqhe,hed->bqd", z, sd[a + "W_O"]) + sd[a + "b_O"]
        x = x + attn_out
        c[a + "hook_q"], c[a + "hook_k"], c[a + "hook_v"], c[a + "hook_z"] = q, k, v, z
        c[a + "hook_attn_scores"], c[a + "hook_pattern"] = scores, pattern
        c[p + "hook_attn_out"], c[p + "hook_resid_post"] = attn_out, x
    c["logits"] = x @ sd["unembed.W_U"] + sd["unembed.b_U"]
    return c


def top2_gap(logits):
    top = logits.topk(2, dim=-1).values
    return top[..., 0] - top[..., 1]


def greedy(tokens, sd):
    cur = tokens.clone()
    cur[:, N + 2 :] = 0
    gaps = []
    for i in range(N):
        end = N + 2 + i
        last = forward(cur[:, :end], sd)["logits"][:, -1]
        gaps.append(top2_gap(last))
        cur[:, end] = last.argmax(-1)
    return cur[:, N + 2 :], torch.stack(gaps, 1)


def make_tokens(values):
    b = values.shape[0]
    col = lambda v: torch.full((b, 1), v)
    return torch.cat([col(BOS), values, col(MID), values.sort(-1).values], -1).long()


def write_safetensors(path, tensors, metadata):
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.set_grad_enabled(False)
    gen = torch.Generator().manual_seed(20240601)
    sd = make_state_dict(gen)
    torch.save(sd, os.path.join(HERE, "multi_2l2h.pt"))

    # Lists whose predictions are not near ties, 32 of them.
    keep = []
    while len(keep) < B:
        values = torch.randint(0, VO, (1, N), generator=gen)
        tokens = make_tokens(values)
        tf_gap = top2_gap(forward(tokens, sd)["logits"][:, N + 1 : -1]).min()
        _, g_gap = greedy(tokens, sd)
        if min(tf_gap.item(), g_gap.min().item()) > 1e-3:
            keep.append(values)
    tokens = make_tokens(torch.cat(keep))

    c = forward(tokens, sd)
    out = {"tokens": tokens, "logits": c["logits"]}
    for l in range(L):
        a, p = f"blocks.{l}.attn.", f"blocks.{l}."
        out[a + "hook_attn_scores"] = c[a + "hook_attn_scores"]
        out[a + "hook_pattern"] = c[a + "hook_pattern"]
        out[p + "hook_resid_post"] = c[p + "hook_resid_post"]
    out["cache4.hook_embed"] = c["hook_embed"][:4]
    out["cache4.hook_pos_embed"] = c["hook_pos_embed"][:4]
    for l in range(L):
        a, p = f"blocks.{l}.attn.", f"blocks.{l}."
        for hook in ("hook_q", "hook_k", "hook_v", "hook_z"):
            out["cache4." + a + hook] = c[a + hook][:4]
        out["cache4." + p + "hook_attn_out"] = c[p + "hook_attn_out"][:4]
    pred_logits = c["logits"][:, N + 1 : -1]
    out["teacher_forced_argmax"] = pred_logits.argmax(-1)
    g, g_gap = greedy(tokens, sd)
    out["greedy"] = g
    labels = tokens[:, -N:]
    loss = -pred_logits.log_softmax(-1).gather(-1, labels[..., None])[..., 0].mean()
    out["loss"] = loss.reshape(())
    gap = min(top2_gap(pred_logits).min().item(), g_gap.min().item())
    meta = {
        "n_layers": str(L), "n_heads": str(H), "d_model": str(D), "d_head": str(E),
        "n_ctx": str(CTX), "d_vocab": str(V), "d_vocab_out": str(VO), "list_len": str(N),
        "loss": repr(loss.double().item()), "min_top2_gap": repr(gap),
        "teacher_forced_accuracy": repr((out["teacher_forced_argmax"] == labels).float().mean().item()),
        "torch_version": torch.__version__,
        "source": "tests/data/make_multi.py",
    }
    write_safetensors(os.path.join(HERE, "multi_2l2h_expected.safetensors"), out, meta)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
