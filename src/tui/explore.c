/* explore.c: the explorer's state and its recomputation through the core:
 * the one forward path (sl_decode_greedy / sl_decode_teacher_forced with an
 * SlIntervention), sl_circuit_score_terms for the four QK terms of every score,
 * sl_circuit_dla for what each source adds to a logit, sl_decode_top_k for the
 * runners-up and sl_circuit_get_kind for the circuits of the head shown, so
 * that what the screen shows is what the tests of the core check.
 *
 * Longer than 600 lines because the explorer's state is opaque: every
 * change to it (list, position, head, view, ablation, pair, history) is a
 * function here, next to the recomputation each one triggers. */
#include "explore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sortlens/ablation.h"
#include "sortlens/attribution.h"
#include "sortlens/circuits.h"

struct Explorer {
    const SlModel *m;          /* not owned */
    Scene sc;                /* what the screen shows; its pointers lead into the arrays below */
    SlActCache *cache;         /* one sequence: what the screen shows */
    SlActCache *batch;         /* EXPLORE_FIND_BATCH sequences, for `f` (made on first use) */

    int *values;             /* [n] the list */
    int *sorted;             /* [n] */
    int *tokens;             /* [T] the sequence shown */
    int *pred;               /* [n] */
    int *base_pred;          /* [n] without interventions */
    int *base_values;        /* [n] the list base_pred is of ... */
    bool base_greedy;        /* ... the mode ... */
    bool base_known;         /* ... and whether it is of the model shown (false after explorer_set_model) */
    float *prob;             /* [n, Vo] */
    int *top_idx;            /* [n, SCENE_TOPK] */
    double *top_prob;        /* [n, SCENE_TOPK] */
    float *pattern;          /* [T, T] layer, head shown */
    float *scores;           /* [T, T] */
    float *score_terms;      /* [SL_SCORE_TERMS, T, T] layer 0, head shown */
    float *dla;              /* [L, H, T] sl_attribute's sources (or sl_circuit_dla's) at the selected query */
    bool ov_absolute;        /* the per-source column shows the absolute logit, not the difference */
    int vs_pick;             /* the value the difference is taken against; -1: the runner-up */
    SlNamedMatrix *circuit[SCENE_VIEWS];   /* of the layer and head shown; the combined QK last */

    SlIntervention iv;         /* layer 0; head -1 (one-head model) or the head it was made on */
    SlRng rng;
    char label[128];
    char message[320];
    char ablation_text[SL_ABLATION_TEXT_MAX];   /* iv in the --ablate language */
    double compute_seconds;  /* the last recompute */
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float max_abs_f(const float *x, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > m)
            m = fabsf(x[i]);
    return m;
}

/* The six circuits of the layer and head shown, their ranges for every
 * scale, and the published counts: computed once per head, not per frame
 * (the percentile sorts each matrix).  A circuit that cannot be had (out of
 * memory) is drawn as absent. */
static void load_circuits(Explorer *ex)
{
    Scene *sc = &ex->sc;
    sc->ov_copy_hits = sc->qk_next_hits = -1;
    int hits, total;
    if (sl_circuit_ov_copy_count(ex->m, sc->layer, sc->head, &hits, &total, NULL) == 0 && total == sc->Vo)
        sc->ov_copy_hits = hits;
    if (sl_circuit_qk_next_token_count(ex->m, sc->layer, sc->head, &hits, &total, NULL) == 0 && total == sc->Vo)
        sc->qk_next_hits = hits;
    for (int k = 0; k < SL_CIRCUIT_COUNT; k++) {
        sl_named_matrix_free(ex->circuit[k]);
        SlNamedMatrix *nm = ex->circuit[k] = sl_circuit_get_kind(ex->m, (SlCircuitKind)k, sc->layer, sc->head, NULL);
        sc->circuit[k] = nm ? nm->data : NULL;
        sc->circuit_max[k] = nm ? max_abs_f(nm->data, (size_t)nm->rows * nm->cols) : 0;
        sc->robust_range[k] = nm ? circuit_value_range(nm->data, nm->rows, nm->cols, k, sc->Vo) : 0;
    }
    /* the four QK terms as one matrix (`F` twice), as `sortlens plot qk-combined` draws it */
    int k = SCENE_QK_COMBINED;
    sl_named_matrix_free(ex->circuit[k]);
    SlNamedMatrix *nm = ex->circuit[k] = sl_circuit_qk_combined(ex->m, sc->layer, sc->head, NULL);
    sc->circuit[k] = nm ? nm->data : NULL;
    sc->circuit_max[k] = nm ? max_abs_f(nm->data, (size_t)nm->rows * nm->cols) : 0;
    sc->robust_range[k] = nm ? circuit_value_range(nm->data, nm->rows, nm->cols, k, sc->Vo) : 0;
}

static void make_label(Explorer *ex, const char *label)
{
    const char *base = label ? strrchr(label, '/') : NULL;
    base = base ? base + 1 : label ? label : "model";
    render_text_sanitize(base, ex->label, sizeof ex->label);
}

Explorer *explorer_new(const SlModel *m, const char *label, uint64_t seed, SlError *err)
{
    Explorer *ex = calloc(1, sizeof *ex);
    if (!ex) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the explorer");
        return NULL;
    }
    const SlModelConfig *c = &m->cfg;
    Scene *sc = &ex->sc;
    ex->m = m;
    ex->vs_pick = -1;
    *sc = (Scene){.n = c->list_len, .T = c->n_ctx, .V = c->d_vocab, .Vo = c->d_vocab_out, .L = c->n_layers,
                  .H = c->n_heads, .E = c->d_head};
    size_t n = (size_t)sc->n, T = (size_t)sc->T;
    ex->values = calloc(n, sizeof(int));
    ex->sorted = calloc(n, sizeof(int));
    ex->tokens = calloc(T, sizeof(int));
    ex->pred = calloc(n, sizeof(int));
    ex->base_pred = calloc(n, sizeof(int));
    ex->base_values = calloc(n, sizeof(int));
    ex->prob = calloc(n * (size_t)sc->Vo, sizeof(float));
    ex->top_idx = calloc(n * SCENE_TOPK, sizeof(int));
    ex->top_prob = calloc(n * SCENE_TOPK, sizeof(double));
    ex->pattern = calloc(T * T, sizeof(float));
    ex->scores = calloc(T * T, sizeof(float));
    ex->score_terms = calloc(SL_SCORE_TERMS * T * T, sizeof(float));
    ex->dla = calloc((size_t)sc->L * sc->H * T, sizeof(float));
    if (!ex->values || !ex->sorted || !ex->tokens || !ex->pred || !ex->base_pred || !ex->base_values || !ex->prob || !ex->top_idx ||
        !ex->top_prob || !ex->pattern || !ex->scores || !ex->score_terms || !ex->dla) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the explorer");
        goto fail;
    }
    ex->cache = sl_cache_new(c, 1, sc->T, err);
    if (!ex->cache)
        goto fail;
    sl_intervention_init(&ex->iv);
    make_label(ex, label);
    sc->model_label = ex->label;
    sc->values = ex->values;
    sc->sorted = ex->sorted;
    sc->tokens = ex->tokens;
    sc->pred = ex->pred;
    sc->prob = ex->prob;
    sc->top_idx = ex->top_idx;
    sc->top_prob = ex->top_prob;
    sc->pattern = ex->pattern;
    sc->scores = ex->scores;
    sc->greedy = true;
    sc->sel = sc->n + 1;
    sc->block_source = -1;
    sc->iv_head = -1;
    sc->first_nonfinite = -1;
    sc->qk_view = sc->focus_view = SL_CIRCUIT_QK_TOKEN_TOKEN;
    sc->ov_view = SL_CIRCUIT_OV;
    sc->free_row = sc->free_col = sc->free_panel = -1;
    sc->circuit_scale = CS_ROW;
    sc->counts_known = true;
    load_circuits(ex);
    sl_rng_seed(&ex->rng, seed);
    sl_task_random_list(c, &ex->rng, ex->values);
    return ex;
fail:
    explorer_free(ex);
    return NULL;
}

void explorer_free(Explorer *ex)
{
    if (!ex)
        return;
    sl_cache_free(ex->cache);
    sl_cache_free(ex->batch);
    for (int k = 0; k < SCENE_VIEWS; k++)
        sl_named_matrix_free(ex->circuit[k]);
    free(ex->values);
    free(ex->sorted);
    free(ex->tokens);
    free(ex->pred);
    free(ex->base_pred);
    free(ex->base_values);
    free(ex->prob);
    free(ex->top_idx);
    free(ex->top_prob);
    free(ex->pattern);
    free(ex->scores);
    free(ex->score_terms);
    free(ex->dla);
    free(ex);
}

const Scene *explorer_scene(const Explorer *ex) { return &ex->sc; }

const SlModel *explorer_model(const Explorer *ex) { return ex->m; }

int explorer_set_model(Explorer *ex, const SlModel *m, const char *label, SlError *err)
{
    const SlModelConfig *a = &ex->m->cfg, *b = &m->cfg;
    if (a->list_len != b->list_len || a->n_ctx != b->n_ctx || a->d_vocab != b->d_vocab ||
        a->d_vocab_out != b->d_vocab_out || a->n_layers != b->n_layers || a->n_heads != b->n_heads ||
        a->d_head != b->d_head || a->d_model != b->d_model)
        return sl_error_set(err, SL_EFORMAT, "%s: its shape differs from the model shown", label ? label : "model");
    ex->m = m;
    ex->base_known = false;
    make_label(ex, label);
    load_circuits(ex);
    return explorer_recompute(ex, err);
}

/* The switches the scene shows, from the intervention. */
static void scene_switches(Explorer *ex)
{
    ex->sc.qk_off = ex->iv.qk_terms_off;
    ex->sc.ov_drop_pos = ex->iv.ov_drop_pos;
    ex->sc.block_source = ex->iv.block_source;
    ex->sc.iv_layer = ex->iv.layer;
    ex->sc.iv_head = ex->iv.head;
    SlAblation a;
    sl_ablation_from_intervention(&ex->iv, &ex->m->cfg, &a);
    if (sl_ablation_format(&a, &ex->m->cfg, ex->ablation_text, sizeof ex->ablation_text) < 0)
        ex->ablation_text[0] = '\0';
    ex->sc.ablation_text = ex->ablation_text;
}

static const SlIntervention *active_iv(const Explorer *ex)
{
    return sl_intervention_is_none(&ex->iv) ? NULL : &ex->iv;
}

const SlIntervention *explorer_intervention(const Explorer *ex) { return active_iv(ex); }

/* base_pred now holds the predictions without interventions of this list
 * and mode (rc 0), or nothing known (a failed run). */
static void base_keep(Explorer *ex, int rc)
{
    ex->base_known = rc == 0;
    ex->base_greedy = ex->sc.greedy;
    memcpy(ex->base_values, ex->values, (size_t)ex->sc.n * sizeof(int));
}

/* The predictions with iv into pred; shown: the cache and tokens then
 * hold this run, for the screen (else greedy decoding skips the forward
 * of the whole sequence that fills the cache). */
static int run(Explorer *ex, const SlIntervention *iv, int *pred, bool shown, SlError *err)
{
    if (ex->sc.greedy)
        return sl_decode_greedy(ex->m, ex->values, 1, pred, shown ? ex->tokens : NULL, ex->cache, iv, err);
    if (shown)
        sl_task_make_tokens(&ex->m->cfg, ex->values, ex->tokens);
    return sl_decode_teacher_forced(ex->m, ex->values, 1, pred, ex->cache, iv, err);
}

/* The predictions without interventions, which the strip compares with
 * the intervened ones: kept from the last run of this list, mode and
 * model, since switching an intervention changes none of them. */
static int base_run(Explorer *ex, SlError *err)
{
    size_t bytes = (size_t)ex->sc.n * sizeof(int);
    if (ex->base_known && ex->base_greedy == ex->sc.greedy && memcmp(ex->base_values, ex->values, bytes) == 0)
        return 0;
    int rc = run(ex, NULL, ex->base_pred, false, err);
    base_keep(ex, rc);
    return rc;
}

/* The value the per-source column compares the prediction at query index i
 * with: the one the user picked, else the runner-up (sl_decode_top_k's
 * second, as `sortlens attribute` takes it). */
static int compared_value(const Explorer *ex, int i)
{
    if (ex->vs_pick >= 0 && ex->vs_pick != ex->pred[i])
        return ex->vs_pick;
    const int *top = ex->top_idx + (size_t)i * SCENE_TOPK;   /* SCENE_TOPK >= 2 */
    return top[0] == ex->pred[i] ? top[1] : top[0];
}

/* What depends on the selected query: the source it attends to most, and
 * what each source adds through the head shown to the logit difference
 * between the predicted value and the compared one (sl_attribute), or to the
 * predicted value's logit itself (sl_circuit_dla) when ov_absolute. */
static void selection_readouts(Explorer *ex)
{
    Scene *sc = &ex->sc;
    const float *row = ex->pattern + (size_t)sc->sel * sc->T;
    int best = 0;
    for (int k = 1; k <= sc->sel; k++)
        if (row[k] > row[best])
            best = k;
    sc->top_source = best;
    int i = scene_pred_index(sc, sc->sel);
    sc->ov_src = NULL;
    sc->ov_value = i >= 0 ? ex->pred[i] : -1;
    sc->ov_vs = -1;
    if (i < 0)
        return;
    int vs = ex->ov_absolute ? -1 : compared_value(ex, i);
    int rc;
    if (vs >= 0 && vs != sc->ov_value) {
        SlAttribution at = {.sources = ex->dla};
        rc = sl_attribute(ex->m, ex->cache, 0, sc->sel, sc->ov_value, vs, &at, NULL);
        sc->ov_vs = vs;
    } else {
        float direct;
        rc = sl_circuit_dla(ex->m, ex->cache, 0, sc->sel, sc->ov_value, ex->dla, &direct, NULL);
    }
    if (rc == 0)
        sc->ov_src = ex->dla + ((size_t)sc->layer * sc->H + sc->head) * sc->T;
}

int explorer_recompute(Explorer *ex, SlError *err)
{
    double t0 = now_seconds();
    Scene *sc = &ex->sc;
    const SlIntervention *iv = active_iv(ex);
    int rc;
    scene_switches(ex);
    sl_task_sort_values(sc->n, ex->values, ex->sorted);
    sc->base_pred = iv ? ex->base_pred : NULL;
    if (iv && (rc = base_run(ex, err)) < 0)   /* first, so the cache keeps the intervened run */
        return rc;
    rc = run(ex, iv, ex->pred, true, err);
    if (!iv) {
        memcpy(ex->base_pred, ex->pred, (size_t)sc->n * sizeof(int));
        base_keep(ex, rc);
    }
    if (rc < 0)
        return rc;
    const SlActCache *c = ex->cache;
    int T = sc->T, Vo = sc->Vo, n = sc->n;
    if (c->T != T)
        return sl_error_set(err, SL_EFORMAT, "the forward covered %d positions, expected %d", c->T, T);
    /* at the n prediction positions: probabilities (softmax of the logits
     * [B=1, T, Vo]), the most probable values, and whether the logits are
     * numbers at all (finite weights can still overflow) */
    sc->nonfinite_logits = 0;
    sc->first_nonfinite = -1;
    for (int i = 0; i < n; i++) {
        const float *lg = c->logits + (size_t)(n + 1 + i) * Vo;
        float *p = ex->prob + (size_t)i * Vo;
        bool finite = true;
        for (int v = 0; v < Vo; v++)
            finite &= isfinite(lg[v]) != 0;
        if (!finite) {
            if (sc->nonfinite_logits++ == 0)
                sc->first_nonfinite = n + 1 + i;
            for (int v = 0; v < Vo; v++)
                p[v] = NAN;
            for (int k = 0; k < SCENE_TOPK; k++) {
                ex->top_idx[(size_t)i * SCENE_TOPK + k] = -1;
                ex->top_prob[(size_t)i * SCENE_TOPK + k] = NAN;
            }
            continue;
        }
        float mx = lg[0];
        for (int v = 1; v < Vo; v++)
            if (lg[v] > mx)
                mx = lg[v];
        double sum = 0;
        for (int v = 0; v < Vo; v++) {
            p[v] = expf(lg[v] - mx);
            sum += p[v];
        }
        for (int v = 0; v < Vo; v++)
            p[v] = (float)(p[v] / sum);
        int *idx = ex->top_idx + (size_t)i * SCENE_TOPK;
        double *pr = ex->top_prob + (size_t)i * SCENE_TOPK;
        int got = sl_decode_top_k(lg, Vo, SCENE_TOPK, idx, pr);
        for (int k = got; k < SCENE_TOPK; k++) {
            idx[k] = -1;
            pr[k] = 0;
        }
    }
    /* pattern and scores of the head shown: [L, B=1, H, T, T] */
    size_t off = ((size_t)sc->layer * sc->H + (size_t)sc->head) * (size_t)T * T;
    memcpy(ex->pattern, c->pattern + off, (size_t)T * T * sizeof(float));
    memcpy(ex->scores, c->scores + off, (size_t)T * T * sizeof(float));
    /* the four QK terms exist in layer 0, where the residual stream is W_E[t] + W_pos[p] */
    sc->score_terms = NULL;
    if (sc->layer == 0 && sl_circuit_score_terms(ex->m, sc->head, ex->tokens, T, ex->score_terms, NULL) == 0)
        sc->score_terms = ex->score_terms;
    selection_readouts(ex);
    ex->compute_seconds = now_seconds() - t0;
    return 0;
}

int explorer_set_list(Explorer *ex, const int *values, SlError *err)
{
    memcpy(ex->values, values, (size_t)ex->sc.n * sizeof(int));
    int rc = explorer_recompute(ex, err);
    if (rc == 0)
        explorer_select(ex, ex->sc.sel);
    return rc;
}

int explorer_set_list_text(Explorer *ex, const char *text, SlError *err)
{
    int *v = malloc((size_t)ex->sc.n * sizeof(int));
    if (!v)
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    int rc = sl_task_parse_list(&ex->m->cfg, text, v, err);
    if (rc == 0)
        rc = explorer_set_list(ex, v, err);
    free(v);
    return rc;
}

int explorer_random(Explorer *ex, SlError *err)
{
    int *v = malloc((size_t)ex->sc.n * sizeof(int));
    if (!v)
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    sl_task_random_list(&ex->m->cfg, &ex->rng, v);
    explorer_set_message(ex, false, NULL);
    int rc = explorer_set_list(ex, v, err);
    free(v);
    return rc;
}

int explorer_find_wrong(Explorer *ex, SlError *err)
{
    const SlModelConfig *c = &ex->m->cfg;
    int B = EXPLORE_FIND_BATCH, n = ex->sc.n, rc = 0, found = -1;
    long tried = 0;
    if (!ex->batch && !(ex->batch = sl_cache_new(c, B, ex->sc.T, err)))
        return err ? err->code : SL_ENOMEM;
    int *vals = malloc((size_t)B * n * sizeof(int)), *out = malloc((size_t)B * n * sizeof(int));
    int *sorted = malloc((size_t)n * sizeof(int));
    if (!vals || !out || !sorted) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        goto done;
    }
    const SlIntervention *iv = active_iv(ex);
    while (tried < EXPLORE_FIND_MAX && found < 0) {
        for (int b = 0; b < B; b++)
            sl_task_random_list(c, &ex->rng, vals + (size_t)b * n);
        rc = ex->sc.greedy ? sl_decode_greedy(ex->m, vals, B, out, NULL, ex->batch, iv, err)
                           : sl_decode_teacher_forced(ex->m, vals, B, out, ex->batch, iv, err);
        if (rc < 0)
            goto done;
        for (int b = 0; b < B && found < 0; b++) {
            sl_task_sort_values(n, vals + (size_t)b * n, sorted);
            if (memcmp(sorted, out + (size_t)b * n, (size_t)n * sizeof(int)) != 0) {
                found = b;
                tried += b + 1;
            }
        }
        if (found < 0)
            tried += B;
    }
    char note[128];
    if (found >= 0) {
        rc = explorer_set_list(ex, vals + (size_t)found * n, err);
        if (rc == 0) {
            /* select the first wrong position, so that the screen opens on it */
            for (int i = 0; i < n; i++)
                if (ex->pred[i] != ex->sorted[i]) {
                    explorer_select(ex, n + 1 + i);
                    break;
                }
            snprintf(note, sizeof note, "found a list it gets wrong after %ld random lists", tried);
            explorer_set_message(ex, false, note);
        }
    } else {
        snprintf(note, sizeof note, "no wrong list in %ld random lists", tried);
        explorer_set_message(ex, false, note);
    }
done:
    free(vals);
    free(out);
    free(sorted);
    return rc < 0 ? rc : found >= 0;
}

void explorer_select(Explorer *ex, int query)
{
    Scene *sc = &ex->sc;
    if (query < sc->n + 1)
        query = sc->n + 1;
    if (query > 2 * sc->n)
        query = 2 * sc->n;
    sc->sel = query;
    selection_readouts(ex);
    sc->cursor = sc->top_source;   /* the cursor goes to where this query looks most */
    sc->free_panel = -1;
}

void explorer_select_first_last(Explorer *ex, bool last) { explorer_select(ex, last ? 2 * ex->sc.n : ex->sc.n + 1); }

void explorer_step(Explorer *ex, int delta) { explorer_select(ex, ex->sc.sel + delta); }

void explorer_move_cursor(Explorer *ex, int delta) { explorer_set_cursor(ex, ex->sc.cursor + delta); }

void explorer_set_cursor(Explorer *ex, int key)
{
    if (key < 0)
        key = 0;
    if (key > ex->sc.T - 1)
        key = ex->sc.T - 1;
    ex->sc.cursor = key;
    ex->sc.free_panel = -1;
}

int explorer_toggle_greedy(Explorer *ex, SlError *err)
{
    ex->sc.greedy = !ex->sc.greedy;
    return explorer_recompute(ex, err);
}

/* Whether a switch may change the intervention from the head shown: the
 * interventions live on layer 0, on one head (all of a one-head model); a
 * switch on another head while some are active would silently move them. */
static bool may_intervene(Explorer *ex)
{
    const Scene *sc = &ex->sc;
    char note[320];
    if (sc->layer != 0) {
        explorer_set_message(ex, true, "interventions act on layer 0 (the QK terms and W_pos are layer 0's); { goes back");
        return false;
    }
    int head = sc->H > 1 ? sc->head : -1;
    if (sl_intervention_is_none(&ex->iv)) {
        ex->iv.layer = 0;
        ex->iv.head = head;
        return true;
    }
    if (ex->iv.head == head)
        return true;
    snprintf(note, sizeof note, "the interventions act on head %d (%.200s): [ ] goes back, x clears them", ex->iv.head,
             ex->ablation_text);
    explorer_set_message(ex, true, note);
    return false;
}

/* After a switch: an intervention set that became empty is scoped afresh. */
static int after_switch(Explorer *ex, SlError *err)
{
    if (sl_intervention_is_none(&ex->iv))
        sl_intervention_init(&ex->iv);
    explorer_set_message(ex, false, NULL);
    return explorer_recompute(ex, err);
}

int explorer_toggle_term(Explorer *ex, int term, SlError *err)
{
    if (term < 0 || term >= SL_SCORE_TERMS || !may_intervene(ex))
        return 0;
    ex->iv.qk_terms_off ^= 1u << term;
    return after_switch(ex, err);
}

int explorer_toggle_ov_pos(Explorer *ex, SlError *err)
{
    if (!may_intervene(ex))
        return 0;
    ex->iv.ov_drop_pos = !ex->iv.ov_drop_pos;
    return after_switch(ex, err);
}

int explorer_toggle_block(Explorer *ex, SlError *err)
{
    if (!may_intervene(ex))
        return 0;
    ex->iv.block_source = ex->iv.block_source == ex->sc.cursor ? -1 : ex->sc.cursor;
    return after_switch(ex, err);
}

int explorer_clear_interventions(Explorer *ex, SlError *err)
{
    sl_intervention_init(&ex->iv);
    explorer_set_message(ex, false, NULL);
    return explorer_recompute(ex, err);
}

int explorer_set_head(Explorer *ex, int layer, int head, SlError *err)
{
    Scene *sc = &ex->sc;
    sc->layer = (layer % sc->L + sc->L) % sc->L;
    sc->head = (head % sc->H + sc->H) % sc->H;
    load_circuits(ex);
    sc->free_panel = -1;
    int rc = explorer_recompute(ex, err);   /* the pattern, scores, terms and attribution of this head */
    if (rc == 0)
        explorer_select(ex, sc->sel);
    return rc;
}

void explorer_step_head(Explorer *ex, int dlayer, int dhead, SlError *err)
{
    explorer_set_head(ex, ex->sc.layer + dlayer, ex->sc.head + dhead, err);
}

void explorer_toggle_attribution(Explorer *ex)
{
    ex->ov_absolute = !ex->ov_absolute;
    selection_readouts(ex);
}

void explorer_step_compared(Explorer *ex, int delta)
{
    int i = scene_pred_index(&ex->sc, ex->sc.sel);
    ex->ov_absolute = false;
    if (delta == 0 || i < 0) {
        ex->vs_pick = -1;
    } else {
        int Vo = ex->sc.Vo, v = compared_value(ex, i);
        do
            v = ((v < 0 ? 0 : v) + delta + Vo) % Vo;
        while (v == ex->pred[i]);
        ex->vs_pick = v;
    }
    selection_readouts(ex);
}

void explorer_toggle_scores(Explorer *ex) { ex->sc.show_scores = !ex->sc.show_scores; }

void explorer_toggle_named_positions(Explorer *ex) { ex->sc.named_positions = !ex->sc.named_positions; }

static void focus_view(Explorer *ex, int view);

/* The order `c` cycles in: the four QK terms, then OV token and OV position. */
static const SlCircuitKind view_cycle[SL_CIRCUIT_COUNT] = {
    SL_CIRCUIT_QK_TOKEN_TOKEN, SL_CIRCUIT_QK_TOKEN_POS, SL_CIRCUIT_QK_POS_TOKEN, SL_CIRCUIT_QK_POS_POS, SL_CIRCUIT_OV, SL_CIRCUIT_OV_POS,
};

void explorer_cycle_view(Explorer *ex, int delta)
{
    Scene *sc = &ex->sc;
    int at = 0;
    while (at < SL_CIRCUIT_COUNT && (int)view_cycle[at] != sc->focus_view)
        at++;
    at = ((at + delta) % SL_CIRCUIT_COUNT + SL_CIRCUIT_COUNT) % SL_CIRCUIT_COUNT;
    focus_view(ex, view_cycle[at]);
}

void explorer_cycle_scale(Explorer *ex) { ex->sc.circuit_scale = (ex->sc.circuit_scale + 1) % CS_COUNT; }

void explorer_set_scale(Explorer *ex, int scale)
{
    if (scale >= 0 && scale < CS_COUNT)
        ex->sc.circuit_scale = scale;
}

void explorer_move_circuit_cursor(Explorer *ex, int panel, int view, int drow, int dcol)
{
    Scene *sc = &ex->sc;
    int rows, cols, r, c;
    scene_circuit_shape(sc, view, &rows, &cols);
    if (sc->free_panel == panel && sc->free_row >= 0 && sc->free_col >= 0) {
        r = sc->free_row;
        c = sc->free_col;
    } else {
        scene_circuit_marks(sc, view, &r, &c);
        if (r < 0)
            r = 0;
        if (c < 0)
            c = 0;
    }
    r += drow;
    c += dcol;
    sc->free_row = r < 0 ? 0 : r >= rows ? rows - 1 : r;
    sc->free_col = c < 0 ? 0 : c >= cols ? cols - 1 : c;
    sc->free_panel = panel;
}

void explorer_set_circuit_cell(Explorer *ex, int row, int col, int panel)
{
    ex->sc.free_row = row;
    ex->sc.free_col = col;
    ex->sc.free_panel = panel;
}

void explorer_set_message(Explorer *ex, bool bad, const char *text)
{
    snprintf(ex->message, sizeof ex->message, "%s", text ? text : "");
    ex->sc.message = ex->message[0] ? ex->message : NULL;
    ex->sc.message_bad = bad;
}

int explorer_set_ablation(Explorer *ex, const char *text, SlError *err)
{
    SlAblation a;
    SlIntervention iv;
    int rc = sl_ablation_parse(text, &ex->m->cfg, &a, err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < a.count; i++) {
        SlAblationKind k = a.spec[i].kind;
        if ((k != SL_ABLATE_QK && k != SL_ABLATE_OV_POS && k != SL_ABLATE_SOURCE) || a.spec[i].query >= 0)
            return sl_error_set(err, SL_EINVAL, "--ablate: the explorer switches qk:TERM, ov:pos and source:POS "
                                "(scoped @L.H at most); use predict or eval for the others");
    }
    if ((rc = sl_ablation_to_intervention(&a, &ex->m->cfg, NULL, &iv, err)) < 0)
        return rc;
    if (iv.layer != 0)
        return sl_error_set(err, SL_EINVAL, "--ablate: the explorer's interventions act on layer 0");
    if (ex->sc.H == 1)
        iv.head = -1;   /* a one-head model: head 0 is every head */
    ex->iv = iv;
    return explorer_recompute(ex, err);
}

void explorer_focus_view(Explorer *ex, int view) { focus_view(ex, view); }

static void focus_view(Explorer *ex, int view)
{
    Scene *sc = &ex->sc;
    sc->focus_view = view;
    if (circuit_kind_is_qk(view))
        sc->qk_view = view;
    else
        sc->ov_view = view;
    sc->free_panel = -1;
}

int explorer_open_at(Explorer *ex, long at, long source, int view, long layer, long head, bool teacher_forced,
                     SlError *err)
{
    Scene *sc = &ex->sc;
    if (at != 0 && (at < 1 || at > sc->n))
        return sl_error_set(err, SL_EINVAL, "--at %ld is outside 1..%d (the position that predicts b_K)", at, sc->n);
    if (source < -1 || source >= sc->T)
        return sl_error_set(err, SL_EINVAL, "--source %ld is outside 0..%d", source, sc->T - 1);
    if (layer < -1 || layer >= sc->L)
        return sl_error_set(err, SL_EINVAL, "--layer %ld is outside 0..%d", layer, sc->L - 1);
    if (head < -1 || head >= sc->H)
        return sl_error_set(err, SL_EINVAL, "--head %ld is outside 0..%d", head, sc->H - 1);
    int rc;
    if (teacher_forced && sc->greedy && (rc = explorer_toggle_greedy(ex, err)) < 0)
        return rc;
    if ((layer >= 0 || head >= 0) &&
        (rc = explorer_set_head(ex, layer >= 0 ? (int)layer : sc->layer, head >= 0 ? (int)head : sc->head, err)) < 0)
        return rc;
    if (at > 0)
        explorer_select(ex, sc->n + (int)at);   /* MID (n + 1) predicts b_1 */
    if (source >= 0)
        explorer_set_cursor(ex, (int)source);
    if (view >= 0 && view < SL_CIRCUIT_COUNT)
        focus_view(ex, view);
    return 0;
}

void explorer_state_args(const Explorer *ex, char *buf, size_t size)
{
    const Scene *sc = &ex->sc;
    char list[2048];
    explorer_list_text(ex, list, sizeof list);
    int len = snprintf(buf, size, "--list '%s' --at %d --source %d --view %s", list, sc->sel - sc->n, sc->cursor,
                       sl_circuit_kind_name((SlCircuitKind)sc->focus_view));
    if (len >= 0 && (size_t)len < size && (sc->L > 1 || sc->H > 1))
        len += snprintf(buf + len, size - (size_t)len, " --layer %d --head %d", sc->layer, sc->head);
    if (len >= 0 && (size_t)len < size && !sc->greedy)
        len += snprintf(buf + len, size - (size_t)len, " --teacher-forced");
    if (len >= 0 && (size_t)len < size && ex->ablation_text[0])
        snprintf(buf + len, size - (size_t)len, " --ablate '%s'", ex->ablation_text);
}

void explorer_list_text(const Explorer *ex, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < ex->sc.n && len + 1 < size; i++) {
        int k = snprintf(buf + len, size - len, i ? " %d" : "%d", ex->values[i]);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

double explorer_compute_seconds(const Explorer *ex) { return ex->compute_seconds; }
