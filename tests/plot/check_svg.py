#!/usr/bin/python3
"""check_svg.py: reads the SVG figures of `sortlens plot` as any script would
(xml.etree) and checks them against independent numbers.

  check_svg.py cells SVG GROUP N
      SVG parses; <g id=GROUP> holds N <rect>s, each with a <title> that ends
      in a number.
  check_svg.py parses SVG...
      Each SVG parses, its root is <svg>, and it holds at least one <rect>
      with a <title> that ends in a number.
  check_svg.py pytorch SORTLENS MODEL.pt REFERENCE.safetensors OUTDIR
      For the reference's first list (tokens[0], PyTorch's test batch), runs
      `sortlens plot attention` and `sortlens plot qk-combined` on the
      published model and compares every cell's <title> value with what
      PyTorch computed: the pattern [0, 0] to 1e-6 (masked cells 0), and the
      four QK circuits, placed as the combined matrix's blocks, to 1e-5 of
      the largest entry.
Exit status 0 when everything matches, 1 with a message otherwise.
"""
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import safetensors_raw  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("check_svg: " + msg)
    sys.exit(1)


def read_safetensors(path):
    """The reference file read by hand (safetensors_raw): {name: (shape, values)}."""
    out = {}
    for name, (dtype, shape, raw) in safetensors_raw.read(path)[0].items():
        code = {"F32": "f", "I64": "q"}[dtype]
        out[name] = (shape, struct.unpack("<%d%s" % (len(raw) // struct.calcsize(code), code), raw))
    return out


def cells(path, group):
    """[(title text, value)] of the <rect>s in <g id=group>, in order."""
    root = ET.parse(path).getroot()
    for g in root.iter(SVG + "g"):
        if g.get("id") == group:
            found = []
            for r in g.iter(SVG + "rect"):
                t = r.find(SVG + "title")
                if t is None:
                    fail("%s: a cell of %s has no <title>" % (path, group))
                m = re.search(r": (\S+?)( \(masked\))?$", t.text)
                if not m:
                    fail("%s: title '%s' has no value" % (path, t.text))
                found.append((t.text, float(m.group(1))))
            return found
    fail("%s: no <g id='%s'>" % (path, group))


def position(name, n):
    if name == "BOS":
        return 0
    if name == "MID":
        return n + 1
    if name[0] == "a":
        return int(name[1:])
    if name[0] == "b":
        return n + 1 + int(name[1:])
    fail("unknown position name " + name)


def check_pytorch(exe, model, reference, outdir):
    ref = read_safetensors(reference)
    (B, T), tokens = ref["tokens"]
    n = (T - 2) // 2
    values = tokens[1:n + 1]
    svg = outdir + "/plot-attention-pytorch.svg"
    subprocess.run([exe, "plot", "attention", "--model", model, "--list", " ".join(map(str, values)),
                    "--out", svg, "--force"], check=True)
    (_, _, Tq, Tk), pattern = ref["pattern"]
    got = cells(svg, "attention")
    if len(got) != T * T:
        fail("attention: %d cells, expected %d" % (len(got), T * T))
    worst = 0.0
    seen = set()
    for title, v in got:
        m = re.match(r"query (\w+)(=\S+)?, key (\w+)(=\S+)?: ", title)
        if not m:
            fail("attention: title '%s' does not name its query and key" % title)
        q, k = position(m.group(1), n), position(m.group(3), n)
        seen.add((q, k))
        worst = max(worst, abs(v - pattern[q * T + k]))   # first list, head 0
    if len(seen) != T * T:
        fail("attention: the titles name %d distinct cells, expected %d" % (len(seen), T * T))
    if worst > 1e-6:
        fail("attention: max |ours - PyTorch| = %.3g > 1e-6" % worst)
    print("attention: %d cells, max |ours - PyTorch pattern| = %.3g" % (len(got), worst))

    svg = outdir + "/plot-combined-pytorch.svg"
    subprocess.run([exe, "plot", "qk-combined", "--model", model, "--out", svg, "--force"], check=True)
    got = cells(svg, "qk-combined")
    V = ref["circuit.qk_token_token"][0][0]
    N = V + T
    if len(got) != N * N:
        fail("qk-combined: %d cells, expected %d" % (len(got), N * N))
    blocks = [("circuit.qk_token_token", 0, 0), ("circuit.qk_token_pos", 0, V),
              ("circuit.qk_pos_token", V, 0), ("circuit.qk_pos_pos", V, V)]
    full = [[None] * N for _ in range(N)]
    for name, r0, c0 in blocks:
        (rows, cols), data = ref[name]
        for r in range(rows):
            for c in range(cols):
                full[r0 + r][c0 + c] = data[r * cols + c]
    scale = max(abs(x) for row in full for x in row)
    worst = max(abs(v - full[i // N][i % N]) for i, (_, v) in enumerate(got))
    if worst > 1e-5 * scale:
        fail("qk-combined: max |ours - PyTorch| = %.3g > 1e-5 x %.3g" % (worst, scale))
    print("qk-combined: %d cells, max |ours - PyTorch circuits| = %.3g (largest entry %.3g)" % (len(got), worst, scale))


def parses(paths):
    for path in paths:
        root = ET.parse(path).getroot()
        if root.tag != SVG + "svg":
            fail("%s: the root is <%s>, not <svg>" % (path, root.tag))
        titled = [t for r in root.iter(SVG + "rect") for t in r.findall(SVG + "title")
                  if re.search(r": -?[0-9.]+(e[-+]?[0-9]+)?( \(masked\))?$", t.text or "")]
        if not titled:
            fail("%s: no cell with a titled value" % path)
        print("%s: parses, %d titled cells" % (path.rsplit("/", 1)[-1], len(titled)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "parses":
        parses(sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "cells":
        got = cells(sys.argv[2], sys.argv[3])
        if len(got) != int(sys.argv[4]):
            fail("%s: group %s has %d cells, expected %s" % (sys.argv[2], sys.argv[3], len(got), sys.argv[4]))
    elif len(sys.argv) == 6 and sys.argv[1] == "pytorch":
        check_pytorch(*sys.argv[2:])
    else:
        fail("usage: check_svg.py cells SVG GROUP N | parses SVG... | pytorch SORTLENS MODEL REFERENCE OUTDIR")


main()
