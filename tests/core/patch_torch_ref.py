#!/usr/bin/env python3
"""PyTorch reference for sortlens's causal tools (patch, attribute, ablate).

A TransformerLens-style forward written by hand in torch (attn_only, no
layernorm), where every activation passes through a hook point named as
run_with_cache names it (hook_embed, blocks.0.attn.hook_q, ...); hooks may
replace it.  From that, by brute force:

  patch      for each pair: one forward of the corrupted list per (hook,
             position[, head]) with that activation taken from the clean
             run; the normalised logit difference; the four QK score terms
             per source (a hook on hook_attn_scores adds clean minus corrupt
             term); attribution patching with autograd (the gradient of LD
             at the corrupted run, dotted with clean minus corrupt).
  attribute  for each list: logit(target) - logit(vs) split into direct,
             per-source and bias parts, and the logit difference itself.
  ablate     teacher-forced accuracy and loss over given lists with a head's
             hook_z zeroed, replaced by a given mean, or taken from given
             other lists' clean runs.

Usage: patch_torch_ref.py MODEL.pt IN.json OUT.json
  IN.json: {"mode": "patch", "pairs": [{"clean": [...], "corrupt": [...], "at": K}]}
           {"mode": "attribute", "items": [{"list": [...], "at": K, "target": V, "vs": V}]}
           {"mode": "ablate", "kind": "zero"|"mean"|"resample", "layer": L, "head": H,
            "lists": [[...]], "mean_lists": [[...]], "resample_lists": [[...]]}
Exit 77 (skip) without torch.
"""
import json
import math
import sys

try:
    import torch
except ImportError:
    print("skipped: no torch in this python")
    sys.exit(77)

torch.set_grad_enabled(True)


class Model:
    def __init__(self, sd):
        self.sd = {k: v.float() for k, v in sd.items() if v.is_floating_point()}
        self.W_E = self.sd["embed.W_E"]
        self.W_pos = self.sd["pos_embed.W_pos"]
        self.W_U = self.sd["unembed.W_U"]
        self.b_U = self.sd.get("unembed.b_U", torch.zeros(self.W_U.shape[1]))
        self.L = 0
        while f"blocks.{self.L}.attn.W_Q" in self.sd:
            self.L += 1
        self.H, self.D, self.E = self.sd["blocks.0.attn.W_Q"].shape
        self.Vo = self.W_U.shape[1]
        self.T = self.W_pos.shape[0]
        self.n = (self.T - 2) // 2

    def p(self, l, name):
        key = f"blocks.{l}.attn.{name}"
        if key in self.sd:
            return self.sd[key]
        shape = {"b_Q": (self.H, self.E), "b_K": (self.H, self.E), "b_V": (self.H, self.E), "b_O": (self.D,)}[name]
        return torch.zeros(shape)

    def forward(self, tokens, hooks=None):
        """tokens [B, T]; hooks {name: fn(act) -> act or None}; returns logits
        and the cache of every activation (as they were after their hooks)."""
        hooks = hooks or {}
        cache = {}

        def hp(name, x):
            if name in hooks:
                y = hooks[name](x)
                if y is not None:
                    x = y
            cache[name] = x
            return x

        B, T = tokens.shape
        embed = hp("hook_embed", self.W_E[tokens])
        pos = hp("hook_pos_embed", self.W_pos[:T].unsqueeze(0).expand(B, T, self.D))
        resid = embed + pos
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        for l in range(self.L):
            pre = f"blocks.{l}."
            q = hp(pre + "attn.hook_q", torch.einsum("btd,hde->bthe", resid, self.p(l, "W_Q")) + self.p(l, "b_Q"))
            k = hp(pre + "attn.hook_k", torch.einsum("btd,hde->bthe", resid, self.p(l, "W_K")) + self.p(l, "b_K"))
            v = hp(pre + "attn.hook_v", torch.einsum("btd,hde->bthe", resid, self.p(l, "W_V")) + self.p(l, "b_V"))
            scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(self.E)
            scores = hp(pre + "attn.hook_attn_scores", torch.where(mask, scores, torch.tensor(-1e5)))
            pattern = hp(pre + "attn.hook_pattern", torch.softmax(scores, dim=-1))
            z = hp(pre + "attn.hook_z", torch.einsum("bhqk,bkhe->bqhe", pattern, v))
            attn_out = hp(pre + "hook_attn_out", torch.einsum("bqhe,hed->bqd", z, self.p(l, "W_O")) + self.p(l, "b_O"))
            resid = hp(pre + "hook_resid_post", resid + attn_out)
        return resid @ self.W_U + self.b_U, cache

    def tokens(self, values):
        vals = list(values)
        return torch.tensor([[self.Vo] + vals + [self.Vo + 1] + sorted(vals)])

    def score_terms(self, tok, h):
        """[4, T, T] unscaled terms of layer 0, head h (biases on the position side)."""
        W_Q, W_K = self.p(0, "W_Q")[h], self.p(0, "W_K")[h]
        qt, kt = self.W_E[tok[0]] @ W_Q, self.W_E[tok[0]] @ W_K
        qp, kp = self.W_pos @ W_Q + self.p(0, "b_Q")[h], self.W_pos @ W_K + self.p(0, "b_K")[h]
        return torch.stack([qt @ kt.T, qt @ kp.T, qp @ kt.T, qp @ kp.T])


def hook_names(m):
    names = ["hook_embed", "hook_pos_embed"]
    for l in range(m.L):
        names += [f"blocks.{l}.attn.hook_{x}" for x in ("q", "k", "v", "z", "pattern")]
        names += [f"blocks.{l}.hook_attn_out", f"blocks.{l}.hook_resid_post"]
    return names


def per_head(name):
    return ".attn.hook_" in name


def compose(base, extra):
    """Hooks of both dicts; where both hook a point, base's runs first."""
    out = dict(base)
    for name, f in extra.items():
        if name in base:
            out[name] = lambda x, f=f, g=base[name]: f(g(x))
        else:
            out[name] = f
    return out


def ablation_hooks(m, spec):
    """{"kind": "zero", "layer": L, "head": H}: head H's hook_z zeroed at every position."""
    if not spec:
        return {}
    h = spec["head"]

    def zero(z):
        z = z.clone()
        z[:, :, h, :] = 0
        return z
    return {f"blocks.{spec['layer']}.attn.hook_z": zero}


def patch_pair(m, pair, exact_only=False, ablate=None):
    n = m.n
    base = ablation_hooks(m, ablate)
    fwd = lambda tok, hooks=None: m.forward(tok, compose(base, hooks or {}))
    clean, corrupt, at = pair["clean"], pair["corrupt"], pair["at"]
    ca, ra = sorted(clean)[at - 1], sorted(corrupt)[at - 1]
    Q = n + at
    tc, tr = m.tokens(clean), m.tokens(corrupt)
    with torch.no_grad():
        lc, cc = fwd(tc)
        lr, cr = fwd(tr)
    ld = lambda logits: (logits[0, Q, ca] - logits[0, Q, ra]).item()
    ld_c, ld_r = ld(lc), ld(lr)
    norm = lambda x: (x - ld_r) / (ld_c - ld_r)
    T = m.T
    results, attributions = {}, {}
    # attribution: gradients at the corrupted run
    grads = {}

    def keep(name):
        def f(x):
            if x.requires_grad:
                x.retain_grad()   # keeps the graph: later hooks see this one's gradient flow
            else:
                x = x.detach().requires_grad_(True)
            grads[name] = x
            return x
        return f

    lg, _ = fwd(tr, {name: keep(name) for name in hook_names(m) + ["blocks.0.attn.hook_attn_scores"]})
    if not exact_only:
        (lg[0, Q, ca] - lg[0, Q, ra]).backward()
    for name in hook_names(m):
        g = grads[name].grad
        delta = cc[name] - cr[name]
        heads = m.H if per_head(name) else 1
        exact, attr = [], []
        trb = tr.expand(T, T)   # one corrupted copy per position, patched at that position
        for h in range(heads):
            def patch(x, h=h, name=name):
                x = x.clone()
                for pos in range(T):
                    if name.endswith("hook_pattern"):
                        x[pos, h, pos, :] = cc[name][0, h, pos, :]
                    elif per_head(name):
                        x[pos, pos, h, :] = cc[name][0, pos, h, :]
                    else:
                        x[pos, pos, :] = cc[name][0, pos, :]
                return x
            with torch.no_grad():
                lp, _ = fwd(trb, {name: patch})
            ex_row = [norm((lp[pos, Q, ca] - lp[pos, Q, ra]).item()) for pos in range(T)]
            at_row = []
            for pos in range(0 if exact_only else T):
                if name.endswith("hook_pattern"):
                    a = (g[:, h, pos, :] * delta[:, h, pos, :]).sum().item()
                elif per_head(name):
                    a = (g[:, pos, h, :] * delta[:, pos, h, :]).sum().item()
                else:
                    a = (g[:, pos, :] * delta[:, pos, :]).sum().item()
                at_row.append(a / (ld_c - ld_r))
            exact.append(ex_row)
            attr.append(at_row)
        results[name] = exact if per_head(name) else exact[0]
        attributions[name] = attr if per_head(name) else attr[0]
    if exact_only:
        return results
    # score terms of layer 0
    term_keys = ["token_token", "token_pos", "pos_token", "pos_pos"]
    st = {k: [] for k in term_keys}
    sta = {k: [] for k in term_keys}
    gs = grads["blocks.0.attn.hook_attn_scores"].grad
    for h in range(m.H):
        tcn, trn = m.score_terms(tc, h), m.score_terms(tr, h)
        for t, key in enumerate(term_keys):
            row, arow = [], []
            for s in range(T):
                if s > Q:
                    row.append(0.0)
                    arow.append(0.0)
                    continue
                d = (tcn[t, Q, s] - trn[t, Q, s]).item() / math.sqrt(m.E)

                def add(x, s=s, h=h, d=d):
                    x = x.clone()
                    x[0, h, Q, s] += d
                    return x
                with torch.no_grad():
                    lp, _ = fwd(tr, {"blocks.0.attn.hook_attn_scores": add})
                row.append(norm(ld(lp)))
                arow.append(gs[0, h, Q, s].item() * d / (ld_c - ld_r))
            st[key].append(row)
            sta[key].append(arow)
    return {"at": at, "clean_answer": ca, "corrupt_answer": ra, "ld_clean": ld_c, "ld_corrupt": ld_r,
            "results": results, "attribution": attributions, "score_terms": st, "score_terms_attribution": sta}


def attribute(m, item):
    tok = m.tokens(item["list"])
    Q = m.n + item["at"]
    t, vs = item["target"], item["vs"]
    with torch.no_grad():
        logits, c = m.forward(tok)
        u = m.W_U[:, t] - m.W_U[:, vs]
        direct = ((c["hook_embed"][0, Q] + c["hook_pos_embed"][0, Q]) @ u).item()
        bias = (m.b_U[t] - m.b_U[vs]).item() + sum((m.p(l, "b_O") @ u).item() for l in range(m.L))
        sources = []
        for l in range(m.L):
            v, pat, W_O = c[f"blocks.{l}.attn.hook_v"], c[f"blocks.{l}.attn.hook_pattern"], m.p(l, "W_O")
            sources.append([[(pat[0, h, Q, k] * (v[0, k, h] @ W_O[h] @ u)).item() if k <= Q else 0.0
                             for k in range(m.T)] for h in range(m.H)])
    return {"total": (logits[0, Q, t] - logits[0, Q, vs]).item(), "direct": direct, "bias": bias, "sources": sources}


def ablate(m, spec):
    l, h, kind = spec["layer"], spec["head"], spec["kind"]
    toks = torch.cat([m.tokens(x) for x in spec["lists"]])
    zname = f"blocks.{l}.attn.hook_z"
    with torch.no_grad():
        if kind == "zero":
            repl = torch.zeros(toks.shape[0], m.T, m.E)
        elif kind == "mean":
            mt = torch.cat([m.tokens(x) for x in spec["mean_lists"]])
            _, c = m.forward(mt)
            repl = c[zname][:, :, h, :].double().mean(0).float().unsqueeze(0).expand(toks.shape[0], m.T, m.E)
        else:
            rt = torch.cat([m.tokens(x) for x in spec["resample_lists"]])
            _, c = m.forward(rt)
            repl = c[zname][:, :, h, :]

        def f(z):
            z = z.clone()
            z[:, :, h, :] = repl
            return z
        logits, _ = m.forward(toks, {zname: f})
    n = m.n
    pred = logits[:, n + 1:2 * n + 1].argmax(-1)
    target = toks[:, n + 2:]
    lp = torch.log_softmax(logits[:, n + 1:2 * n + 1].double(), -1)
    loss = -lp.gather(-1, target.unsqueeze(-1)).mean().item()
    return {"token_accuracy": (pred == target).double().mean().item(), "loss": loss,
            "per_position_accuracy": (pred == target).double().mean(0).tolist()}


def main():
    model_path, in_path, out_path = sys.argv[1:4]
    sd = torch.load(model_path, map_location="cpu")
    m = Model(sd)
    with open(in_path) as f:
        job = json.load(f)
    if job["mode"] == "time":
        # seconds of one exact patch of the first pair (score terms and
        # attribution left out, as sortlens's exact figure), median of repeats
        import time
        times = []
        for _ in range(job.get("repeats", 5)):
            t0 = time.perf_counter()
            patch_pair(m, job["pairs"][0], exact_only=True)
            times.append(time.perf_counter() - t0)
        with open(out_path, "w") as f:
            f.write("%.9f\n" % sorted(times)[len(times) // 2])
        return
    if job["mode"] == "patch":
        out = [patch_pair(m, p, ablate=job.get("ablate")) for p in job["pairs"]]
    elif job["mode"] == "attribute":
        out = [attribute(m, it) for it in job["items"]]
    else:
        out = ablate(m, job)
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
