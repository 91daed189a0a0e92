#!/usr/bin/env python3
"""Population commands against PyTorch, on the committed stress sets.

For each file tests/data/stress/KIND.txt (written by `sortlens generate
--kind KIND --lists 500 --seed 11`; lists only, nothing derived from any
model), with the published model read at test time:

1. greedy parity: `sortlens predict --model SEED < FILE` against greedy
   decoding in PyTorch (a whole forward of the prefix per new token, as
   ../shared/reference/make_reference.py does it).  Outputs must be
   identical, except on a list where PyTorch's top two logits at the step
   that differs are within TIE of each other (an exact tie in float32 up to
   summation order); such lists are counted and printed;
2. breakdowns: `sortlens eval --input FILE --json` against the same counts
   computed here from PyTorch's teacher-forced argmaxes and greedy outputs:
   lists, tokens and lists right, per-position accuracy, first_wrong_position,
   and every bucket of by_multiplicity, by_largest_gap and by_span (buckets
   recomputed here from the lists with Python's own sorting);
4. explain: the eigenvalue copying score, the top singular values and
   their shares of the OV and QK token circuits' value blocks, the effective
   OV circuit's diagonal fraction (torch.linalg in float64), and the
   accuracy by kind against PyTorch's greedy decoding of the lists
   `sortlens generate` writes for that kind and seed.
3. means (uniform and gap files): `sortlens mean --input FILE --json`
   against PyTorch's mean pattern, the four QK score terms / sqrt(d_head)
   (whose sum is also checked against the mean hook_attn_scores), and the
   mean direct logit attribution pattern * (v W_O W_U[:, answer]);
5. ablations (uniform file), each written here as TransformerLens hooks:
   `eval --ablate` for head:0.0, mean:head:0.0, resample:head:0.0 and
   head:0.0@query=b3 (accuracy, per position, list accuracy, loss), and
   `mean --ablate` for qk:token-token, ov:pos, source:BOS and
   qk:pos-pos,head:0.0@query=b3 (the means of item 3 under them), and
   `predict --teacher-forced --ablate` and `predict --cache --ablate` for
   the four head ablations (argmaxes; the cached logits and hook_z).

Usage: /usr/bin/python3 population_torch_check.py --sortlens EXE --model SEED.pt --stress DIR
Exit 0 when everything agrees, 1 on a mismatch, 77 (skip) without torch or
the model.
"""
import argparse
import json
import math
import os
import subprocess
import sys

SKIP = 77
TIE = 1e-4          # logits this close count as a tie (float32 sums in another order)
MEAN_TOL = 2e-4     # means of float32 activations over 500 lists, relative to the largest entry

try:
    import torch
except ImportError:
    print("skipped: python3-torch is not installed")
    sys.exit(SKIP)

KINDS = ["uniform", "distinct", "pair", "triple", "cluster", "gap", "run", "constant"]
MULT = [("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4+", 4, 10**9)]
GAP = [("0-4", 0, 4), ("5-9", 5, 9), ("10-19", 10, 19), ("20+", 20, 10**9)]
SPAN = [("0-9", 0, 9), ("10-19", 10, 19), ("20-39", 20, 39), ("40+", 40, 10**9)]


def forward(tokens, sd, abl=None):
    """One layer, attention only (make_reference.py's forward); returns the
    logits and the layer-0 activations the means need.  abl (optional), as
    TransformerLens hooks would apply sortlens's ablations to every head:
      "terms_off"  QK term names removed from hook_attn_scores (their part,
                   from the W_E / W_pos split, subtracted);
      "ov_pos"     hook_v without W_pos and b_V;
      "block"      a key position masked for every query;
      "z"          (head, query or None, replacement [B, T, E] or None for 0):
                   hook_z of that head replaced at that query (or all)."""
    abl = abl or {}
    T = tokens.shape[1]
    E_tok, P = sd["embed.W_E"][tokens], sd["pos_embed.W_pos"][:T]
    x = E_tok + P
    a = "blocks.0.attn."
    q = torch.einsum("bpd,hde->bphe", x, sd[a + "W_Q"]) + sd[a + "b_Q"]
    k = torch.einsum("bpd,hde->bphe", x, sd[a + "W_K"]) + sd[a + "b_K"]
    if abl.get("ov_pos"):
        v = torch.einsum("bpd,hde->bphe", E_tok, sd[a + "W_V"])
    else:
        v = torch.einsum("bpd,hde->bphe", x, sd[a + "W_V"]) + sd[a + "b_V"]
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    if abl.get("terms_off"):
        terms = score_terms(tokens, sd)
        for name in abl["terms_off"]:
            scores = scores - terms[name]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    scores = scores.masked_fill(~causal, float("-inf"))
    if abl.get("block") is not None:
        scores[:, :, :, abl["block"]] = float("-inf")
    pattern = scores.softmax(-1)
    if abl.get("block") is not None:   # a query left without keys: a zero row (forward.h), not NaN
        pattern = torch.nan_to_num(pattern, nan=0.0)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    if abl.get("z"):
        h, query, repl = abl["z"]
        rows = slice(None) if query is None else slice(query, query + 1)
        z = z.clone()
        z[:, rows, h, :] = 0 if repl is None else repl[:, rows]
    x = x + torch.einsum("bqhe,hed->bqd", z, sd[a + "W_O"]) + sd[a + "b_O"]
    logits = x @ sd["unembed.W_U"] + sd["unembed.b_U"]
    return logits, scores, pattern, v


def score_terms(seq, sd):
    """Layer 0's four QK terms over sqrt(d_head), [B, H, T, T] each; the
    position side carries b_Q and b_K (tables.h)."""
    T = seq.shape[1]
    a = "blocks.0.attn."
    E = sd[a + "W_Q"].shape[-1]
    WE, Wpos = sd["embed.W_E"], sd["pos_embed.W_pos"][:T]
    qt = torch.einsum("bpd,hde->bhpe", WE[seq], sd[a + "W_Q"])
    kt = torch.einsum("bpd,hde->bhpe", WE[seq], sd[a + "W_K"])
    qp = torch.einsum("pd,hde->hpe", Wpos, sd[a + "W_Q"]) + sd[a + "b_Q"][:, None]
    kp = torch.einsum("pd,hde->hpe", Wpos, sd[a + "W_K"]) + sd[a + "b_K"][:, None]
    B, H = seq.shape[0], qt.shape[1]
    terms = {
        "token_token": torch.einsum("bhqe,bhke->bhqk", qt, kt),
        "token_pos": torch.einsum("bhqe,hke->bhqk", qt, kp),
        "pos_token": torch.einsum("hqe,bhke->bhqk", qp, kt),
        "pos_pos": torch.einsum("hqe,hke->hqk", qp, kp).expand(B, H, T, T),
    }
    return {k: t / math.sqrt(E) for k, t in terms.items()}


def read_lists(path):
    with open(path) as f:
        return [[int(t) for t in line.split()] for line in f if line.strip()]


def sequences(lists, V):
    n = len(lists[0])
    return torch.tensor([[V] + l + [V + 1] + sorted(l) for l in lists]), n


def greedy(sd, lists, V):
    """Greedy outputs [B, n] and, per list, the smallest top-2 logit gap seen
    along its own greedy path (for telling exact ties apart)."""
    seq, n = sequences(lists, V)
    tok = seq[:, :n + 2].clone()
    gaps = torch.full((len(lists),), float("inf"))
    for _ in range(n):
        logits, _, _, _ = forward(tok, sd)
        last = logits[:, -1]
        top2 = last.topk(2, dim=-1).values
        gaps = torch.minimum(gaps, top2[:, 0] - top2[:, 1])
        tok = torch.cat([tok, last.argmax(-1, keepdim=True)], 1)
    return tok[:, n + 2:], gaps


def bucket(table, x):
    for label, lo, hi in table:
        if lo <= x <= hi:
            return label
    raise ValueError(x)


def expected_eval(sd, lists, V, out):
    seq, n = sequences(lists, V)
    with torch.no_grad():
        logits, _, _, _ = forward(seq, sd)
    tf = logits[:, n + 1:2 * n + 1].argmax(-1)            # teacher-forced argmax [B, n]
    truth = seq[:, n + 2:]
    tf_right = (tf == truth)
    e = {"lists": len(lists), "tokens_right": int(tf_right.sum()),
         "per_position": tf_right.sum(0).tolist(), "first_wrong": [0] * n, "lists_right": 0,
         "buckets": {axis: {label: [0, 0, 0] for label, _, _ in table}
                     for axis, table in (("by_multiplicity", MULT), ("by_largest_gap", GAP), ("by_span", SPAN))}}
    for b, l in enumerate(lists):
        wrong = [i for i in range(n) if int(out[b, i]) != int(truth[b, i])]
        right = not wrong
        e["lists_right"] += right
        if wrong:
            e["first_wrong"][wrong[0]] += 1
        s = sorted(l)
        mult = max(l.count(x) for x in l)
        gap = max(s[i + 1] - s[i] for i in range(n - 1)) if n > 1 else 0
        for axis, table, x in (("by_multiplicity", MULT, mult), ("by_largest_gap", GAP, gap),
                               ("by_span", SPAN, s[-1] - s[0])):
            c = e["buckets"][axis][bucket(table, x)]
            c[0] += 1
            c[1] += right
            c[2] += int(tf_right[b].sum())
    return e


def run(cmd, stdin=None):
    r = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
        sys.exit(1)
    return r.stdout


def count(x, den):
    return round(x * den)


def check_eval(exe, model, path, sd, V, failures):
    lists = read_lists(path)
    n = len(lists[0])
    with torch.no_grad():
        out, gaps = greedy(sd, lists, V)
    # 1. greedy parity
    with open(path) as f:
        got = [[int(t) for t in line.split()] for line in run([exe, "predict", "--model", model], stdin=f).splitlines()]
    ties = 0
    for b, (g, l) in enumerate(zip(got, out.tolist())):
        if g != l:
            if gaps[b] < TIE:
                ties += 1
            else:
                failures.append(f"{path}: list {b + 1} {lists[b]}: sortlens {g}, PyTorch {l}")
    # 2. breakdowns; a list whose greedy path has a tie may count either way
    e = expected_eval(sd, lists, V, out)
    j = json.loads(run([exe, "eval", "--model", model, "--input", path, "--json"]))
    L = e["lists"]
    slack = ties
    def close(name, a, b):
        if abs(a - b) > slack:
            failures.append(f"{path}: {name}: sortlens {a}, PyTorch {b}")
    close("lists", j["lists"], L)
    close("tokens right", count(j["token_accuracy"], L * n), e["tokens_right"])
    close("lists right", count(j["list_accuracy"], L), e["lists_right"])
    for i in range(n):
        close(f"b{i + 1} right", count(j["per_position_accuracy"][i], L), e["per_position"][i])
        close(f"first wrong at b{i + 1}", j["first_wrong_position"][i], e["first_wrong"][i])
    for axis, buckets in e["buckets"].items():
        for label, (lists_in, right, tok_right) in buckets.items():
            g = j[axis][label]
            if g["lists"] != lists_in:
                failures.append(f"{path}: {axis} {label}: sortlens {g['lists']} lists, by hand {lists_in}")
            if lists_in == 0:
                if g["list_accuracy"] is not None or g["token_accuracy"] is not None:
                    failures.append(f"{path}: {axis} {label}: empty bucket without null accuracies")
                continue
            close(f"{axis} {label} lists right", count(g["list_accuracy"], lists_in), right)
            close(f"{axis} {label} tokens right", count(g["token_accuracy"], lists_in * n), tok_right)
    kind = os.path.basename(path)
    print(f"{kind:14s} {L} lists: greedy list accuracy {e['lists_right'] / L:.4f}, "
          f"{ties} tie{'s' if ties != 1 else ''}; sortlens {j['list_accuracy']:.4f}")


def check_mean(exe, model, path, sd, V, failures, spec=None, abl=None):
    """mean --input FILE [--ablate SPEC] against PyTorch's means of the
    (ablated) runs: the removed terms 0 where removed, dla_correct null where
    the head's output is replaced."""
    abl = abl or {}
    lists = read_lists(path)
    seq, n = sequences(lists, V)
    T = seq.shape[1]
    with torch.no_grad():
        _, scores, pattern, v = forward(seq, sd, abl)
        a = "blocks.0.attn."
        terms = score_terms(seq, sd)
        for name in abl.get("terms_off", ()):
            terms[name] = torch.zeros_like(terms[name])
        terms = {k: t.mean(0) for k, t in terms.items()}
        # DLA to the answer: pattern[q, k] * (v[k] W_O W_U[:, answer at q])
        u = torch.einsum("hed,dv->hev", sd[a + "W_O"], sd["unembed.W_U"])      # [H, E, Vo]
        vu = torch.einsum("bkhe,hev->bhkv", v, u)                                 # [B, H, T, Vo]
        dla = torch.full((pattern.shape[1], T, T), float("nan"), dtype=torch.float64)
        for q in range(n + 1, 2 * n + 1):
            ans = seq[:, q + 1]
            per = pattern[:, :, q, :] * vu[torch.arange(len(lists)), :, :, ans]   # [B, H, T]
            dla[:, q, :q + 1] = per[:, :, :q + 1].double().mean(0)
        if abl.get("z"):
            h, query, _ = abl["z"]
            dla[h, slice(None) if query is None else query] = float("nan")
        mean_scores = scores.masked_fill(torch.isinf(scores), 0).mean(0)
    cmd = [exe, "mean", "--model", model, "--input", path, "--json"] + (["--ablate", spec] if spec else [])
    j = json.loads(run(cmd))
    nan = float("nan")
    label = f"mean{' --ablate ' + spec if spec else ''}"
    def tensor(x):
        return torch.tensor([[[nan if c is None else c for c in row] for row in m] for m in x], dtype=torch.float64)
    def compare(name, got, want):
        mask = ~torch.isnan(want)
        if not torch.equal(mask, ~torch.isnan(got)):
            failures.append(f"{path}: {label} {name}: null where PyTorch has a number, or the reverse")
            return
        err = (got[mask] - want[mask]).abs().max().item()
        scale = max(want[mask].abs().max().item(), 1.0)
        ok = err <= MEAN_TOL * scale
        print(f"  {label} {name:12s} max |error| {err:.3g} (largest entry {scale:.3g}){'' if ok else '  FAIL'}")
        if not ok:
            failures.append(f"{path}: {label} {name}: max error {err:.3g}")
    if j["lists"] != len(lists):
        failures.append(f"{path}: mean over {j['lists']} lists, the file has {len(lists)}")
    compare("pattern", tensor(j["pattern"][0]), pattern.mean(0).double())
    total = None
    for k, t in terms.items():
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        want = t.double().masked_fill(~causal, nan)
        got = tensor(j["score_terms"][k])
        compare(k, got, want)
        total = got if total is None else total + got
    if abl.get("block") is None:   # a masked key's score is -inf; its terms stay
        compare("terms' sum", total, mean_scores.double().masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), nan))
    if spec and j.get("ablation") != spec:
        failures.append(f"{path}: {label}: \"ablation\" is {j.get('ablation')!r}")
    compare("dla_correct", tensor(j["dla_correct"]), dla)


MEAN_LISTS, MEAN_SEED = 1000, 12345          # SL_ABLATION_MEAN_LISTS, SL_ABLATION_MEAN_SEED (ablation.h)
RESAMPLE_STREAM = 0x726573616d706c65         # SL_ABLATION_RESAMPLE_STREAM


def clean_z(seq, sd):
    _, _, pattern, v = forward(seq, sd)
    return torch.einsum("bhqk,bkhe->bqhe", pattern, v)


def generated(exe, model, count, seed):
    """The random lists sortlens draws from seed, in order (generate's
    uniform kind is the training distribution's generator)."""
    text = run([exe, "generate", "--model", model, "--kind", "uniform", "--lists", str(count), "--seed", str(seed)])
    return [[int(t) for t in l.split()] for l in text.splitlines()]


def head_ablations(exe, model, sd, V, count, resample_seed=1):
    """(spec, abl) for head 0 of layer 0: zeroed, its mean, resampled, and
    zeroed at one query only."""
    n = (sd["pos_embed.W_pos"].shape[0] - 2) // 2
    with torch.no_grad():
        mseq, _ = sequences(generated(exe, model, MEAN_LISTS, MEAN_SEED), V)
        mean = clean_z(mseq, sd)[:, :, 0, :].double().mean(0).float()            # [T, E]
        rseq, _ = sequences(generated(exe, model, count, resample_seed ^ RESAMPLE_STREAM), V)
        other = clean_z(rseq, sd)[:, :, 0, :]                                      # [B, T, E]
    return [("head:0.0", {"z": (0, None, None)}),
            ("mean:head:0.0", {"z": (0, None, mean.expand(count, -1, -1))}),
            ("resample:head:0.0", {"z": (0, None, other)}),
            (f"head:0.0@query=b3", {"z": (0, n + 4, None)})]


def check_eval_ablated(exe, model, path, sd, V, failures):
    """eval --input FILE --ablate SPEC (head:, mean:head:, resample:head:)
    against the same ablation as hooks in PyTorch: teacher-forced accuracy,
    per position, loss, and list accuracy (every ablation here is causal, so
    a greedy list is right exactly when every teacher-forced value is)."""
    lists = read_lists(path)
    seq, n = sequences(lists, V)
    L = len(lists)
    for spec, abl in head_ablations(exe, model, sd, V, L):
        with torch.no_grad():
            logits, _, _, _ = forward(seq, sd, abl)
        pl = logits[:, n + 1:2 * n + 1]
        target = seq[:, n + 2:]
        right = pl.argmax(-1) == target
        top2 = pl.topk(2, dim=-1).values
        ties = int(((top2[..., 0] - top2[..., 1]) < TIE).sum())
        loss = -torch.log_softmax(pl.double(), -1).gather(-1, target.unsqueeze(-1)).mean().item()
        j = json.loads(run([exe, "eval", "--model", model, "--input", path, "--ablate", spec, "--json"]))
        got_tok, want_tok = count(j["token_accuracy"], L * n), int(right.sum())
        got_lists, want_lists = count(j["list_accuracy"], L), int(right.all(-1).sum())
        loss_err = abs(j["loss"] - loss) / max(loss, 1.0)
        per_ok = all(abs(count(j["per_position_accuracy"][i], L) - int(right[:, i].sum())) <= ties for i in range(n))
        ok = (abs(got_tok - want_tok) <= ties and abs(got_lists - want_lists) <= ties and loss_err < 1e-4 and per_ok
              and j.get("ablation") == spec)
        print(f"  eval --ablate {spec:18s} tokens right {got_tok} (PyTorch {want_tok}), lists right {got_lists} "
              f"(PyTorch {want_lists}), loss {j['loss']:.6f} (PyTorch {loss:.6f}, rel. error {loss_err:.2g}), "
              f"{ties} ties{'' if ok else '  FAIL'}")
        if not ok:
            failures.append(f"{path}: eval --ablate {spec}: sortlens {got_tok} tokens, {got_lists} lists, loss "
                            f"{j['loss']}; PyTorch {want_tok}, {want_lists}, {loss}")


def read_safetensors(path):
    """The F32 tensors of a safetensors file, by name (the format is an
    8-byte header length, a JSON header, then the data)."""
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[8 + hlen + a:8 + hlen + b]), dtype=torch.float32).reshape(t["shape"])
    return out, header.get("__metadata__", {})


def check_predict_ablated(exe, model, path, sd, V, failures, tmpdir):
    """predict --teacher-forced --ablate SPEC over the lists of FILE, and
    predict --cache --ablate SPEC of its first list, against the same
    ablations as hooks in PyTorch: the argmaxes (a near-tie may fall either
    way) and the cached logits and hook_z."""
    lists = read_lists(path)[:100]
    seq, n = sequences(lists, V)
    text = "".join(" ".join(map(str, l)) + "\n" for l in lists)
    for spec, abl in head_ablations(exe, model, sd, V, len(lists)):
        with torch.no_grad():
            logits, _, pattern, v = forward(seq, sd, abl)
        pl = logits[:, n + 1:2 * n + 1]
        top2 = pl.topk(2, dim=-1).values
        near = (top2[..., 0] - top2[..., 1]) < TIE
        r = subprocess.run([exe, "predict", "--model", model, "--teacher-forced", "--ablate", spec], input=text,
                           capture_output=True, text=True)
        got = torch.tensor([[int(t) for t in line.split()] for line in r.stdout.splitlines()]) if r.returncode == 0 else None
        bad = -1 if got is None or got.shape != pl.shape[:2] else int(((got != pl.argmax(-1)) & ~near).sum())
        # the cache of the first list: its logits and the ablated hook_z
        out = os.path.join(tmpdir, "cache.safetensors")
        run([exe, "predict", "--model", model, "--teacher-forced", "--ablate", spec, "--cache", out, "--force"]
            + [str(x) for x in lists[0]])
        cache, meta = read_safetensors(out)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)[:1].clone()
        h, query, repl = abl["z"]
        rows = slice(None) if query is None else slice(query, query + 1)
        z[:, rows, h, :] = 0 if repl is None else repl[:1, rows]
        lg = cache["logits"].reshape(logits[:1].shape)
        zc = cache["blocks.0.attn.hook_z"].reshape(z.shape)
        err_l = ((lg - logits[:1]).abs().max() / logits[:1].abs().max()).item()
        err_z = ((zc - z).abs().max() / max(z.abs().max().item(), 1.0)).item()
        ok = bad == 0 and err_l < 1e-4 and err_z < 1e-4 and meta.get("ablation") == spec
        print(f"  predict --ablate {spec:18s} {len(lists)} lists: {bad} argmaxes differ beyond near-ties; "
              f"--cache: logits {err_l:.2g}, hook_z {err_z:.2g} of their scale{'' if ok else '  FAIL'}")
        if not ok:
            failures.append(f"{path}: predict --ablate {spec}: {bad} argmaxes differ, cache errors {err_l}, {err_z}, "
                            f"ablation {meta.get('ablation')!r}")


def check_explain(exe, model, sd, V, failures):
    """explain's circuit spectra, effective OV and accuracy by kind against
    PyTorch (float64 from the float32 weights)."""
    lists_n = 200
    j = json.loads(run([exe, "explain", "--model", model, "--lists", str(lists_n), "--seed", "4", "--json"]))
    d = {k: v.double() for k, v in sd.items()}
    a = "blocks.0.attn."
    n = (d["pos_embed.W_pos"].shape[0] - 2) // 2
    WE = d["embed.W_E"][:V]
    for h in range(d[a + "W_Q"].shape[0]):
        got = j["heads"][h]
        ov = WE @ d[a + "W_V"][h] @ d[a + "W_O"][h] @ d["unembed.W_U"]                       # [Vo, Vo]
        ov_pos = (d["pos_embed.W_pos"] @ d[a + "W_V"][h] + d[a + "b_V"][h]) @ d[a + "W_O"][h] @ d["unembed.W_U"]
        eff = ov + ov_pos[1:n + 1].mean(0)
        eff_frac = (eff.argmax(-1) == torch.arange(V)).double().mean().item()
        eig = torch.linalg.eigvals(ov)
        score = (eig.sum().real / eig.abs().sum()).item()
        qk = WE @ d[a + "W_Q"][h] @ d[a + "W_K"][h].T @ WE.T
        want = {"ov_copying_score": [score], "effective_ov_diagonal_fraction": [eff_frac]}
        for name, m in (("ov", ov), ("qk", qk)):
            s_ = torch.linalg.svdvals(m)
            k = len(got[f"{name}_singular_values"])
            want[f"{name}_singular_values"] = s_[:k].tolist()
            want[f"{name}_singular_share"] = (s_[:k] ** 2 / (s_ ** 2).sum()).tolist()
        for key, w in want.items():
            g = got[key] if isinstance(got[key], list) else [got[key]]
            err = max(abs(x - y) / max(abs(y), 1e-3) for x, y in zip(g, w))
            ok = len(g) == len(w) and err < 1e-4
            print(f"  explain head {h} {key:32s} sortlens {g[0]:.6g}, PyTorch {w[0]:.6g}, max rel. error {err:.2g}"
                  f"{'' if ok else '  FAIL'}")
            if not ok:
                failures.append(f"explain head {h} {key}: sortlens {g}, PyTorch {w}")
    # accuracy by kind: the lists generate writes for the same kind and seed
    for kind in ("gap", "constant"):
        text = run([exe, "generate", "--model", model, "--kind", kind, "--lists", str(lists_n), "--seed", "4"])
        lists = [[int(t) for t in l.split()] for l in text.splitlines()]
        with torch.no_grad():
            out, _ = greedy(sd, lists, V)
        seq, _ = sequences(lists, V)
        right = (out == seq[:, n + 2:]).all(-1).sum().item()
        got = count(j["stress_accuracy"][kind]["list_accuracy"], lists_n)
        print(f"  explain accuracy on {kind}: sortlens {got}/{lists_n} lists, PyTorch {right}/{lists_n}")
        if got != right:
            failures.append(f"explain stress_accuracy {kind}: sortlens {got}, PyTorch {right}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sortlens", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--stress", required=True)
    args = ap.parse_args()
    if not os.path.exists(args.model):
        print(f"skipped: {args.model} is absent")
        sys.exit(SKIP)
    sd = {k: v for k, v in torch.load(args.model, map_location="cpu").items() if v.dtype == torch.float32}
    V = sd["unembed.W_U"].shape[1]
    failures = []
    for kind in KINDS:
        check_eval(args.sortlens, args.model, os.path.join(args.stress, kind + ".txt"), sd, V, failures)
    for kind in ("uniform", "gap"):
        print(f"{kind}:")
        check_mean(args.sortlens, args.model, os.path.join(args.stress, kind + ".txt"), sd, V, failures)
    uniform = os.path.join(args.stress, "uniform.txt")
    print("ablations (uniform):")
    check_eval_ablated(args.sortlens, args.model, uniform, sd, V, failures)
    n = (sd["pos_embed.W_pos"].shape[0] - 2) // 2
    mean_specs = [("qk:token-token", {"terms_off": ["token_token"]}),
                  ("ov:pos", {"ov_pos": True}),
                  ("source:BOS", {"block": 0}),
                  ("qk:pos-pos,head:0.0@query=b3", {"terms_off": ["pos_pos"], "z": (0, n + 4, None)})]
    for spec, abl in mean_specs:
        check_mean(args.sortlens, args.model, uniform, sd, V, failures, spec, abl)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="sortlens-poptorch-") as tmpdir:
        check_predict_ablated(args.sortlens, args.model, uniform, sd, V, failures, tmpdir)
    print("explain:")
    check_explain(args.sortlens, args.model, sd, V, failures)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} mismatch{'es' if len(failures) != 1 else ''}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
