/* test_explorer.c: the explorer's readouts (src/tui/explore.c) on the
 * bundled model: the four QK terms of a score and what each source adds
 * through OV against the model's own tables by hand, the runners-up against
 * the probabilities, and the per-source column against `sortlens attribute`. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "explorer_fixture.h"
#include "sortlens/decode.h"
#include "sortlens/tables.h"
#include "test_util.h"

/* The explorer's readouts against the model's own tables, by hand: the four
 * QK terms of a score, what each source adds to the predicted logit through
 * OV (with and without W_pos), and the runners-up. */
START_TEST(test_explorer_readouts)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    SlError err = {0};
    Explorer *ex = f.ex;
    const Scene *sc = explorer_scene(ex);
    explorer_select(ex, sc->n + 3);   /* b2 */
    const SlCircuitTables *tb = f.m->tables;
    ck_assert_ptr_nonnull(tb);
    int NV = tb->V, TT = tb->T, Vo = tb->Vo, q = sc->sel;
    float t[4];
    for (int k = 0; k <= q; k++) {
        int tq = sc->tokens[q], tk = sc->tokens[k];
        ck_assert(scene_score_terms_at(sc, q, k, t));
        ck_assert_float_eq(t[0], tb->qk_tok_tok[tq * NV + tk]);
        ck_assert_float_eq(t[1], tb->qk_tok_pos[tq * TT + k]);
        ck_assert_float_eq(t[2], tb->qk_pos_tok[q * NV + tk]);
        ck_assert_float_eq(t[3], tb->qk_pos_pos[q * TT + k]);
    }
    /* OV, the absolute logit (d): pattern times (ov_tok[t_k, value] + ov_pos[k, value]); 0 past the query */
    explorer_toggle_attribution(ex);
    ck_assert_int_eq(sc->ov_vs, -1);
    int value = sc->pred[scene_pred_index(sc, q)];
    ck_assert_ptr_nonnull(sc->ov_src);
    ck_assert_int_eq(sc->ov_value, value);
    for (int k = 0; k < sc->T; k++) {
        float want = k > q ? 0.0f : sc->pattern[q * sc->T + k] *
                                        (tb->ov_tok[sc->tokens[k] * Vo + value] + tb->ov_pos[k * Vo + value]);
        ck_assert_float_eq_tol(sc->ov_src[k], want, 1e-3f + 1e-4f * fabsf(want));
    }
    ck_assert_int_eq(explorer_toggle_ov_pos(ex, &err), 0);   /* W_pos out of OV: ov_tok alone */
    explorer_select(ex, q);
    value = sc->pred[scene_pred_index(sc, q)];
    for (int k = 0; k <= q; k++) {
        float want = sc->pattern[q * sc->T + k] * tb->ov_tok[sc->tokens[k] * Vo + value];
        ck_assert_float_eq_tol(sc->ov_src[k], want, 1e-3f + 1e-4f * fabsf(want));
    }
    /* the runners-up: the most probable first, their probabilities those of prob[] */
    for (int i = 0; i < sc->n; i++) {
        ck_assert_int_eq(sc->top_idx[i * SCENE_TOPK], sc->pred[i]);
        for (int k = 0; k < SCENE_TOPK; k++) {
            int v = sc->top_idx[i * SCENE_TOPK + k];
            ck_assert_int_ge(v, 0);
            ck_assert_float_eq_tol(sc->top_prob[i * SCENE_TOPK + k], sc->prob[i * Vo + v], 1e-6);
            if (k)
                ck_assert(sc->top_prob[i * SCENE_TOPK + k] <= sc->top_prob[i * SCENE_TOPK + k - 1]);
            for (int u = 0; u < Vo && k == 0; u++)
                ck_assert(sc->prob[i * Vo + u] <= sc->top_prob[i * SCENE_TOPK] + 1e-6);
        }
    }
    explorer_fixture_close(&f);
}
END_TEST

/* `sortlens attribute LIST --at K [--vs V] --json`'s sources[layer][head], parsed
 * into src[T]; its vs into *vs.  False (and a message) when it fails. */
static bool cli_attribution(const char *list, int at, int vs_pick, int layer, int head, float *src, int n_pos, int *vs)
{
    char at_s[16], vs_s[16];
    snprintf(at_s, sizeof at_s, "%d", at);
    snprintf(vs_s, sizeof vs_s, "%d", vs_pick);
    char *args[] = {"attribute", "--model", (char *)bundled_model_path(), "--at", at_s, "--json", (char *)list,
                    vs_pick >= 0 ? "--vs" : NULL, vs_s, NULL};
    char *out = NULL, *errtext = NULL;
    int status = run_sortlens(args, &out, &errtext);
    ck_assert_msg(status == 0, "attribute --at %d: exit %d: %s", at, status, errtext ? errtext : "");
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    ck_assert_msg(j != NULL, "attribute --json: %s", jerr.text);
    json_t *row = json_array_get(json_array_get(json_object_get(j, "sources"), (size_t)layer), (size_t)head);
    ck_assert_msg(json_is_array(row), "attribute --json: no sources[%d][%d]", layer, head);
    for (int k = 0; k < n_pos; k++) {
        json_t *x = json_array_get(row, (size_t)k);
        src[k] = json_is_number(x) ? (float)json_number_value(x) : 0.0f;   /* past the query: none, 0 here */
    }
    *vs = (int)json_integer_value(json_object_get(j, "vs"));
    json_decref(j);
    free(out);
    free(errtext);
    return true;
}

/* The per-source column shows `sortlens attribute`'s sources: against the
 * runner-up at every prediction position, and against a value picked with > */
START_TEST(test_explorer_attribution)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    SlError err = {0};
    Explorer *ex = f.ex;
    const char *list = FIXTURE_LIST;
    ck_assert_int_eq(explorer_toggle_greedy(ex, &err), 0);   /* attribute runs teacher-forced */
    const Scene *sc = explorer_scene(ex);
    ck_assert(!sc->greedy);
    float want[64];
    ck_assert_int_le(sc->T, 64);
    for (int at = 1; at <= sc->n; at++) {
        explorer_select(ex, sc->n + at);
        int vs;
        cli_attribution(list, at, -1, sc->layer, sc->head, want, sc->T, &vs);
        ck_assert_ptr_nonnull(sc->ov_src);
        ck_assert_int_eq(sc->ov_vs, vs);
        ck_assert_int_ne(sc->ov_vs, sc->ov_value);
        for (int k = 0; k <= sc->sel; k++)
            ck_assert_msg(fabsf(sc->ov_src[k] - want[k]) <= 1e-4f * (1.0f + fabsf(want[k])),
                          "b_%d source %d: column %g, attribute %g", at, k, (double)sc->ov_src[k], (double)want[k]);
    }
    /* a value picked: > steps from the runner-up, skipping the prediction */
    explorer_select(ex, sc->n + 6);
    int runner_up = sc->ov_vs;
    explorer_step_compared(ex, +1);
    int picked = sc->ov_vs, vs;
    ck_assert_int_ne(picked, runner_up);
    ck_assert_int_ne(picked, sc->ov_value);
    ck_assert_int_eq(picked, (runner_up + 1) % sc->Vo == sc->ov_value ? (runner_up + 2) % sc->Vo : (runner_up + 1) % sc->Vo);
    cli_attribution(list, 6, picked, sc->layer, sc->head, want, sc->T, &vs);
    ck_assert_int_eq(vs, picked);
    for (int k = 0; k <= sc->sel; k++)
        ck_assert_float_eq_tol(sc->ov_src[k], want[k], 1e-4f * (1.0f + fabsf(want[k])));
    explorer_step_compared(ex, 0);   /* = : back to the runner-up */
    ck_assert_int_eq(sc->ov_vs, runner_up);
    explorer_toggle_attribution(ex);   /* d: the absolute logit */
    ck_assert_int_eq(sc->ov_vs, -1);
    explorer_fixture_close(&f);
}
END_TEST

/* Predictions of sc's list by a decoder run of its own on m, in sc's mode,
 * with iv (NULL: none) into out [n]; its cache into c. */
static void fresh_predictions(const SlModel *m, const Scene *sc, const SlIntervention *iv, SlActCache *c, int *out)
{
    SlError err = {0};
    int tokens[SL_MODEL_MAX_CTX];
    int rc = sc->greedy ? sl_decode_greedy(m, sc->values, 1, out, tokens, c, iv, &err)
                        : sl_decode_teacher_forced(m, sc->values, 1, out, c, iv, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
}

/* What the screen shows after a key press against a fresh decoder run:
 * the predictions without interventions (which the explorer keeps while
 * only the interventions change), the intervened ones, and the pattern of
 * the head shown from the intervened run. */
static void expect_fresh(const Explorer *ex, const SlModel *m, const char *what)
{
    const Scene *sc = explorer_scene(ex);
    const SlIntervention *iv = explorer_intervention(ex);
    SlError err = {0};
    SlActCache *c = sl_cache_new(&m->cfg, 1, sc->T, &err);
    ck_assert_msg(c, "%s", err.message);
    int want[SL_MODEL_MAX_CTX];
    if (iv) {
        ck_assert_msg(sc->base_pred != NULL, "%s: no predictions without the interventions", what);
        fresh_predictions(m, sc, NULL, c, want);
        for (int i = 0; i < sc->n; i++)
            ck_assert_msg(sc->base_pred[i] == want[i], "%s: b%d without interventions %d, a fresh run %d", what, i + 1,
                          sc->base_pred[i], want[i]);
    } else {
        ck_assert_msg(sc->base_pred == NULL, "%s: predictions without interventions shown with none active", what);
    }
    fresh_predictions(m, sc, iv, c, want);
    for (int i = 0; i < sc->n; i++)
        ck_assert_msg(sc->pred[i] == want[i], "%s: b%d %d, a fresh run %d", what, i + 1, sc->pred[i], want[i]);
    size_t TT = (size_t)sc->T * sc->T;
    double d = max_abs_diff(sc->pattern, c->pattern + ((size_t)sc->layer * sc->H + sc->head) * TT, TT);
    ck_assert_msg(d <= 1e-6, "%s: the pattern shown is %g from the fresh run's", what, d);
    sl_cache_free(c);
}

/* The predictions without interventions are kept while only the
 * interventions change, and made again when the list, the mode or the
 * model changes: each state against a fresh run, on two random 2-layer
 * 2-head models (the general path) whose predictions differ, so that a
 * stale list, mode or model would show. */
START_TEST(test_explorer_kept_predictions)
{
    SlModel *m1 = test_random_model(2, 2, 16, 8, 10, 6, 51), *m2 = test_random_model(2, 2, 16, 8, 10, 6, 52);
    SlError err = {0};
    Explorer *ex = explorer_new(m1, "m1", 3, &err);
    ck_assert_msg(ex, "%s", err.message);
    const Scene *sc = explorer_scene(ex);
    const int a[6] = {7, 2, 9, 2, 5, 0}, b[6] = {1, 8, 3, 6, 4, 9};
    SlActCache *c = sl_cache_new(&m1->cfg, 1, sc->T, &err);
    int pa[6], pb[6], p2[6];
    ck_assert_int_eq(explorer_set_list(ex, a, &err), 0);
    fresh_predictions(m1, sc, NULL, c, pa);
    ck_assert_int_eq(explorer_set_list(ex, b, &err), 0);
    fresh_predictions(m1, sc, NULL, c, pb);
    fresh_predictions(m2, sc, NULL, c, p2);
    ck_assert_msg(memcmp(pa, pb, sizeof pa) != 0 && memcmp(pb, p2, sizeof pb) != 0, "the runs to tell apart agree");
    sl_cache_free(c);

    ck_assert_int_eq(explorer_set_list(ex, a, &err), 0);
    expect_fresh(ex, m1, "list a");
    ck_assert_int_eq(explorer_toggle_term(ex, 0, &err), 0);
    expect_fresh(ex, m1, "tok-tok off");
    ck_assert_int_eq(explorer_toggle_ov_pos(ex, &err), 0);
    expect_fresh(ex, m1, "and W_pos out of OV");
    ck_assert_int_eq(explorer_set_list(ex, b, &err), 0);
    expect_fresh(ex, m1, "list b with both");
    ck_assert_int_eq(explorer_toggle_greedy(ex, &err), 0);
    expect_fresh(ex, m1, "teacher-forced");
    ck_assert_int_eq(explorer_toggle_term(ex, 3, &err), 0);
    expect_fresh(ex, m1, "teacher-forced, pos-pos off too");
    ck_assert_int_eq(explorer_set_model(ex, m2, "m2", &err), 0);
    expect_fresh(ex, m2, "the other model");
    ck_assert_int_eq(explorer_toggle_greedy(ex, &err), 0);
    expect_fresh(ex, m2, "the other model, greedy");
    ck_assert_int_eq(explorer_clear_interventions(ex, &err), 0);
    expect_fresh(ex, m2, "cleared");
    ck_assert_int_eq(explorer_toggle_block(ex, &err), 0);
    expect_fresh(ex, m2, "a blocked source");
    explorer_free(ex);
    sl_model_free(m1);
    sl_model_free(m2);
}
END_TEST

static Suite *explorer_suite(void)
{
    Suite *s = suite_create("explorer");
    TCase *tc = tcase_create("readouts");
    tcase_add_test(tc, test_explorer_readouts);
    tcase_add_test(tc, test_explorer_attribution);
    tcase_add_test(tc, test_explorer_kept_predictions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(explorer_suite()); }
