/* explain.c: every metric of `sortlens explain` in one struct (explain.h). */
#include "sortlens/explain.h"

#include <stdlib.h>
#include <string.h>

long sl_explain_work(long lists) { return lists * ABLATION_COUNT; }

/* The layer-0 head whose top key most often holds the answer: the one the
 * headline metrics describe (the only one in the seed model). */
static int primary_head(const SlExplainHead *hm, int H)
{
    int best = 0;
    for (int h = 1; h < H; h++)
        if (hm[h].att.top_source_correct > hm[best].att.top_source_correct)
            best = h;
    return best;
}

int sl_explain_compute(const Model *m, long lists, uint64_t seed, SlExplain *out, ProgressFn progress,
                       void *progress_ctx, SlError *err)
{
    const ModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, rc = 0;
    memset(out, 0, sizeof *out);
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "the number of lists must be at least 1 (got %ld)", lists);
    out->lists = lists;
    out->seed = seed;
    out->n_heads = L * H;
    out->heads = calloc((size_t)L * H, sizeof *out->heads);
    AttentionStats *att = calloc((size_t)L * H, sizeof *att);
    if (!out->heads || !att) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory for the explain metrics");
        goto fail;
    }
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            SlExplainHead *x = &out->heads[l * H + h];
            x->layer = l;
            x->head = h;
            if ((rc = circuit_ov_copy_count(m, l, h, &x->ov_hits, &x->ov_total, err)) ||
                (rc = circuit_qk_next_token_count(m, l, h, &x->qk_hits, &x->qk_total, err)))
                goto fail;
        }
    if ((rc = circuit_attention_stats(m, lists, seed, att, err)))
        goto fail;
    for (int i = 0; i < L * H; i++)
        out->heads[i].att = att[i];
    out->primary = primary_head(out->heads, H);
    if ((rc = circuit_ablation_table(m, lists, seed, out->ablations, progress, progress_ctx, err)))
        goto fail;
    free(att);
    return 0;
fail:
    free(att);
    sl_explain_free(out);
    return rc;
}

void sl_explain_free(SlExplain *x)
{
    if (!x)
        return;
    free(x->heads);
    x->heads = NULL;
    x->n_heads = 0;
}
