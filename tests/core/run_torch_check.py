#!/usr/bin/env python3
"""Checks that a run directory written by `sortlens train --snapshot-every K`
is ordinary PyTorch material: every step-NNNNNNN.safetensors snapshot loads
with load_state_dict(strict=True) into the TransformerLens-named module of
train_torch_check.py, the later snapshots have a lower loss in torch than the
initialisation on the same random lists, and optimizer.safetensors becomes
a torch.optim.AdamW state (exp_avg, exp_avg_sq per parameter, named and
shaped as the weights; step and hyper-parameters from its metadata) that
torch loads and steps with.

Usage: /usr/bin/python3 run_torch_check.py RUN_DIR
Exit 0 if all holds; 77 (skip) without torch.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import torch
except ImportError:
    print("skipped: no torch in this python")
    sys.exit(77)
from train_torch_check import SortModel, read_safetensors  # noqa: E402


def build(meta):
    cfg = {k: int(meta[k]) for k in ("n_layers", "n_heads", "d_model", "d_head", "n_ctx", "d_vocab", "d_vocab_out", "list_len")}
    model = SortModel(cfg["n_layers"], cfg["n_heads"], cfg["d_model"], cfg["d_head"], cfg["n_ctx"], cfg["d_vocab"],
                      cfg["d_vocab_out"])
    return model, cfg


def loss_on(model, tokens, n):
    logits = model(tokens)[:, n + 1:-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, n + 2:].reshape(-1))


def main():
    run = sys.argv[1]
    names = sorted(f for f in os.listdir(run) if re.fullmatch(r"step-\d+\.safetensors", f))
    if len(names) < 2:
        print(f"FAIL: {run} holds {len(names)} snapshots")
        return 1
    losses = []
    tokens = None
    for name in names:
        tensors, meta = read_safetensors(os.path.join(run, name))
        model, cfg = build(meta)
        model.load_state_dict(tensors, strict=True)
        if int(meta["step"]) != int(name[5:-12]):
            print(f"FAIL: {name} says step {meta['step']}")
            return 1
        n, Vo = cfg["list_len"], cfg["d_vocab_out"]
        if tokens is None:
            g = torch.Generator().manual_seed(0)
            x = torch.randint(0, Vo, (500, n), generator=g)
            col = lambda v: torch.full((500, 1), v)
            tokens = torch.cat([col(Vo), x, col(Vo + 1), x.sort(-1).values], dim=-1)
        with torch.no_grad():
            losses.append(loss_on(model, tokens, n).item())
    print(f"{run}: {len(names)} snapshots load with strict=True; loss in torch " +
          ", ".join(f"{nm[5:-12].lstrip('0') or '0'}: {l:.4f}" for nm, l in zip(names, losses)))
    if not losses[-1] < losses[0]:
        print("FAIL: the last snapshot is no better than the initialisation")
        return 1
    # The optimizer state, into torch's AdamW, beside the last snapshot.
    state, smeta = read_safetensors(os.path.join(run, "optimizer.safetensors"))
    if int(smeta["step"]) != int(names[-1][5:-12]):
        print(f"FAIL: the state is at step {smeta['step']}, the last snapshot at {names[-1]}")
        return 1
    params = dict(model.named_parameters())
    if set(state) - {"train_loss_window"} != {f"{p}.{k}" for p in params for k in ("exp_avg", "exp_avg_sq")}:
        print("FAIL: the state's tensors are not exp_avg and exp_avg_sq of every parameter")
        return 1
    b1, b2 = (float(b) for b in smeta["betas"].split(","))
    opt = torch.optim.AdamW(list(params.values()), lr=float(smeta["lr"]), betas=(b1, b2), eps=float(smeta["eps"]),
                            weight_decay=float(smeta["weight_decay"]))
    sd = opt.state_dict()
    sd["state"] = {i: {"step": torch.tensor(float(smeta["step"])), "exp_avg": state[f"{p}.exp_avg"],
                       "exp_avg_sq": state[f"{p}.exp_avg_sq"]} for i, p in enumerate(params)}
    opt.load_state_dict(sd)
    for p, t in params.items():
        if opt.state[t]["exp_avg"].shape != t.shape or (opt.state[t]["exp_avg_sq"] < 0).any():
            print(f"FAIL: {p}'s moments do not fit it")
            return 1
    opt.zero_grad()
    loss_on(model, tokens, n).backward()
    opt.step()
    print(f"optimizer.safetensors: torch.optim.AdamW state at step {smeta['step']}, loaded and stepped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
