#!/usr/bin/env python3
"""This build against a baseline build and PyTorch, side by side, in one run.

Given the sortlens executable of an older commit (built in its own tree, e.g.
`git worktree add /tmp/base ddc3d79 && cd /tmp/base && meson setup build &&
ninja -C build`), measures, alternating old, new and PyTorch so that each
sees the same load:

1. `eval --lists N` of the model (teacher-forced + greedy), whole process,
   old and new (new on every core, and held to one worker), against
   bench_eval.py's PyTorch evaluation (batch 256, naive greedy) at 1 and 2
   threads, its best taken: goal at least 200x PyTorch;
2. a one-layer training step (batch 256, `train --steps S --threads 1`),
   old and new, against bench_train.py (PyTorch's autograd and AdamW, at 1
   and 2 threads, its best taken): goal at least 10x;
3. the explorer's key press (`sortlens tui --bench-frames F`, recompute +
   draw + screen update, run in a detached tmux of 160x48), old and new:
   goal a median within 20% of the old one;
4. train's held-out evaluation on long lists (`train --list-len 300
   --steps 1 --batch 4 --eval-lists 4`, whole process), old and new, beside
   `eval --lists 4` of the same model: train evaluates through the one
   evaluation, so the two should be about as fast (a train of its own,
   cubic in the list length, took 9.9 s against eval's 0.03 s).

Each figure is the median of --repeats runs; every line says wall clock and,
where it can, CPU time (steadier on a shared machine), and the ratios.

Usage: bench_baseline.py --new BUILD/sortlens --baseline OLD/sortlens --model SEED.pt
           [--lists 10000] [--repeats 3] [--train-steps 300] [--torch-steps 20] [--frames 2000]
           [--only eval|train|frames|heldout ...]
--baseline defaults to $SORTLENS_BASELINE (how `meson test --benchmark`
passes it).  Without either (or with one that does not exist), or without torch or
the model, it says so and exits 77 (meson's "skipped").
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
med = statistics.median


def timed(cmd, **kw):
    """Runs cmd; returns (wall seconds, CPU seconds of the child, stdout, stderr)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime, p.stdout, p.stderr


def medians(runs):
    """{name: [(wall, cpu), ...]} -> ({name: median wall}, {name: median cpu})."""
    return ({k: med([x[0] for x in v]) for k, v in runs.items()}, {k: med([x[1] for x in v]) for k, v in runs.items()})


def load():
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_eval(args, torch, sd):
    sys.path.insert(0, HERE)
    import bench_eval  # make_reference.py's forward and the naive greedy evaluation

    # sortlens's eval splits its lists over every core (SORTLENS_THREADS
    # unset); "new 1" is the same binary held to one worker.  PyTorch runs at
    # 1 thread here and at 2 in a process of its own; its best counts.
    runs = {"old": [], "new": [], "new 1": [], "torch": [], "torch 2": []}
    one = dict(os.environ, SORTLENS_THREADS="1")
    for r in range(args.repeats):
        for name, exe, env in (("old", args.baseline, None), ("new", args.new, None), ("new 1", args.new, one)):
            wall, cpu, _, _ = timed([exe, "eval", "--model", args.model, "--lists", str(args.lists), "--json"], env=env)
            runs[name].append((wall, cpu))
        t0, c0 = time.perf_counter(), time.process_time()
        bench_eval.torch_eval(torch, sd, args.lists)
        runs["torch"].append((time.perf_counter() - t0, time.process_time() - c0))
        runs["torch 2"].append(bench_eval.torch_eval_in_child(args.model, args.lists, 2))
        print(f"  eval run {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.3f} s ({v[-1][1]:.3f} s CPU)" for k, v in runs.items()),
              flush=True)
    w, c = medians(runs)
    best_torch = min(w["torch"], w["torch 2"])
    print(f"eval of {args.lists} lists, median of {args.repeats} (sortlens: whole process; PyTorch: computation only):")
    print(f"  old {w['old']:.3f} s ({c['old']:.3f} s CPU), new {w['new']:.3f} s ({c['new']:.3f} s CPU), "
          f"new at 1 worker {w['new 1']:.3f} s ({c['new 1']:.3f} s CPU), PyTorch {w['torch']:.2f} s at 1 thread, "
          f"{w['torch 2']:.2f} s at 2")
    print(f"  new vs old: {w['old'] / w['new']:.2f}x wall (1 worker: {w['old'] / w['new 1']:.2f}x), "
          f"{c['old'] / c['new 1']:.2f}x CPU at 1 worker; new vs PyTorch at its best thread count: "
          f"{best_torch / w['new']:.0f}x wall (goal: 200x); at 1 worker against 1 thread: "
          f"{w['torch'] / w['new 1']:.0f}x wall, {c['torch'] / c['new 1']:.0f}x CPU; "
          f"old vs PyTorch: {best_torch / w['old']:.0f}x wall")


def bench_train(args, tmp):
    runs = {"old": [], "new": []}
    torch_runs = []
    step_re = re.compile(r"\(([0-9.]+) ms/step\)")
    for r in range(args.repeats):
        for name, exe in (("old", args.baseline), ("new", args.new)):
            out = os.path.join(tmp, f"{name}.safetensors")
            _, cpu, text, _ = timed([exe, "train", "--out", out, "--steps", str(args.train_steps), "--threads", "1",
                                     "--eval-lists", "1"])
            m = step_re.search(text)
            runs[name].append((float(m.group(1)) if m else float("nan"), 1000 * cpu / args.train_steps))
            os.unlink(out)
        best = None
        for threads in (1, 2):
            text = timed([sys.executable, os.path.join(HERE, "bench_train.py"), "--steps", str(args.torch_steps),
                          "--warmup-steps", "3", "--threads", str(threads)])[2]
            m = re.search(r": ([0-9.]+) ms/step wall, ([0-9.]+) ms/step CPU", text)
            if m and (best is None or float(m.group(1)) < best[0]):
                best = (float(m.group(1)), float(m.group(2)), threads)
        torch_runs.append(best)
        print(f"  train run {r + 1}: old {runs['old'][-1][0]:.2f} ms/step, new {runs['new'][-1][0]:.2f} ms/step, "
              f"PyTorch {best[0]:.1f} ms/step ({best[2]} thread{'s' if best[2] > 1 else ''})", flush=True)
    w, c = medians(runs)
    tw, tc = med([x[0] for x in torch_runs]), med([x[1] for x in torch_runs])
    print(f"one training step, batch 256, median of {args.repeats} (sortlens 1 thread; CPU per step includes start-up "
          f"spread over {args.train_steps} steps):")
    print(f"  old {w['old']:.2f} ms ({c['old']:.2f} ms CPU), new {w['new']:.2f} ms ({c['new']:.2f} ms CPU), "
          f"PyTorch {tw:.1f} ms ({tc:.1f} ms CPU) at its best thread count")
    print(f"  new vs old: {w['old'] / w['new']:.2f}x wall; new vs PyTorch: {tw / w['new']:.1f}x wall, "
          f"{tc / c['new']:.1f}x CPU (goal: 10x)")


def frames(exe, model, n, tmp, size="160x48"):
    """One --bench-frames run in a detached tmux of size COLSxROWS; returns
    (median, p99) ms."""
    err = os.path.join(tmp, "frames.txt")
    session = f"sortlens-bench-{os.getpid()}"
    cmd = f"'{exe}' tui --model '{model}' --bench-frames {n} 2> '{err}'"
    cols, rows = size.split("x")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", cols, "-y", rows, cmd], check=True)
    deadline = time.time() + 600
    while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
        if time.time() > deadline:
            subprocess.run(["tmux", "kill-session", "-t", session])
            raise RuntimeError(f"{exe} tui --bench-frames did not finish in 600 s")
        time.sleep(0.2)
    text = open(err).read()
    m = re.search(r"median ([0-9.]+) ms, p99 ([0-9.]+) ms", text)
    if not m:
        raise RuntimeError(f"{exe} tui --bench-frames printed no figures: {text!r}")
    return float(m.group(1)), float(m.group(2))


def bench_frames(args, tmp):
    if not shutil.which("tmux"):
        print("key press: skipped (no tmux)")
        return
    runs = {"old": [], "new": []}
    for r in range(args.repeats):
        for name, exe in (("old", args.baseline), ("new", args.new)):
            runs[name].append(frames(exe, args.frames_model or args.model, args.frames, tmp, args.frames_size))
        print(f"  frames run {r + 1}: old median {runs['old'][-1][0]:.3f} ms p99 {runs['old'][-1][1]:.2f} ms, "
              f"new {runs['new'][-1][0]:.3f} ms p99 {runs['new'][-1][1]:.2f} ms", flush=True)
    mo, mn = med([x[0] for x in runs["old"]]), med([x[0] for x in runs["new"]])
    po, pn = med([x[1] for x in runs["old"]]), med([x[1] for x in runs["new"]])
    print(f"a key press in the explorer (recompute + redraw, {args.frames_size}, {args.frames} keys, "
          f"{args.frames_model or args.model}), median of {args.repeats} runs:")
    print(f"  median old {mo:.3f} ms, new {mn:.3f} ms: new/old {mn / mo:.2f} (goal: at most 1.20); "
          f"p99 old {po:.2f} ms, new {pn:.2f} ms")


def bench_heldout(args, tmp):
    runs = {"old": [], "new": [], "eval": []}
    model = os.path.join(tmp, "long.safetensors")
    for r in range(args.repeats):
        for name, exe in (("old", args.baseline), ("new", args.new)):
            wall, cpu, _, _ = timed([exe, "train", "--out", model, "--list-len", "300", "--steps", "1", "--batch", "4",
                                     "--eval-lists", "4", "--threads", "1"])
            runs[name].append((wall, cpu))
        runs["eval"].append(timed([args.new, "eval", "--model", model, "--lists", "4"])[:2])
        print(f"  held-out run {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.3f} s ({v[-1][1]:.3f} s CPU)"
                                                     for k, v in runs.items()), flush=True)
    w, c = medians(runs)
    print(f"train --list-len 300 --steps 1 --batch 4 --eval-lists 4 (whole process), median of {args.repeats}, beside "
          f"the new build's eval --lists 4 of that model:")
    print(f"  old {w['old']:.3f} s ({c['old']:.3f} s CPU), new {w['new']:.3f} s ({c['new']:.3f} s CPU), "
          f"eval {w['eval']:.3f} s ({c['eval']:.3f} s CPU)")
    print(f"  new vs old: {w['old'] / w['new']:.1f}x wall, {c['old'] / c['new']:.1f}x CPU; "
          f"new train / eval: {w['new'] / w['eval']:.2f} wall")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--new", required=True, help="this build's sortlens")
    ap.add_argument("--baseline", default=os.environ.get("SORTLENS_BASELINE"),
                    help="the baseline commit's sortlens (default: $SORTLENS_BASELINE)")
    ap.add_argument("--model", required=True, help="a one-layer model both builds read (the seed's .pt)")
    ap.add_argument("--lists", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--torch-steps", type=int, default=20)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--frames-model", help="the model the key-press runs open (default: --model)")
    ap.add_argument("--frames-size", default="160x48", help="the terminal of the key-press runs, COLSxROWS")
    ap.add_argument("--only", choices=["eval", "train", "frames", "heldout"], action="append",
                    help="run only these parts")
    args = ap.parse_args()
    if not args.baseline or not os.access(args.baseline, os.X_OK):
        print(f"skipped: no baseline executable (--baseline {args.baseline}); build one: "
              "git worktree add /tmp/base ddc3d79 && cd /tmp/base && meson setup build && ninja -C build")
        return SKIP
    if not os.path.exists(args.model):
        print(f"skipped: {args.model} is absent")
        return SKIP
    try:
        import torch
    except ImportError:
        print("skipped: python3-torch is not installed")
        return SKIP
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    sd = {k: v for k, v in torch.load(args.model, map_location="cpu").items() if v.dtype == torch.float32}
    for name, shape in (("b_Q", sd["blocks.0.attn.W_Q"].shape[::2]), ("b_K", sd["blocks.0.attn.W_Q"].shape[::2]),
                        ("b_V", sd["blocks.0.attn.W_Q"].shape[::2]), ("b_O", sd["blocks.0.attn.W_Q"].shape[1:2])):
        sd.setdefault("blocks.0.attn." + name, torch.zeros(shape))
    sd.setdefault("unembed.b_U", torch.zeros(sd["unembed.W_U"].shape[1]))
    kernels = subprocess.run([args.new, "info", "--model", args.model, "--json"], capture_output=True, text=True).stdout
    m = re.search(r'"corename": "([^"]*)"', kernels)
    print(f"machine: {os.cpu_count()} cpus, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].split(chr(10))[0].strip()}, "
          f"load {load()}; OpenBLAS kernels {m.group(1) if m else 'unknown'}; torch {torch.__version__}")
    print(f"old: {args.baseline}\nnew: {args.new}\nmodel: {args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        parts = args.only or ["eval", "train", "frames", "heldout"]
        if "eval" in parts:
            bench_eval(args, torch, sd)
        if "train" in parts:
            bench_train(args, tmp)
        if "frames" in parts:
            bench_frames(args, tmp)
        if "heldout" in parts:
            bench_heldout(args, tmp)
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
