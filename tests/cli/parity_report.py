#!/usr/bin/env python3
"""parity_report.py: the worst errors of a sortlens binary against the PyTorch
reference tensors (../shared/reference/reference.safetensors), per tensor.

    parity_report.py --sortlens BIN --model SEED.pt --reference REF.safetensors [--markdown]

It drives only the command line (predict --teacher-forced --cache, predict,
circuit --format json), which is the same across versions, so that two builds
of different ages are measured by one script.  For each float tensor it prints
the largest absolute error and that error relative to the largest |reference|
value; for the decodes, how many of the 2,560 predictions differ.  A report,
not a test: it asserts nothing (the parity suites in tests/core do).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import safetensors_raw  # noqa: E402

DTYPES = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    return {name: np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(shape)
            for name, (dtype, shape, raw) in safetensors_raw.read(path)[0].items()}


def errors(got, ref):
    """(max |got - ref|, that / max |ref|, entries compared) over the finite
    reference entries; a -inf (masked) reference entry must be -inf in got."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise SystemExit(f"shape {got.shape} against the reference's {ref.shape}")
    finite = np.isfinite(ref)
    if not np.array_equal(np.isneginf(got), np.isneginf(ref)):
        return float("inf"), float("inf"), int(finite.sum())
    diff = np.abs(got[finite] - ref[finite])
    scale = np.abs(ref[finite]).max()
    worst = float(diff.max()) if diff.size else 0.0
    return worst, worst / scale if scale > 0 else 0.0, int(finite.sum())


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sortlens", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--markdown", action="store_true", help="print rows of a markdown table")
    a = ap.parse_args()
    ref = read_safetensors(a.reference)
    tokens = ref["tokens"]
    n = (tokens.shape[1] - 2) // 2
    lists = [" ".join(str(int(v)) for v in row[1:1 + n]) for row in tokens]
    rows = []

    # every hook of the first 4 lists, and logits and pattern of all 256
    caches = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, lst in enumerate(lists):
            out = os.path.join(tmp, f"c{i}.safetensors")
            run([a.sortlens, "predict", "--model", a.model, "--teacher-forced", "--cache", out, lst])
            c = read_safetensors(out)
            if not np.array_equal(c["tokens"][0], tokens[i]):
                raise SystemExit(f"list {i}: the cache's tokens are not the reference's")
            caches.append(c)
    for name in sorted(k for k in ref if k.startswith("cache4.")):
        hook = name[len("cache4."):]
        key = hook if hook in caches[0] else "blocks.0." + hook
        got = np.concatenate([c[key] for c in caches[:4]])
        rows.append((name, *errors(got, ref[name])))
    rows.append(("logits (256 lists)", *errors(np.concatenate([c["logits"] for c in caches]), ref["logits"])))
    rows.append(("pattern (256 lists)",
                 *errors(np.concatenate([c["blocks.0.attn.hook_pattern"] for c in caches]), ref["pattern"])))

    # the circuits (QK unscaled, as the reference holds them)
    for cname, rname in [("ov", "ov_token"), ("ov-pos", "ov_pos"), ("qk-token-token", "qk_token_token"),
                         ("qk-token-pos", "qk_token_pos"), ("qk-pos-token", "qk_pos_token"),
                         ("qk-pos-pos", "qk_pos_pos")]:
        j = json.loads(run([a.sortlens, "circuit", cname, "--model", a.model, "--format", "json"]))
        rows.append(("circuit." + rname, *errors(np.array(j["data"], dtype=np.float64), ref["circuit." + rname])))

    # the decodes: predictions that differ from PyTorch's
    text = "\n".join(lists) + "\n"
    decodes = []
    for flag, rname in [(["--teacher-forced"], "teacher_forced_argmax"), ([], "greedy")]:
        out = run([a.sortlens, "predict", "--model", a.model] + flag, stdin=text)
        got = np.array([[int(v) for v in line.split()] for line in out.splitlines()])
        decodes.append((rname, int((got != ref[rname]).sum()), got.size))

    for name, worst, rel, count in rows:
        if a.markdown:
            print(f"| {name} | {count} | {worst:.3g} | {rel:.3g} |")
        else:
            print(f"{name:32s} {count:8d} entries  max abs error {worst:.3g}  relative {rel:.3g}")
    for name, wrong, total in decodes:
        if a.markdown:
            print(f"| {name} | {total} | {wrong} differ | |")
        else:
            print(f"{name:32s} {total:8d} predictions, {wrong} differ from PyTorch's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
