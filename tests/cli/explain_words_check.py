#!/usr/bin/env python3
"""explain's words against its own figures (issue 17.3, 11.6).

For models whose figures fall on both sides of each claim (untrained
models from `sortlens train --steps 0`, one of 1 layer and 1 head and one
of 2 layers and 2 heads, and the bundled model), runs `sortlens explain` and
`sortlens explain --json` on the same lists and checks that no sentence
claims more than its figure shows:
  - "attending to x predicts x" (copying) only when the OV diagonal
    fraction is at least 0.9, and "it does not copy" only below 0.5;
  - "points most queries at the next larger value" only when the QK next
    value fraction is at least 0.5;
  - "reads the unsorted list ..., not its own output" only when less than
    0.1 of the attention falls after MID;
  - "as in a copying circuit" only when the copying score is at least 0.8;
  - "it holds the value to predict" (unqualified) only at 0.8 or more;
and that every figure the JSON has is the one the text prints.
Also checks the new figures are present in --json for every head.

Usage: python3 explain_words_check.py --sortlens EXE
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def heads_of(text):
    """The text of each 'Layer l, head h' block."""
    blocks = re.split(r"\nLayer (\d+), head (\d+)[^\n]*\n", text)
    return {(int(blocks[i]), int(blocks[i + 1])): blocks[i + 2].split("\n\n")[0] for i in range(1, len(blocks) - 2, 3)}


def line(block, label):
    """The figure line and the sentence line under it."""
    lines = block.splitlines()
    for i, l in enumerate(lines):
        if l.strip().startswith(label):
            nxt = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith(" " * 19) else ""
            return l + " " + nxt.strip()
    return ""   # an absent line fails below: its figure is not in it


def check(exe, model, failures):
    text = run([exe, "explain", "--model", model, "--lists", "40"])
    js = json.loads(run([exe, "explain", "--model", model, "--lists", "40", "--json"]))
    blocks = heads_of(text)
    if len(blocks) != len(js["heads"]):
        failures.append(f"{model}: {len(blocks)} head blocks in the text, {len(js['heads'])} in the JSON")
    for h in js["heads"]:
        b = blocks.get((h["layer"], h["head"]), "")
        where = f"{os.path.basename(model)} layer {h['layer']} head {h['head']}"
        for label in ("OV copies:", "Effective OV:", "Copying score:", "OV singular:", "QK next value:",
                      "QK singular:", "Top key right:", "Top input right:", "After MID:"):
            if not line(b, label):
                failures.append(f"{where}: no '{label}' line")
        for key in ("effective_ov_diagonal_fraction", "ov_copying_score", "ov_singular_values", "ov_singular_share",
                    "qk_singular_values", "qk_singular_share"):
            if key not in h:
                failures.append(f"{where}: --json lacks {key}")
        ov = line(b, "OV copies:")
        if f"({h['ov_copy_fraction']:.2f})" not in ov:
            failures.append(f"{where}: OV figure {h['ov_copy_fraction']} not in '{ov}'")
        if "predicts x" in ov and "not for all" not in ov and h["ov_copy_fraction"] < 0.9:
            failures.append(f"{where}: '{ov}' claims copying at {h['ov_copy_fraction']}")
        if "does not copy" in ov and h["ov_copy_fraction"] >= 0.5:
            failures.append(f"{where}: '{ov}' denies copying at {h['ov_copy_fraction']}")
        eff = line(b, "Effective OV:")
        if eff and f"({h.get('effective_ov_diagonal_fraction', -1):.2f})" not in eff:
            failures.append(f"{where}: effective OV figure not in '{eff}'")
        qk = line(b, "QK next value:")
        if "points most queries" in qk and h["qk_next_token_fraction"] < 0.5:
            failures.append(f"{where}: '{qk}' at {h['qk_next_token_fraction']}")
        if "a little larger than itself" in qk and h["qk_next_token_fraction"] < 0.5:
            failures.append(f"{where}: '{qk}' at {h['qk_next_token_fraction']}")
        mid = line(b, "After MID:")
        if f"{h['attention_after_mid']:.4f}" not in mid:
            failures.append(f"{where}: after-MID figure not in '{mid}'")
        if "reads the unsorted list" in mid and "not its own output" in mid and h["attention_after_mid"] >= 0.1:
            failures.append(f"{where}: '{mid}' at {h['attention_after_mid']}")
        cp = line(b, "Copying score:")
        if "copying circuit" in cp and "far from" not in cp and h.get("ov_copying_score", 0) < 0.8:
            failures.append(f"{where}: '{cp}' at {h['ov_copying_score']}")
        for label, key in (("Top key right:", "top_source_correct"), ("Top input right:", "top_input_correct")):
            t = line(b, label)
            if re.search(r"it holds the value to predict\.", t) and h[key] < 0.8:
                failures.append(f"{where}: '{t}' at {h[key]}")
    for kind in ("uniform", "distinct", "pair", "triple", "cluster", "gap", "run", "constant"):
        if kind not in js.get("stress_accuracy", {}):
            failures.append(f"{model}: --json stress_accuracy lacks {kind}")
        elif js["stress_accuracy"][kind] is not None and not re.search(rf"^\s+{kind}\s+\d", text, re.M):
            failures.append(f"{model}: the text has no accuracy row for {kind}")
    print(f"{os.path.basename(model)}: {len(js['heads'])} heads checked")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sortlens", required=True)
    args = ap.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        untrained = os.path.join(tmp, "steps0.safetensors")
        two = os.path.join(tmp, "l2.safetensors")
        run([args.sortlens, "train", "--steps", "0", "--out", untrained])
        run([args.sortlens, "train", "--steps", "0", "--layers", "2", "--heads", "2", "--out", two])
        for model in (untrained, two):
            check(args.sortlens, model, failures)
    src = os.environ.get("SORTLENS_SOURCE", ".")
    bundled = os.path.join(src, "data", "sortlens-default.safetensors")
    if os.path.exists(bundled):
        check(args.sortlens, bundled, failures)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failure{'s' if len(failures) != 1 else ''}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
