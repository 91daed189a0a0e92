#!/usr/bin/env python3
"""Benchmark the population commands against PyTorch, side by side.

1. `sortlens eval --input FILE` of --lists lists (default 100,000, written
   first by `sortlens generate --kind uniform`) against the same
   evaluation in PyTorch (bench_eval.py's: teacher-forced accuracy and loss,
   then naive greedy decoding, batches of 256, 1 thread) of the first
   --torch-lists lists of the same file (default 10,000: PyTorch needs about
   1.4 ms a list here, so all 100,000 would take minutes per repeat).  The
   ratio is per list, and says so.
2. `sortlens mean --input FILE` of --mean-lists lists (default 10,000)
   against PyTorch computing the same means (pattern, the four score terms
   over sqrt(d_head), DLA to the right answer) over the same lists, batched.

sortlens is timed as a whole process (start, model load, reading and
checking the file, the work, the output); PyTorch only for its computation
on lists already parsed, which favours PyTorch.  Medians of --repeats runs,
alternating the two sides so that both see the same load; wall and CPU time.

Usage: python3 bench_population.py --sortlens BUILD/sortlens --model SEED.pt
Exit status 77 (meson's "skipped") when the model or torch is missing.
"""
import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_eval import SKIP, forward, load_torch  # noqa: E402


def torch_eval_lists(torch, sd, lists, batch=256):
    """bench_eval.py's evaluation, on given lists [B, n]."""
    vo = sd["unembed.W_U"].shape[1]
    n = lists.shape[1]
    tok_right = list_right = 0
    loss_sum = 0.0
    for start in range(0, lists.shape[0], batch):
        x = lists[start:start + batch]
        b = x.shape[0]
        col = lambda v: torch.full((b, 1), v)
        tokens = torch.cat([col(vo), x, col(vo + 1), x.sort(dim=-1).values], dim=-1)
        logits = forward(torch, tokens, sd)["logits"][:, n + 1:-1]
        labels = tokens[:, -n:]
        tok_right += (logits.argmax(-1) == labels).sum().item()
        loss_sum += -logits.log_softmax(-1).gather(-1, labels[..., None]).sum().item()
        cur = tokens.clone()
        cur[:, n + 2:] = 0
        for i in range(n):
            end = n + 2 + i
            cur[:, end] = forward(torch, cur[:, :end], sd)["logits"][:, -1].argmax(-1)
        list_right += (cur[:, n + 2:] == labels).all(-1).sum().item()
    return tok_right, list_right, loss_sum


def torch_mean(torch, sd, lists, batch=1000):
    """The means of `sortlens mean` (layer 0), accumulated over batches."""
    vo = sd["unembed.W_U"].shape[1]
    n = lists.shape[1]
    T = 2 * n + 2
    a = "blocks.0.attn."
    E = sd[a + "W_Q"].shape[-1]
    WE, Wpos = sd["embed.W_E"], sd["pos_embed.W_pos"][:T]
    qp = torch.einsum("pd,hde->hpe", Wpos, sd[a + "W_Q"]) + sd[a + "b_Q"][:, None]
    kp = torch.einsum("pd,hde->hpe", Wpos, sd[a + "W_K"]) + sd[a + "b_K"][:, None]
    u = torch.einsum("hed,dv->hev", sd[a + "W_O"], sd["unembed.W_U"])
    acc = {}
    def add(name, x):
        acc[name] = acc.get(name, 0) + x.double().sum(0)
    for start in range(0, lists.shape[0], batch):
        x = lists[start:start + batch]
        b = x.shape[0]
        col = lambda v: torch.full((b, 1), v)
        tokens = torch.cat([col(vo), x, col(vo + 1), x.sort(dim=-1).values], dim=-1)
        c = forward(torch, tokens, sd)
        pattern = c[a + "hook_pattern"]
        add("pattern", pattern)
        qt = torch.einsum("bpd,hde->bhpe", WE[tokens], sd[a + "W_Q"])
        kt = torch.einsum("bpd,hde->bhpe", WE[tokens], sd[a + "W_K"])
        add("token_token", torch.einsum("bhqe,bhke->bhqk", qt, kt) / math.sqrt(E))
        add("token_pos", torch.einsum("bhqe,hke->bhqk", qt, kp) / math.sqrt(E))
        add("pos_token", torch.einsum("hqe,bhke->bhqk", qp, kt) / math.sqrt(E))
        add("pos_pos", torch.einsum("hqe,hke->hqk", qp, kp).expand(b, -1, -1, -1) / math.sqrt(E))
        vu = torch.einsum("bkhe,hev->bhkv", c[a + "hook_v"], u)              # [B, H, T, Vo]
        answers = tokens[:, n + 2:]                                         # the next value at q = n+1..2n
        idx = answers[:, None, None, :].expand(-1, vu.shape[1], T, -1)       # [B, H, T, n]
        per = vu.gather(-1, idx).transpose(-1, -2)                          # [B, H, n(q), T(k)]
        add("dla_correct", pattern[:, :, n + 1:2 * n + 1, :] * per)
    return {k: v / lists.shape[0] for k, v in acc.items()}


def timed_process(cmd):
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sortlens", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--lists", type=int, default=100000)
    ap.add_argument("--torch-lists", type=int, default=10000)
    ap.add_argument("--mean-lists", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(args.model):
        print(f"skipped: {args.model} is absent")
        return SKIP
    torch = load_torch()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    sd = {k: v for k, v in torch.load(args.model, map_location="cpu").items() if v.dtype == torch.float32}
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}, 1 thread")
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "uniform.txt")
        with open(path, "w") as f:
            subprocess.run([args.sortlens, "generate", "--model", args.model, "--kind", "uniform", "--lists",
                            str(args.lists), "--seed", "3"], check=True, stdout=f)
        with open(path) as f:
            lists = torch.tensor([[int(t) for t in line.split()] for line in f])
        mean_path = os.path.join(tmp, "mean.txt")
        with open(path) as f, open(mean_path, "w") as g:
            for i, line in zip(range(args.mean_lists), f):
                g.write(line)

        # 1. eval --input
        ours, theirs = [], []
        for r in range(args.repeats):
            ours.append(timed_process([args.sortlens, "eval", "--model", args.model, "--input", path, "--json"]))
            theirs.append(timed(lambda: torch_eval_lists(torch, sd, lists[:args.torch_lists])))
            print(f"  run {r + 1}: sortlens {ours[-1][0]:.3f} s ({ours[-1][1]:.3f} s CPU) for {args.lists}, "
                  f"PyTorch {theirs[-1][0]:.3f} s ({theirs[-1][1]:.3f} s CPU) for {args.torch_lists}")
        ow, oc = med(w for w, _ in ours), med(c for _, c in ours)
        tw, tc = med(w for w, _ in theirs), med(c for _, c in theirs)
        per = args.lists / args.torch_lists
        print(f"eval --input of {args.lists} lists (teacher-forced + greedy), median of {args.repeats}:")
        print(f"  sortlens {ow:.3f} s wall, {oc:.3f} s CPU (whole process; goal: under 1 s)")
        print(f"  PyTorch  {tw:.3f} s wall, {tc:.3f} s CPU for the first {args.torch_lists} of them "
              f"(computation only, 1 thread, batch 256, naive greedy)")
        print(f"  per list, sortlens is {tw * per / ow:.0f}x faster by the wall clock, {tc * per / oc:.0f}x by CPU time")

        # 2. mean
        ours, theirs = [], []
        for r in range(args.repeats):
            ours.append(timed_process([args.sortlens, "mean", "--model", args.model, "--input", mean_path, "--json"]))
            theirs.append(timed(lambda: torch_mean(torch, sd, lists[:args.mean_lists])))
        ow, oc = med(w for w, _ in ours), med(c for _, c in ours)
        tw, tc = med(w for w, _ in theirs), med(c for _, c in theirs)
        print(f"mean of {args.mean_lists} lists (pattern, score terms, DLA), median of {args.repeats}:")
        print(f"  sortlens {ow:.3f} s wall, {oc:.3f} s CPU (whole process; goal: under 1 s)")
        print(f"  PyTorch  {tw:.3f} s wall, {tc:.3f} s CPU (computation only, 1 thread, batch 1000)")
        print(f"  sortlens is {tw / ow:.1f}x faster by the wall clock, {tc / oc:.1f}x by CPU time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
