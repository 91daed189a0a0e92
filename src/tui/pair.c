/* pair.c: the clean / corrupted pair (pair.h). */
#include "pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int one_value_change(Pair *p, Explorer *ex, SlError *err)
{
    const Scene *sc = explorer_scene(ex);
    int *v = malloc((size_t)p->n * sizeof *v);
    if (!v)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the corrupted list");
    memcpy(v, p->clean, (size_t)p->n * sizeof *v);
    int i = (int)sl_rng_below(&p->rng, (uint32_t)p->n);
    /* another value than the clean one: 1..Vo-1 further on, wrapped */
    v[i] = (v[i] + 1 + (int)sl_rng_below(&p->rng, (uint32_t)(sc->Vo - 1))) % sc->Vo;
    int rc = explorer_set_list(ex, v, err);
    free(v);
    p->tried = false;
    return rc;
}

int pair_begin(Pair *p, const SlModel *m, Explorer *ex, uint64_t seed, SlError *err)
{
    const Scene *sc = explorer_scene(ex);
    pair_end(p);
    p->m = m;
    p->n = sc->n;
    p->clean = malloc((size_t)p->n * sizeof *p->clean);
    p->corrupt = malloc((size_t)p->n * sizeof *p->corrupt);
    p->tokens = malloc((size_t)sc->T * sizeof *p->tokens);
    if (!p->clean || !p->corrupt || !p->tokens) {
        pair_end(p);
        return sl_error_set(err, SL_ENOMEM, "out of memory for the clean list");
    }
    if (sc->Vo < 2) {
        pair_end(p);
        return sl_error_set(err, SL_EINVAL, "a model with one value has no corrupted list");
    }
    memcpy(p->clean, sc->values, (size_t)p->n * sizeof *p->clean);
    sl_rng_seed(&p->rng, seed);
    p->on = true;
    return one_value_change(p, ex, err);
}

int pair_randomise(Pair *p, Explorer *ex, SlError *err) { return one_value_change(p, ex, err); }

void pair_end(Pair *p)
{
    if (p->have)
        sl_patch_result_free(&p->result);
    free(p->clean);
    free(p->corrupt);
    free(p->tokens);
    *p = (Pair){0};
}

void pair_update(Pair *p, const Scene *sc)
{
    if (!p->on)
        return;
    int at = sc->sel - sc->n;   /* the query n + K predicts b_K */
    if (at < 1 || at > sc->n)
        at = 0;                 /* not a prediction position: the default K */
    if (p->tried && at == p->at_asked && memcmp(p->corrupt, sc->values, (size_t)p->n * sizeof *p->corrupt) == 0)
        return;
    if (p->have)
        sl_patch_result_free(&p->result);
    p->have = false;
    p->tried = true;
    p->at_asked = at;
    memcpy(p->corrupt, sc->values, (size_t)p->n * sizeof *p->corrupt);
    sl_task_make_tokens(&p->m->cfg, p->corrupt, p->tokens);
    SlError err = {0};
    memset(&p->result, 0, sizeof p->result);
    if (sl_patch(p->m, p->clean, p->corrupt, at, false, NULL, false, &p->result, &err) == 0) {
        p->have = true;
        p->at = p->result.at;
        p->error[0] = '\0';
    } else {
        p->at = at;
        int first;
        SlError e2 = {0};
        if (at > 0 && sl_patch_default_at(&p->m->cfg, p->clean, p->corrupt, &first, &e2) == 0 && first != at)
            snprintf(p->error, sizeof p->error, "b%d is the same in both sorted lists, so there is nothing to patch "
                     "there; the first that differs is b%d", at, first);
        else
            snprintf(p->error, sizeof p->error, "%s", at > 0 ? err.message : e2.message[0] ? e2.message : err.message);
    }
}

void pair_model_changed(Pair *p, const SlModel *m)
{
    if (!p->on)
        return;
    if (p->have)
        sl_patch_result_free(&p->result);
    p->have = false;
    p->tried = false;
    p->m = m;
}
