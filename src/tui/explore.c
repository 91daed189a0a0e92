/* explore.c: the explorer's state and its recomputation through the
 * engine's one forward path (decode_greedy / decode_teacher_forced with an
 * Intervention), so that what the screen shows is what the tests check. */
#include "explore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sortlens/circuits.h"
#include "sortlens/tables.h"

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

/* Ranges of the six circuits of the head shown, for every scale, and the
 * published counts: computed once per head, not per frame (the percentile
 * sorts each matrix). */
static void circuit_ranges(Explorer *ex)
{
    const CircuitTables *t = ex->m->tables;
    memset(ex->qk_range, 0, sizeof ex->qk_range);
    memset(ex->ov_range, 0, sizeof ex->ov_range);
    memset(ex->robust_range, 0, sizeof ex->robust_range);
    ex->ov_copy_hits = ex->qk_next_hits = -1;
    int hits, total;
    if (circuit_ov_copy_count(ex->m, 0, ex->head, &hits, &total, NULL) == 0 && total == ex->Vo)
        ex->ov_copy_hits = hits;
    if (circuit_qk_next_token_count(ex->m, 0, ex->head, &hits, &total, NULL) == 0 && total == ex->Vo)
        ex->qk_next_hits = hits;
    if (!t)
        return;
    size_t V = (size_t)t->V, T = (size_t)t->T, Vo = (size_t)t->Vo, h = (size_t)ex->head;
    ex->qk_range[0] = max_abs_f(t->qk_tok_tok + h * V * V, V * V);
    ex->qk_range[1] = max_abs_f(t->qk_tok_pos + h * V * T, V * T);
    ex->qk_range[2] = max_abs_f(t->qk_pos_tok + h * T * V, T * V);
    ex->qk_range[3] = max_abs_f(t->qk_pos_pos + h * T * T, T * T);
    ex->ov_range[0] = max_abs_f(t->ov_tok + h * V * Vo, V * Vo);
    ex->ov_range[1] = max_abs_f(t->ov_pos + h * T * Vo, T * Vo);
    Scene sc;
    explorer_scene(ex, &sc);
    for (int v = 0; v < CV_COUNT; v++) {
        int rows, cols;
        float whole;
        scene_circuit_shape(&sc, v, &rows, &cols);
        ex->robust_range[v] = circuit_value_range(scene_circuit_data(&sc, v, &whole), rows, cols, v, ex->Vo);
    }
}

static void make_label(Explorer *ex, const char *label)
{
    const char *base = label ? strrchr(label, '/') : NULL;
    base = base ? base + 1 : label ? label : "model";
    text_sanitize(base, ex->label, sizeof ex->label);
}

Explorer *explorer_new(const Model *m, const char *label, uint64_t seed, SlError *err)
{
    Explorer *ex = calloc(1, sizeof *ex);
    if (!ex) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the explorer");
        return NULL;
    }
    const ModelConfig *c = &m->cfg;
    ex->m = m;
    ex->n = c->list_len;
    ex->T = c->n_ctx;
    ex->V = c->d_vocab;
    ex->Vo = c->d_vocab_out;
    ex->L = c->n_layers;
    ex->H = c->n_heads;
    ex->E = c->d_head;
    size_t n = (size_t)ex->n, T = (size_t)ex->T;
    ex->values = calloc(n, sizeof(int));
    ex->sorted = calloc(n, sizeof(int));
    ex->tokens = calloc(T, sizeof(int));
    ex->pred = calloc(n, sizeof(int));
    ex->base_pred = calloc(n, sizeof(int));
    ex->prob = calloc(n * (size_t)ex->Vo, sizeof(float));
    ex->pattern = calloc(T * T, sizeof(float));
    ex->scores = calloc(T * T, sizeof(float));
    if (!ex->values || !ex->sorted || !ex->tokens || !ex->pred || !ex->base_pred || !ex->prob || !ex->pattern ||
        !ex->scores) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the explorer");
        goto fail;
    }
    ex->cache = cache_new(c, 1, ex->T, err);
    if (!ex->cache)
        goto fail;
    intervention_init(&ex->iv);
    ex->greedy = true;
    ex->sel = ex->n + 1;
    ex->cursor = 0;
    ex->qk_view = CV_QK_TT;
    ex->ov_view = CV_OV_TOK;
    ex->focus_view = CV_QK_TT;
    ex->free_row = ex->free_col = ex->free_panel = -1;
    ex->circuit_scale = CS_ROW;
    make_label(ex, label);
    circuit_ranges(ex);
    rng_seed(&ex->rng, seed);
    task_random_list(c, &ex->rng, ex->values);
    return ex;
fail:
    explorer_free(ex);
    return NULL;
}

void explorer_free(Explorer *ex)
{
    if (!ex)
        return;
    cache_free(ex->cache);
    cache_free(ex->batch);
    free(ex->values);
    free(ex->sorted);
    free(ex->tokens);
    free(ex->pred);
    free(ex->base_pred);
    free(ex->prob);
    free(ex->pattern);
    free(ex->scores);
    free(ex);
}

/* The intervention as the engine takes it: layer 0, the head shown when the
 * model has several (so that one head can be studied alone). */
static const Intervention *active_iv(Explorer *ex)
{
    ex->iv.layer = 0;
    ex->iv.head = ex->H > 1 ? ex->head : -1;
    return intervention_is_none(&ex->iv) ? NULL : &ex->iv;
}

static int run(Explorer *ex, const Intervention *iv, int *pred, SlError *err)
{
    if (ex->greedy)
        return decode_greedy(ex->m, ex->values, 1, pred, ex->tokens, ex->cache, iv, err);
    task_make_tokens(&ex->m->cfg, ex->values, ex->tokens);
    return decode_teacher_forced(ex->m, ex->values, 1, pred, ex->cache, iv, err);
}

int explorer_recompute(Explorer *ex, SlError *err)
{
    double t0 = now_seconds();
    const Intervention *iv = active_iv(ex);
    int rc;
    task_sort_values(ex->n, ex->values, ex->sorted);
    ex->has_base = iv != NULL;
    if (iv && (rc = run(ex, NULL, ex->base_pred, err)) < 0)   /* first, so the cache keeps the intervened run */
        return rc;
    if ((rc = run(ex, iv, ex->pred, err)) < 0)
        return rc;
    const ActCache *c = ex->cache;
    int T = ex->T, Vo = ex->Vo, n = ex->n;
    if (c->T != T)
        return sl_error_set(err, SL_EFORMAT, "the forward covered %d positions, expected %d", c->T, T);
    /* probabilities at the n prediction positions: softmax of the logits [B=1, T, Vo] */
    for (int i = 0; i < n; i++) {
        const float *lg = c->logits + (size_t)(n + 1 + i) * Vo;
        float *p = ex->prob + (size_t)i * Vo;
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
    }
    /* pattern and scores of the head shown: [L, B=1, H, T, T] */
    size_t off = ((size_t)ex->layer * ex->H + (size_t)ex->head) * (size_t)T * T;
    memcpy(ex->pattern, c->pattern + off, (size_t)T * T * sizeof(float));
    memcpy(ex->scores, c->scores + off, (size_t)T * T * sizeof(float));
    ex->compute_seconds = now_seconds() - t0;
    return 0;
}

int explorer_set_list(Explorer *ex, const int *values, SlError *err)
{
    memcpy(ex->values, values, (size_t)ex->n * sizeof(int));
    int rc = explorer_recompute(ex, err);
    if (rc == 0)
        explorer_select(ex, ex->sel);
    return rc;
}

int explorer_set_list_text(Explorer *ex, const char *text, SlError *err)
{
    int *v = malloc((size_t)ex->n * sizeof(int));
    if (!v)
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    int rc = task_parse_list(&ex->m->cfg, text, v, err);
    if (rc == 0)
        rc = explorer_set_list(ex, v, err);
    free(v);
    return rc;
}

int explorer_random(Explorer *ex, SlError *err)
{
    int *v = malloc((size_t)ex->n * sizeof(int));
    if (!v)
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    task_random_list(&ex->m->cfg, &ex->rng, v);
    ex->message[0] = '\0';
    int rc = explorer_set_list(ex, v, err);
    free(v);
    return rc;
}

int explorer_find_wrong(Explorer *ex, SlError *err)
{
    const ModelConfig *c = &ex->m->cfg;
    int B = EXPLORE_FIND_BATCH, n = ex->n, rc = 0, found = -1;
    long tried = 0;
    if (!ex->batch && !(ex->batch = cache_new(c, B, ex->T, err)))
        return err ? err->code : SL_ENOMEM;
    int *vals = malloc((size_t)B * n * sizeof(int)), *out = malloc((size_t)B * n * sizeof(int));
    int *sorted = malloc((size_t)n * sizeof(int));
    if (!vals || !out || !sorted) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        goto done;
    }
    const Intervention *iv = active_iv(ex);
    while (tried < EXPLORE_FIND_MAX && found < 0) {
        for (int b = 0; b < B; b++)
            task_random_list(c, &ex->rng, vals + (size_t)b * n);
        rc = ex->greedy ? decode_greedy(ex->m, vals, B, out, NULL, ex->batch, iv, err)
                        : decode_teacher_forced(ex->m, vals, B, out, ex->batch, iv, err);
        if (rc < 0)
            goto done;
        for (int b = 0; b < B && found < 0; b++) {
            task_sort_values(n, vals + (size_t)b * n, sorted);
            if (memcmp(sorted, out + (size_t)b * n, (size_t)n * sizeof(int)) != 0) {
                found = b;
                tried += b + 1;
            }
        }
        if (found < 0)
            tried += B;
    }
    if (found >= 0) {
        rc = explorer_set_list(ex, vals + (size_t)found * n, err);
        if (rc == 0) {
            /* select the first wrong position, so that the screen opens on it */
            for (int i = 0; i < n; i++)
                if (ex->pred[i] != ex->sorted[i]) {
                    explorer_select(ex, n + 1 + i);
                    break;
                }
            snprintf(ex->message, sizeof ex->message, "found a list it gets wrong after %ld random lists", tried);
            ex->message_bad = false;
        }
    } else {
        snprintf(ex->message, sizeof ex->message, "no wrong list in %ld random lists", tried);
        ex->message_bad = false;
    }
done:
    free(vals);
    free(out);
    free(sorted);
    return rc < 0 ? rc : found >= 0;
}

void explorer_select(Explorer *ex, int query)
{
    if (query < ex->n + 1)
        query = ex->n + 1;
    if (query > 2 * ex->n)
        query = 2 * ex->n;
    ex->sel = query;
    /* the cursor goes to where this query looks most */
    const float *row = ex->pattern + (size_t)query * ex->T;
    int best = 0;
    for (int k = 1; k <= query; k++)
        if (row[k] > row[best])
            best = k;
    ex->cursor = best;
    ex->free_panel = -1;
}

void explorer_step(Explorer *ex, int delta) { explorer_select(ex, ex->sel + delta); }

void explorer_move_cursor(Explorer *ex, int delta) { explorer_set_cursor(ex, ex->cursor + delta); }

void explorer_set_cursor(Explorer *ex, int key)
{
    if (key < 0)
        key = 0;
    if (key > ex->T - 1)
        key = ex->T - 1;
    ex->cursor = key;
    ex->free_panel = -1;
}

void explorer_toggle_term(Explorer *ex, int term)
{
    if (term >= 0 && term < 4)
        ex->iv.qk_terms_off ^= 1u << term;
}

void explorer_toggle_ov_pos(Explorer *ex) { ex->iv.ov_drop_pos = !ex->iv.ov_drop_pos; }

void explorer_toggle_block(Explorer *ex)
{
    ex->iv.block_source = ex->iv.block_source == ex->cursor ? -1 : ex->cursor;
}

void explorer_clear_interventions(Explorer *ex)
{
    intervention_init(&ex->iv);
}

void explorer_cycle_view(Explorer *ex, int delta)
{
    ex->focus_view = ((ex->focus_view + delta) % CV_COUNT + CV_COUNT) % CV_COUNT;
    if (ex->focus_view <= CV_QK_PP)
        ex->qk_view = ex->focus_view;
    else
        ex->ov_view = ex->focus_view;
    ex->free_panel = -1;
}

void explorer_cycle_scale(Explorer *ex) { ex->circuit_scale = (ex->circuit_scale + 1) % CS_COUNT; }

void explorer_move_circuit_cursor(Explorer *ex, int drow, int dcol)
{
    Scene sc;
    explorer_scene(ex, &sc);
    int panel = ex->focus_view <= CV_QK_PP ? 0 : 1;
    int view = panel == 0 ? ex->qk_view : ex->ov_view, rows, cols, r, c;
    scene_circuit_shape(&sc, view, &rows, &cols);
    if (ex->free_panel == panel && ex->free_row >= 0 && ex->free_col >= 0) {
        r = ex->free_row;
        c = ex->free_col;
    } else {
        scene_circuit_marks(&sc, view, &r, &c);
        if (r < 0)
            r = 0;
        if (c < 0)
            c = 0;
    }
    r += drow;
    c += dcol;
    ex->free_row = r < 0 ? 0 : r >= rows ? rows - 1 : r;
    ex->free_col = c < 0 ? 0 : c >= cols ? cols - 1 : c;
    ex->free_panel = panel;
}

void explorer_set_head(Explorer *ex, int layer, int head)
{
    ex->layer = (layer % ex->L + ex->L) % ex->L;
    ex->head = (head % ex->H + ex->H) % ex->H;
    circuit_ranges(ex);
}

void explorer_scene(const Explorer *ex, Scene *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->n = ex->n;
    sc->T = ex->T;
    sc->Vo = ex->Vo;
    sc->V = ex->V;
    sc->L = ex->L;
    sc->H = ex->H;
    sc->E = ex->E;
    sc->model_label = ex->label;
    sc->values = ex->values;
    sc->sorted = ex->sorted;
    sc->tokens = ex->tokens;
    sc->greedy = ex->greedy;
    sc->pred = ex->pred;
    sc->prob = ex->prob;
    sc->base_pred = ex->has_base ? ex->base_pred : NULL;
    sc->layer = ex->layer;
    sc->head = ex->head;
    sc->pattern = ex->pattern;
    sc->scores = ex->scores;
    sc->show_scores = ex->show_scores;
    const CircuitTables *t = ex->m->tables;
    if (t) {
        size_t V = (size_t)t->V, T = (size_t)t->T, Vo = (size_t)t->Vo, h = (size_t)ex->head;
        sc->qk[CV_QK_TT] = t->qk_tok_tok + h * V * V;
        sc->qk[CV_QK_TP] = t->qk_tok_pos + h * V * T;
        sc->qk[CV_QK_PT] = t->qk_pos_tok + h * T * V;
        sc->qk[CV_QK_PP] = t->qk_pos_pos + h * T * T;
        sc->ov_tok = t->ov_tok + h * V * Vo;
        sc->ov_pos = t->ov_pos + h * T * Vo;
    }
    memcpy(sc->qk_range, ex->qk_range, sizeof sc->qk_range);
    memcpy(sc->ov_range, ex->ov_range, sizeof sc->ov_range);
    memcpy(sc->robust_range, ex->robust_range, sizeof sc->robust_range);
    sc->circuit_scale = ex->circuit_scale;
    sc->counts_known = true;
    sc->ov_copy_hits = ex->ov_copy_hits;
    sc->qk_next_hits = ex->qk_next_hits;
    sc->sel = ex->sel;
    sc->cursor = ex->cursor;
    sc->qk_off = ex->iv.qk_terms_off;
    sc->ov_drop_pos = ex->iv.ov_drop_pos;
    sc->block_source = ex->iv.block_source;
    sc->focus_view = ex->focus_view;
    sc->qk_view = ex->qk_view;
    sc->ov_view = ex->ov_view;
    sc->free_row = ex->free_row;
    sc->free_col = ex->free_col;
    sc->free_panel = ex->free_panel;
    sc->message = ex->message[0] ? ex->message : NULL;
    sc->message_bad = ex->message_bad;
}

void explorer_list_text(const Explorer *ex, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < ex->n && len + 1 < size; i++) {
        int k = snprintf(buf + len, size - len, i ? " %d" : "%d", ex->values[i]);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}
