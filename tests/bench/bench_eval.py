#!/usr/bin/env python3
"""Benchmark sortlens against PyTorch on the same machine, in the same run.

1. Evaluation: `sortlens eval --lists N` (teacher-forced accuracy and loss,
   then greedy decoding of every list) against the same work in PyTorch:
   Debian's python3-torch on the CPU, torch.set_num_threads(1), batches of
   256, the forward pass of ../shared/reference/make_reference.py, and greedy
   decoding the naive way that script does it (one whole forward of the
   prefix per new token).  sortlens is timed as a whole process (start,
   model load, evaluation); PyTorch only for its computation (the import and
   the model load are left out), which favours PyTorch.
2. Latency: one list's forward pass with every activation kept (the full
   cache), in PyTorch; the C side of it is bench-forward (bench_forward.c).

Each measurement is repeated and the median printed, because the machine
may be busy with other work; the two sides alternate so that both see the
same load.  Both run on one thread (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1).

Usage: python3 bench_eval.py --sortlens BUILD/sortlens --model SEED.pt
           [--lists 10000] [--repeats 3] [--bench-forward BUILD/.../bench-forward]
Exit status 77 (meson's "skipped") when the model or torch is missing.
"""
import argparse
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))

# One thread everywhere, set before torch (and the OpenBLAS under it) load:
# torch.set_num_threads(1) alone leaves OpenBLAS's own threads running.
# torch_eval_in_child runs PyTorch at other counts in a process of its own
# (SORTLENS_BENCH_TORCH_THREADS), since sortlens's eval uses every core.
TORCH_THREADS = int(os.environ.get("SORTLENS_BENCH_TORCH_THREADS", "1"))
os.environ["OMP_NUM_THREADS"] = str(TORCH_THREADS)
os.environ["OPENBLAS_NUM_THREADS"] = str(TORCH_THREADS)


def load_torch():
    try:
        import torch
    except ImportError:
        print("skipped: python3-torch is not installed")
        sys.exit(SKIP)
    return torch


def forward(torch, tokens, sd):
    """make_reference.py's forward for one layer, generalised to any number
    of layers and heads; keeps every activation (the full cache)."""
    c = {}
    T = tokens.shape[1]
    c["hook_embed"] = sd["embed.W_E"][tokens]
    c["hook_pos_embed"] = sd["pos_embed.W_pos"][:T].expand_as(c["hook_embed"])
    x = c["hook_embed"] + c["hook_pos_embed"]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    layer = 0
    while f"blocks.{layer}.attn.W_Q" in sd:
        a = f"blocks.{layer}.attn."
        q = torch.einsum("bpd,hde->bphe", x, sd[a + "W_Q"]) + sd[a + "b_Q"]
        k = torch.einsum("bpd,hde->bphe", x, sd[a + "W_K"]) + sd[a + "b_K"]
        v = torch.einsum("bpd,hde->bphe", x, sd[a + "W_V"]) + sd[a + "b_V"]
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~causal, float("-inf"))
        pattern = scores.softmax(-1)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
        attn_out = torch.einsum("bqhe,hed->bqd", z, sd[a + "W_O"]) + sd[a + "b_O"]
        x = x + attn_out
        c.update({a + "hook_q": q, a + "hook_k": k, a + "hook_v": v, a + "hook_attn_scores": scores,
                  a + "hook_pattern": pattern, a + "hook_z": z, f"blocks.{layer}.hook_attn_out": attn_out,
                  f"blocks.{layer}.hook_resid_post": x})
        layer += 1
    c["logits"] = x @ sd["unembed.W_U"] + sd["unembed.b_U"]
    return c


def load_sd(torch, path):
    """The float tensors of a .pt or .safetensors model; biases absent from
    the file are zero, as sortlens reads them."""
    if path.endswith(".safetensors"):
        sys.path.insert(0, os.path.join(HERE, "..", "core"))
        from train_torch_check import read_safetensors
        sd = {k: v for k, v in read_safetensors(path)[0].items() if v.dtype == torch.float32}
    else:
        sd = {k: v for k, v in torch.load(path, map_location="cpu").items() if v.dtype == torch.float32}
    layer = 0
    while f"blocks.{layer}.attn.W_Q" in sd:
        a = f"blocks.{layer}.attn."
        h, d, e = sd[a + "W_Q"].shape
        for name, shape in (("b_Q", (h, e)), ("b_K", (h, e)), ("b_V", (h, e)), ("b_O", (d,))):
            sd.setdefault(a + name, torch.zeros(shape))
        layer += 1
    sd.setdefault("unembed.b_U", torch.zeros(sd["unembed.W_U"].shape[1]))
    return sd


def torch_eval_in_child(model, lists, threads):
    """torch_eval of `lists` lists at `threads` threads in a process of its
    own (the thread count must be set before torch loads); returns (wall,
    CPU) seconds of the computation alone."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-eval-only", "--model", model,
                          "--lists", str(lists)], check=True, capture_output=True, text=True,
                         env=dict(os.environ, SORTLENS_BENCH_TORCH_THREADS=str(threads))).stdout
    wall, cpu = (float(x) for x in re.search(r"torch eval: ([0-9.]+) s wall, ([0-9.]+) s CPU", out).groups())
    return wall, cpu


def torch_eval(torch, sd, lists, batch=256, seed=0):
    """Teacher-forced accuracy and loss, greedy whole-list accuracy."""
    n_ctx, vo = sd["pos_embed.W_pos"].shape[0], sd["unembed.W_U"].shape[1]
    n = (n_ctx - 2) // 2
    gen = torch.Generator().manual_seed(seed)
    tok_right = list_right = 0
    loss_sum = 0.0
    for start in range(0, lists, batch):
        b = min(batch, lists - start)
        x = torch.randint(0, vo, (b, n), generator=gen)
        s = x.sort(dim=-1).values
        col = lambda v: torch.full((b, 1), v)
        tokens = torch.cat([col(vo), x, col(vo + 1), s], dim=-1)
        logits = forward(torch, tokens, sd)["logits"][:, n + 1 : -1]
        labels = tokens[:, -n:]
        tok_right += (logits.argmax(-1) == labels).sum().item()
        loss_sum += -logits.log_softmax(-1).gather(-1, labels[..., None]).sum().item()
        cur = tokens.clone()
        cur[:, n + 2 :] = 0
        for i in range(n):
            end = n + 2 + i
            cur[:, end] = forward(torch, cur[:, :end], sd)["logits"][:, -1].argmax(-1)
        list_right += (cur[:, n + 2 :] == labels).all(-1).sum().item()
    return tok_right / (lists * n), list_right / lists, loss_sum / (lists * n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sortlens")
    ap.add_argument("--model", required=True)
    ap.add_argument("--torch-eval-only", action="store_true",
                    help="only time PyTorch's eval (at SORTLENS_BENCH_TORCH_THREADS threads) and print it")
    ap.add_argument("--bench-forward", help="the bench-forward executable (C latency)")
    ap.add_argument("--lists", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(args.model):
        print(f"skipped: {args.model} is absent")
        return SKIP
    torch = load_torch()
    torch.set_num_threads(TORCH_THREADS)
    torch.set_grad_enabled(False)
    sd = load_sd(torch, args.model)
    if args.torch_eval_only:
        t0, c0 = time.perf_counter(), time.process_time()
        torch_eval(torch, sd, args.lists)
        print(f"torch eval: {time.perf_counter() - t0:.4f} s wall, {time.process_time() - c0:.4f} s CPU, "
              f"{TORCH_THREADS} threads")
        return 0
    if not args.sortlens:
        ap.error("--sortlens is required")
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}, 1 thread")

    # 1. evaluation: wall clock and CPU time (the machine may be shared, so
    # the CPU time says more about the work than the wall clock does)
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    cmd = [args.sortlens, "eval", "--model", args.model, "--lists", str(args.lists), "--json"]
    for r in range(args.repeats):
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        ours.append(time.perf_counter() - t0)
        ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours_cpu.append(ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime)
        t0, c0 = time.perf_counter(), time.process_time()
        tf, greedy, loss = torch_eval(torch, sd, args.lists)
        theirs.append(time.perf_counter() - t0)
        theirs_cpu.append(time.process_time() - c0)
        print(f"  run {r + 1}: sortlens {ours[-1]:.3f} s ({ours_cpu[-1]:.3f} s CPU), "
              f"PyTorch {theirs[-1]:.3f} s ({theirs_cpu[-1]:.3f} s CPU)")
    med = statistics.median
    print(f"sortlens eval, {args.lists} lists: {out.strip()}")
    print(f"PyTorch, {args.lists} other lists: token_accuracy {tf:.5f}, list_accuracy {greedy:.5f}, loss {loss:.5f}")
    print(f"eval of {args.lists} lists (teacher-forced + greedy), median of {args.repeats}:")
    print(f"  sortlens {med(ours):.3f} s wall, {med(ours_cpu):.3f} s CPU (whole process: start, load, evaluate)")
    print(f"  PyTorch  {med(theirs):.3f} s wall, {med(theirs_cpu):.3f} s CPU (computation only, 1 thread, batch 256, "
          f"naive greedy)")
    print(f"  sortlens is {med(theirs) / med(ours):.1f}x faster by the wall clock, "
          f"{med(theirs_cpu) / med(ours_cpu):.1f}x by CPU time (goal: 50x)")

    # 2. one list's forward with the full cache
    tokens = torch.tensor([[50, 5, 3, 9, 0, 49, 12, 12, 7, 1, 2, 51, 0, 1, 2, 3, 5, 7, 9, 12, 12, 49]])
    vo = sd["unembed.W_U"].shape[1]
    n_ctx = sd["pos_embed.W_pos"].shape[0]
    tokens = tokens[:, :n_ctx].clamp(max=vo + 1)
    walls, cpus = [], []
    for _ in range(7):
        iters = 300
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(iters):
            forward(torch, tokens, sd)
        cpus.append((time.thread_time() - c0) / iters * 1e6)
        walls.append((time.perf_counter() - t0) / iters * 1e6)
    torch_wall, torch_cpu = statistics.median(walls), statistics.median(cpus)
    print(f"one list's forward with the full cache, PyTorch: {torch_wall:.1f} us wall, {torch_cpu:.1f} us CPU "
          f"(medians of 7 runs of 300)")
    if args.bench_forward:
        out = subprocess.run([args.bench_forward, args.model], check=True, capture_output=True, text=True).stdout
        sys.stdout.write(out)
        for line in out.splitlines():
            if line.startswith("forward, one list, full cache, tables path:"):
                nums = [float(w) for w in line.split(":")[1].replace(",", " ").split() if w[0].isdigit()]
                c_wall, c_cpu = nums[0], nums[1]
                print(f"one list's forward: sortlens {c_wall:.2f} us wall / {c_cpu:.2f} us CPU, PyTorch "
                      f"{torch_wall:.1f} / {torch_cpu:.1f} us: {torch_wall / c_wall:.0f}x / {torch_cpu / c_cpu:.0f}x "
                      f"faster (goal: under 5 us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
