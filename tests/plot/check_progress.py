#!/usr/bin/env python3
"""check_progress.py: `sortlens plot progress` against `sortlens explain --json`.

Trains a tiny run (5 snapshots), explains it as JSON, plots its progress as
SVG, PNG and PDF, and checks: every point's <title> value in the SVG equals
explain's number for that snapshot (the curve's json_key; the whole-list
accuracy is the "clean" ablation row's); weight_norm equals the L2 norm of
the snapshot's tensors read straight from the safetensors file with PyTorch
(when it is installed); the PNG is a PNG of twice the SVG's size, the PDF a
PDF; a run with a malformed snapshot and a --model that is no run are
refused with a message naming the problem, not a crash."""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TINY = ["--list-len", "3", "--max-num", "6", "--d-model", "16", "--batch", "32", "--seed", "3",
        "--schedule", "constant"]
SVG = "{http://www.w3.org/2000/svg}"
KEYS = ["train_loss", "list_accuracy", "ov_copy_fraction", "top_source_correct", "attention_on_answer",
        "attention_after_mid", "qk_next_token_fraction", "weight_norm"]


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True)
    if ok and r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r


def expected(obj, key):
    if key == "list_accuracy":
        return next(a["list_accuracy"] for a in obj["ablations"] if a["name"] == "clean")
    return obj.get(key)   # train_loss is absent at step 0


def svg_points(path):
    """{group id: {step: value}} from the points' titles."""
    out = {}
    for g in ET.parse(path).getroot().iter(SVG + "g"):
        pts = out.setdefault(g.get("id"), {})
        for rect in g.iter(SVG + "rect"):
            t = rect.find(SVG + "title")
            m = re.fullmatch(r".* at step (\d+): (\S+)", t.text)
            if not m:
                sys.exit(f"{path}: a point's title reads {t.text!r}")
            pts[int(m.group(1))] = float(m.group(2))
    return out


def tensors_norm(path):
    """The L2 norm of every parameter (W_*, b_*: not the buffers mask and
    IGNORE) of a safetensors file, by PyTorch."""
    import torch
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    total = torch.zeros((), dtype=torch.float64)
    for name, t in header.items():
        if name == "__metadata__" or not name.split(".")[-1].startswith(("W_", "b_")):
            continue
        a, b = t["data_offsets"]
        assert t["dtype"] == "F32", t["dtype"]
        x = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).double()
        total += (x * x).sum()
    return math.sqrt(total.item())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sortlens", required=True)
    exe = ap.parse_args().sortlens
    with tempfile.TemporaryDirectory(prefix="sortlens-progress-") as d:
        run([exe, "train", "--out", f"{d}/r.safetensors", *TINY, "--steps", "200", "--snapshot-every", "50"])
        rd = f"{d}/r.run"
        ex = json.loads(run([exe, "explain", "--model", rd, "--lists", "40", "--json"]).stdout)
        steps = [o["step"] for o in ex]
        if steps != [0, 50, 100, 150, 200]:
            sys.exit(f"explain's steps: {steps}")
        run([exe, "plot", "progress", "--model", rd, "--lists", "40", "--out", f"{d}/p.svg"])
        pts = svg_points(f"{d}/p.svg")
        checked = 0
        for key in KEYS:
            got = pts.get(key)
            if got is None:
                sys.exit(f"no <g id={key!r}> in the SVG (groups: {sorted(pts)})")
            for o in ex:
                want = expected(o, key)
                if want is None:
                    if o["step"] in got:
                        sys.exit(f"{key} at step {o['step']}: drawn, but explain has none")
                    continue
                v = got.get(o["step"])
                if v is None or not math.isclose(v, want, rel_tol=1e-9, abs_tol=1e-12):
                    sys.exit(f"{key} at step {o['step']}: the figure says {v}, explain {want}")
                checked += 1
        try:
            import torch  # noqa: F401
            for o in ex:
                norm = tensors_norm(f"{rd}/step-{o['step']:07d}.safetensors")
                if not math.isclose(o["weight_norm"], norm, rel_tol=1e-6):
                    sys.exit(f"weight_norm at step {o['step']}: explain {o['weight_norm']}, PyTorch {norm}")
            torch_note = "weight_norm as PyTorch"
        except ImportError:
            torch_note = "SKIP weight_norm against PyTorch: torch is absent"
        run([exe, "plot", "progress", "--model", rd, "--lists", "40", "--out", f"{d}/p.png"])
        run([exe, "plot", "progress", "--model", rd, "--lists", "40", "--out", f"{d}/p.pdf"])
        with open(f"{d}/p.png", "rb") as f:
            png = f.read(32)
        if png[:8] != b"\x89PNG\r\n\x1a\n":
            sys.exit("p.png is no PNG")
        w, h = struct.unpack(">II", png[16:24])
        root = ET.parse(f"{d}/p.svg").getroot()
        sw, sh = int(root.get("width")), int(root.get("height"))
        if abs(w - 2 * sw) > 2 or abs(h - 2 * sh) > 2 or sw < 400:
            sys.exit(f"p.png is {w}x{h}, the SVG {sw}x{sh}")
        with open(f"{d}/p.pdf", "rb") as f:
            if f.read(5) != b"%PDF-":
                sys.exit("p.pdf is no PDF")
        # a malformed snapshot: refused, the file named, no crash (exit 1 or 2, not a signal)
        with open(f"{rd}/step-0000250.safetensors", "wb") as f:
            f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
        r = run([exe, "plot", "progress", "--model", rd, "--lists", "40", "--out", f"{d}/bad.svg"], ok=False)
        err = r.stderr.decode(errors="replace")
        if r.returncode not in (1, 2) or "step-0000250.safetensors" not in err or os.path.exists(f"{d}/bad.svg"):
            sys.exit(f"a malformed snapshot: exit {r.returncode}, {err!r}")
        r = run([exe, "plot", "progress", "--model", f"{d}/r.safetensors", "--out", f"{d}/x.svg"], ok=False)
        if r.returncode != 2 or b"run directory" not in r.stderr:
            sys.exit(f"a model file for progress: exit {r.returncode}, {r.stderr!r}")
    print(f"plot progress: {checked} points equal explain --json's; {torch_note}; PNG {w}x{h}, PDF")


if __name__ == "__main__":
    main()
