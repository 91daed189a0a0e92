/* forward.c: the one forward pass that serves everything: the entry
 * points check the call, resolve the path and run it.  The parts live in
 * files named after them: ops.c (products, softmax, argmax), cache.c (the
 * activation cache and the hook table), intervention.c, forward_general.c
 * (any model, hooks, the KV-cached decode step), forward_tables.c (the
 * one-layer fast path) and tables.c (the tables it reads). */
#include "sortlens/forward.h"

#include "forward_internal.h"

#include <string.h>

int forward_resolve_path(const SlModel *m, SlForwardPath path, SlError *err)
{
    if (path == SL_FORWARD_AUTO)
        path = m->cfg.n_layers == 1 && m->tables ? SL_FORWARD_TABLES : SL_FORWARD_GENERAL;
    if (path == SL_FORWARD_TABLES) {
        if (m->cfg.n_layers != 1)
            return sl_error_set(err, SL_EINVAL, "the tables path needs a one-layer model; this one has %d layers",
                                m->cfg.n_layers);
        if (!m->tables)
            return sl_error_set(err, SL_EINVAL, "the tables path needs the model's tables (model_prepare)");
    } else if (path != SL_FORWARD_GENERAL) {
        return sl_error_set(err, SL_EINVAL, "unknown forward path %d", (int)path);
    }
    return path;
}

int forward_check_call(const SlModel *m, const int *tokens, int B, int T, const SlActCache *c, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    if (!c)
        return sl_error_set(err, SL_EINVAL, "forward without an activation cache");
    if (c->L != cfg->n_layers || c->H != cfg->n_heads || c->D != cfg->d_model || c->E != cfg->d_head ||
        c->Vo != cfg->d_vocab_out)
        return sl_error_set(err, SL_EINVAL, "the activation cache was made for another model shape");
    if (B < 1 || B > c->cap_B)
        return sl_error_set(err, SL_EINVAL, "forward of %d sequences; the cache holds 1..%d", B, c->cap_B);
    if (T < 1 || T > c->cap_T || T > cfg->n_ctx)
        return sl_error_set(err, SL_EINVAL, "forward of %d tokens; the cache holds 1..%d (n_ctx %d)", T, c->cap_T,
                            cfg->n_ctx);
    if (tokens)
        for (int i = 0; i < B * T; i++)
            if (tokens[i] < 0 || tokens[i] >= cfg->d_vocab)
                return sl_error_set(err, SL_EINVAL, "token %d at sequence %d, position %d is outside 0..%d", tokens[i],
                                    i / T, i % T, cfg->d_vocab - 1);
    return 0;
}
int sl_model_forward_hooked(const SlModel *m, const int *tokens, int B, int T, SlActCache *cache, const SlIntervention *iv,
                            SlForwardPath path, const SlHooks *hooks, SlError *err)
{
    int rc = forward_check_call(m, tokens, B, T, cache, err);
    if (rc)
        return rc;
    if ((rc = sl_intervention_validate(iv, &m->cfg, err)) || (rc = forward_hooks_validate(hooks, &m->cfg, err)))
        return rc;
    bool hooked = hooks && hooks->n > 0;
    if (hooked && path == SL_FORWARD_TABLES)
        return sl_error_set(err, SL_EINVAL, "hooks run on the general path only");
    int resolved = forward_resolve_path(m, hooked ? SL_FORWARD_GENERAL : path, err);
    if (resolved < 0)
        return resolved;
    cache->B = B;
    cache->T = T;
    iv = iv_or_none(iv);
    return resolved == SL_FORWARD_TABLES ? forward_tables(m, tokens, B, T, cache, iv, err)
                                      : forward_general(m, tokens, B, T, cache, iv, hooked ? hooks : NULL, err);
}

int sl_model_forward(const SlModel *m, const int *tokens, int B, int T, SlActCache *cache, const SlIntervention *iv,
                  SlForwardPath path, SlError *err)
{
    return sl_model_forward_hooked(m, tokens, B, T, cache, iv, path, NULL, err);
}

int forward_logits_rows(const SlModel *m, const int *tokens, int B, int T, int q0, int q1, SlActCache *c,
                        const SlIntervention *iv, SlForwardPath path, SlError *err)
{
    int rc = forward_check_call(m, tokens, B, T, c, err);
    if (rc)
        return rc;
    if ((rc = sl_intervention_validate(iv, &m->cfg, err)))
        return rc;
    if (q0 < 0 || q1 > T || q0 >= q1)
        return sl_error_set(err, SL_EINVAL, "logits of positions %d..%d of %d", q0, q1 - 1, T);
    int resolved = forward_resolve_path(m, path, err);
    if (resolved < 0)
        return resolved;
    const int Vo = m->cfg.d_vocab_out;
    if (resolved == SL_FORWARD_GENERAL) {   /* every layer below in full, the last at the rows */
        GeneralRows r;
        if ((rc = forward_general_rows(m, tokens, T, B, q0, q1, c, iv, &r, err)))
            return rc;
        c->B = B;
        c->T = T;
        for (int b = 0; b < B; b++)
            memcpy(c->logits + ((size_t)b * T + q0) * Vo, r.logits + (size_t)b * r.n * Vo, (size_t)r.n * Vo * sizeof(float));
        return 0;
    }
    c->B = B;
    c->T = T;
    TablesRun r;
    if ((rc = tables_run_begin(&r, m, T, c, iv, err)))
        return rc;
    for (int b = 0; b < B; b++) {
        tables_run_reset(&r);
        for (int qi = q0; qi < q1; qi++)
            tables_run_query(&r, tokens + (size_t)b * T, qi, c->logits + ((size_t)b * T + qi) * Vo);
    }
    return 0;
}

