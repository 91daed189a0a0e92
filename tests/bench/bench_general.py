#!/usr/bin/env python3
"""The general path (models of 2 layers x 2 heads and 4 x 4) against PyTorch,
on this machine, in this run, both sides alternating so that both see the
same load; prints CPU-time medians and their ratios.

For each shape:
1. a training step at batch 256: bench-general (in process: loss, gradient,
   AdamW) against bench_train.py --layers L --heads H (autograd and
   torch.optim.AdamW), each at 1 and at 2 threads, and the ratio of each at
   its best thread count;
2. the sgemm floor: the step's matrix products alone in cblas_sgemm
   (bench-general), and the step's time over it;
3. one forward of 256 lists keeping every activation: bench-general
   against bench_eval.py's forward;
4. `sortlens eval --lists 10000` of a freshly initialised model (greedy
   decoding costs the same whatever the weights) as a whole process, on
   every core and at one worker, against bench_eval.py's torch_eval
   (computation only, which favours it) at 1 and 2 threads.

CPU time is the steadier figure on a shared machine; the load is printed.
Usage: python3 bench_general.py --sortlens BUILD/sortlens --bench-general BUILD/tests/bench/bench-general
           [--shapes 2x2,4x4] [--repeats 3] [--lists 10000]
Exit status 77 (meson's "skipped") without torch.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "core"))
import bench_eval  # noqa: E402  (forward, torch_eval; sets one OpenBLAS thread for torch)

PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")


def child_cpu(cmd, env=None):
    """Runs cmd; returns (stdout, CPU seconds of the child)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime


def number(pattern, text):
    m = re.search(pattern, text)
    if not m:
        raise SystemExit(f"bench_general.py: no '{pattern}' in:\n{text}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sortlens", required=True)
    ap.add_argument("--bench-general", required=True)
    ap.add_argument("--shapes", default="2x2,4x4")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lists", type=int, default=10000)
    ap.add_argument("--torch-steps", type=int, default=10)
    args = ap.parse_args()
    torch = bench_eval.load_torch()
    torch.set_num_threads(1)
    from train_torch_check import read_safetensors
    med = statistics.median
    print(f"machine: {os.cpu_count()} cpus, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"torch {torch.__version__}")
    tmp = tempfile.mkdtemp()
    for shape in args.shapes.split(","):
        L, H = (int(x) for x in shape.split("x"))
        print(f"--- {L} layers x {H} heads, d_model 128, lists of 10 in 0..49")
        # 1-3: training step, floor, forward
        sl_step, sl_wall = {1: [], 2: []}, {1: [], 2: []}
        pt_step, pt_wall = {1: [], 2: []}, {1: [], 2: []}
        floor, sl_fwd = [], []
        for r in range(args.repeats):
            for th in (1, 2):
                env = dict(os.environ, OPENBLAS_NUM_THREADS=str(th))
                out, _ = child_cpu([args.bench_general, str(L), str(H), "256", "10", str(th)], env)
                sl_step[th].append(number(r"train step: ([0-9.]+) ms CPU", out))
                sl_wall[th].append(number(r"ms CPU, ([0-9.]+) ms wall", out))
                if th == 1:
                    floor.append(number(r"sgemm floor: ([0-9.]+) ms", out))
                    sl_fwd.append(number(r"forward, full cache: ([0-9.]+) ms", out))
                out, _ = child_cpu([PYTHON, os.path.join(HERE, "bench_train.py"), "--layers", str(L), "--heads",
                                    str(H), "--steps", str(args.torch_steps), "--warmup-steps", "2", "--threads",
                                    str(th)], dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th)))
                pt_step[th].append(number(r", ([0-9.]+) ms/step CPU", out))
                pt_wall[th].append(number(r": ([0-9.]+) ms/step wall", out))
        for th in (1, 2):
            print(f"train step, {th} thread{'s' if th > 1 else ''}: sortlens {med(sl_step[th]):.2f} ms CPU "
                  f"{med(sl_wall[th]):.2f} wall, PyTorch {med(pt_step[th]):.2f} ms CPU {med(pt_wall[th]):.2f} wall: "
                  f"{med(pt_step[th]) / med(sl_step[th]):.1f}x by CPU time, {med(pt_wall[th]) / med(sl_wall[th]):.1f}x "
                  f"by the wall clock")
        best_sl = min(med(sl_wall[1]), med(sl_wall[2]))
        best_pt = min(med(pt_wall[1]), med(pt_wall[2]))
        print(f"train step, each at its best thread count (wall clock): {best_pt / best_sl:.1f}x; "
              f"at 1 thread by CPU time: {med(pt_step[1]) / med(sl_step[1]):.1f}x (goal: 8x)")
        print(f"sgemm floor of the step's products: {med(floor):.2f} ms CPU; the step takes "
              f"{med(sl_step[1]) / med(floor):.2f}x the floor at 1 thread (goal: within 2x)")
        # PyTorch forward of 256 lists, every activation kept
        model = os.path.join(tmp, f"m{L}x{H}.safetensors")
        subprocess.run([args.sortlens, "train", "--out", model, "--steps", "0", "--layers", str(L), "--heads", str(H)],
                       check=True, capture_output=True)
        tensors, _ = read_safetensors(model)
        sd = {k: v for k, v in tensors.items() if v.dtype == torch.float32}
        torch.set_grad_enabled(False)
        x = torch.randint(0, 50, (256, 10), generator=torch.Generator().manual_seed(3))
        col = lambda v: torch.full((256, 1), v)
        tokens = torch.cat([col(50), x, col(51), x.sort(dim=-1).values], dim=-1)
        pt_fwd = []
        for r in range(args.repeats * 3):
            c0 = time.process_time()
            bench_eval.forward(torch, tokens, sd)
            pt_fwd.append((time.process_time() - c0) * 1e3)
        print(f"forward of 256 lists, full cache, 1 thread: sortlens {med(sl_fwd):.2f} ms CPU, PyTorch "
              f"{med(pt_fwd):.2f} ms CPU: {med(pt_fwd) / med(sl_fwd):.1f}x")
        # eval of 10,000 lists: sortlens on every core and held to one
        # worker, PyTorch at 1 thread here and at 2 in a process of its own
        ours, ours1, theirs, theirs2 = [], [], [], []
        for r in range(args.repeats):
            for runs, workers in ((ours, None), (ours1, "1")):
                env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
                if workers:
                    env["SORTLENS_THREADS"] = workers
                t0 = time.perf_counter()
                _, cpu = child_cpu([args.sortlens, "eval", "--model", model, "--lists", str(args.lists), "--json"], env)
                runs.append((time.perf_counter() - t0, cpu))
            t0, c0 = time.perf_counter(), time.process_time()
            bench_eval.torch_eval(torch, sd, args.lists)
            theirs.append((time.perf_counter() - t0, time.process_time() - c0))
            theirs2.append(bench_eval.torch_eval_in_child(model, args.lists, 2))
        wall = lambda runs: med([x[0] for x in runs])
        cpu = lambda runs: med([x[1] for x in runs])
        best_pt = min(wall(theirs), wall(theirs2))
        print(f"eval of {args.lists} lists: sortlens {wall(ours):.3f} s wall on every core, {wall(ours1):.3f} s wall "
              f"{cpu(ours1):.3f} s CPU at 1 worker (whole process); PyTorch {wall(theirs):.3f} s wall {cpu(theirs):.3f} "
              f"s CPU at 1 thread, {wall(theirs2):.3f} s wall at 2 (computation only)")
        print(f"eval, each at its best thread count (wall clock): {best_pt / wall(ours):.1f}x (goal for 2x2: 20x); "
              f"at 1 thread by CPU time: {cpu(theirs) / cpu(ours1):.1f}x")
        torch.set_grad_enabled(True)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
