/* test_patch.c: activation patching, attribution patching and
 * logit-difference attribution against PyTorch (tests/core/patch_torch_ref.py:
 * TransformerLens-style hooks written by hand in torch, one forward per
 * patch, gradients by autograd) on the published model, over 24 pairs with
 * duplicates, gaps and one-value changes; and the refusals. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sortlens/ablation.h"
#include "sortlens/attribution.h"
#include "sortlens/checkpoint.h"
#include "sortlens/decode.h"
#include "sortlens/patch.h"
#include "sortlens/task.h"
#include "test_util.h"

#define N_PAIRS 24

static const char *seed_model(void) { return shared_path("seed-model/sort_fixed_len_list_model.pt"); }

static const char *script_path(void)
{
    static char buf[4096];
    const char *src = getenv("SORTLENS_SOURCE");
    snprintf(buf, sizeof buf, "%s/tests/core/patch_torch_ref.py", src ? src : "..");
    return buf;
}

/* Runs the reference on job (a JSON object, released here); returns its output. */
static json_t *run_reference(const char *model, json_t *job)
{
    char in[] = "/tmp/sortlens-patch-in-XXXXXX", out[] = "/tmp/sortlens-patch-out-XXXXXX";
    int fi = mkstemp(in), fo = mkstemp(out);
    ck_assert(fi >= 0 && fo >= 0);
    close(fo);
    FILE *f = fdopen(fi, "w");
    ck_assert(f);
    ck_assert_int_eq(json_dumpf(job, f, JSON_COMPACT), 0);
    fclose(f);
    json_decref(job);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s' '%s'", script_path(), model, in, out);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "the PyTorch reference failed: %s", cmd);
    json_error_t jerr;
    json_t *res = json_load_file(out, 0, &jerr);
    ck_assert_msg(res, "reading the reference's output: %s", jerr.text);
    unlink(in);
    unlink(out);
    return res;
}

static json_t *int_array(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* The pairs: hand-made ones with duplicates and gaps, then random lists
 * with one value changed so that the sorted list changes. */
static int make_pairs(const SlModelConfig *c, int clean[][32], int corrupt[][32], int *at)
{
    static const int hand[][2][10] = {
        {{42, 17, 26, 3, 49, 0, 26, 8, 31, 12}, {42, 17, 27, 3, 49, 0, 26, 8, 31, 12}},   /* a duplicate broken */
        {{5, 5, 5, 9, 9, 1, 1, 30, 30, 30}, {5, 5, 6, 9, 9, 1, 1, 30, 30, 30}},            /* many duplicates */
        {{0, 1, 2, 3, 4, 45, 46, 47, 48, 49}, {0, 1, 2, 3, 40, 45, 46, 47, 48, 49}},       /* a big gap */
        {{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, {10, 11, 12, 13, 14, 15, 16, 17, 18, 49}},
        {{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, {7, 7, 7, 7, 7, 8, 7, 7, 7, 7}},                  /* all equal */
        {{49, 0, 49, 0, 49, 0, 49, 0, 49, 0}, {49, 0, 49, 0, 49, 1, 49, 0, 49, 0}},
        {{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}, {3, 14, 15, 9, 26, 5, 35, 8, 9, 36}},
        {{20, 22, 24, 26, 28, 30, 32, 34, 36, 38}, {20, 22, 24, 25, 28, 30, 32, 34, 36, 38}},
    };
    const int n = c->list_len, n_hand = (int)(sizeof hand / sizeof hand[0]);
    int k = 0;
    for (; k < n_hand; k++) {
        memcpy(clean[k], hand[k][0], sizeof hand[k][0]);
        memcpy(corrupt[k], hand[k][1], sizeof hand[k][1]);
        at[k] = 0;
    }
    SlRng rng;
    sl_rng_seed(&rng, 2024);
    while (k < N_PAIRS) {
        sl_task_random_list(c, &rng, clean[k]);
        memcpy(corrupt[k], clean[k], (size_t)n * sizeof(int));
        corrupt[k][sl_rng_below(&rng, (uint32_t)n)] = (int)sl_rng_below(&rng, (uint32_t)c->d_vocab_out);
        int d;
        if (sl_patch_default_at(c, clean[k], corrupt[k], &d, NULL))
            continue;   /* the change left the sorted list as it was */
        /* every other random pair at the last place the sorted lists differ */
        int sc[32], sr[32], last = d;
        sl_task_sort_values(n, clean[k], sc);
        sl_task_sort_values(n, corrupt[k], sr);
        for (int i = 0; i < n; i++)
            if (sc[i] != sr[i])
                last = i + 1;
        at[k] = k % 2 ? last : 0;
        k++;
    }
    return k;
}

/* Compares n floats of ours with a JSON array (nested per head when
 * heads > 0) within tol; returns the largest difference. */
static double cmp_array(const float *ours, json_t *ref, int heads, int T, double tol, const char *what, int pair)
{
    double worst = 0;
    for (int h = 0; h < (heads ? heads : 1); h++) {
        json_t *row = heads ? json_array_get(ref, (size_t)h) : ref;
        ck_assert_msg(json_is_array(row) && (int)json_array_size(row) == T, "pair %d %s: reference shape", pair, what);
        for (int p = 0; p < T; p++) {
            double r = json_number_value(json_array_get(row, (size_t)p)), o = ours[(size_t)h * T + p];
            double d = fabs(o - r);
            ck_assert_msg(d <= tol, "pair %d %s head %d position %d: ours %.7g, PyTorch %.7g (tolerance %.3g)", pair, what,
                          h, p, o, r, tol);
            if (d > worst)
                worst = d;
        }
    }
    return worst;
}

START_TEST(test_patch_matches_pytorch)
{
    const char *path = seed_model();
    if (!path || !test_have_torch()) {
        printf("SKIP test_patch_matches_pytorch: no seed model in $SORTLENS_SHARED or no /usr/bin/python3 with torch\n");
        return;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    const SlModelConfig *c = &m->cfg;
    static int clean[N_PAIRS][32], corrupt[N_PAIRS][32], at[N_PAIRS];
    int np = make_pairs(c, clean, corrupt, at);
    json_t *pairs = json_array();
    SlPatchResult res[N_PAIRS], hooked[N_PAIRS];
    const int n_hooked = test_light_workload() ? 3 : np;
    for (int k = 0; k < np; k++) {
        ck_assert_msg(sl_patch(m, clean[k], corrupt[k], at[k], true, NULL, false, &res[k], &err) == 0, "pair %d: %s", k, err.message);
        /* the hook path too (under valgrind, SORTLENS_TEST_LIGHT, for the first 3 pairs only) */
        memset(&hooked[k], 0, sizeof hooked[k]);
        if (k < n_hooked)
            ck_assert_msg(sl_patch(m, clean[k], corrupt[k], at[k], false, NULL, true, &hooked[k], &err) == 0, "pair %d: %s",
                          k, err.message);
        json_array_append_new(pairs, json_pack("{s:o, s:o, s:i}", "clean", int_array(clean[k], c->list_len), "corrupt",
                                               int_array(corrupt[k], c->list_len), "at", res[k].at));
    }
    json_t *ref = run_reference(path, json_pack("{s:s, s:o}", "mode", "patch", "pairs", pairs));
    ck_assert_int_eq((int)json_array_size(ref), np);
    static const char *const terms[4] = {"token_token", "token_pos", "pos_token", "pos_pos"};
    double worst_exact = 0, worst_attr = 0, worst_hooked = 0;
    int nonzero = 0;
    for (int k = 0; k < np; k++) {
        json_t *r = json_array_get(ref, (size_t)k);
        const SlPatchResult *o = &res[k];
        ck_assert_int_eq(o->clean_answer, (int)json_integer_value(json_object_get(r, "clean_answer")));
        ck_assert_int_eq(o->corrupt_answer, (int)json_integer_value(json_object_get(r, "corrupt_answer")));
        double ldc = json_number_value(json_object_get(r, "ld_clean")), ldr = json_number_value(json_object_get(r, "ld_corrupt"));
        ck_assert_msg(fabs(o->ld_clean - ldc) <= 1e-4 * fmax(1, fabs(ldc)), "pair %d ld_clean %g vs %g", k, o->ld_clean, ldc);
        ck_assert_msg(fabs(o->ld_corrupt - ldr) <= 1e-4 * fmax(1, fabs(ldr)), "pair %d ld_corrupt %g vs %g", k, o->ld_corrupt, ldr);
        /* 1e-4 of the result's scale: its largest value (at least 1, the
         * clean run's own normalised metric) */
        json_t *rr = json_object_get(r, "results"), *ra = json_object_get(r, "attribution");
        json_t *st = json_object_get(r, "score_terms"), *sta = json_object_get(r, "score_terms_attribution");
        double scale = fmax(1, fmax(json_max_abs(rr), json_max_abs(st)));
        double scale_a = fmax(1, fmax(json_max_abs(ra), json_max_abs(sta)));
        for (int i = 0; i < o->n_hooks; i++) {
            const SlPatchHook *h = &o->hooks[i];
            json_t *x = json_object_get(rr, h->name), *xa = json_object_get(ra, h->name);
            ck_assert_msg(x && xa, "pair %d: PyTorch has no %s", k, h->name);
            worst_exact = fmax(worst_exact, cmp_array(h->exact, x, h->heads, o->T, 1e-4 * scale, h->name, k) / scale);
            if (k < n_hooked)
                worst_hooked = fmax(worst_hooked,
                                    cmp_array(hooked[k].hooks[i].exact, x, h->heads, o->T, 1e-4 * scale, h->name, k) / scale);
            worst_attr = fmax(worst_attr, cmp_array(h->attribution, xa, h->heads, o->T, 1e-4 * scale_a, h->name, k) / scale_a);
            for (int j = 0; j < (h->heads ? h->heads : 1) * o->T; j++)
                nonzero += fabsf(h->exact[j]) > 1e-3f;
        }
        for (int t = 0; t < 4; t++) {
            for (int hd = 0; hd < o->H; hd++) {
                worst_exact = fmax(worst_exact, cmp_array(o->score_terms + ((size_t)hd * 4 + t) * o->T,
                                                          json_array_get(json_object_get(st, terms[t]), (size_t)hd), 0, o->T,
                                                          1e-4 * scale, terms[t], k) / scale);
                if (k < n_hooked)
                    worst_hooked = fmax(worst_hooked, cmp_array(hooked[k].score_terms + ((size_t)hd * 4 + t) * o->T,
                                                            json_array_get(json_object_get(st, terms[t]), (size_t)hd), 0,
                                                            o->T, 1e-4 * scale, terms[t], k) / scale);
                worst_attr = fmax(worst_attr, cmp_array(o->score_terms_attribution + ((size_t)hd * 4 + t) * o->T,
                                                        json_array_get(json_object_get(sta, terms[t]), (size_t)hd), 0,
                                                        o->T, 1e-4 * scale_a, terms[t], k) / scale_a);
            }
        }
    }
    printf("patch vs PyTorch, %d pairs: exact max error %.3g (hook path %.3g), attribution max error %.3g (of each "
           "pair's scale); %d nonzero results\n", np, worst_exact, worst_hooked, worst_attr, nonzero);
    ck_assert_int_gt(nonzero, np * 5);   /* the comparison saw real effects, not only zeros */
    for (int k = 0; k < np; k++) {
        sl_patch_result_free(&res[k]);
        sl_patch_result_free(&hooked[k]);
    }
    json_decref(ref);
    sl_model_free(m);
}
END_TEST

START_TEST(test_attribute_matches_pytorch)
{
    const char *path = seed_model();
    if (!path || !test_have_torch()) {
        printf("SKIP test_attribute_matches_pytorch: no seed model or no /usr/bin/python3 with torch\n");
        return;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    static int clean[N_PAIRS][32], corrupt[N_PAIRS][32], at[N_PAIRS];
    int np = make_pairs(c, clean, corrupt, at);
    SlActCache *cache = sl_cache_new(c, 1, T, &err);
    float *src = malloc((size_t)T * sizeof *src * N_PAIRS);
    SlAttribution a[N_PAIRS];
    json_t *items = json_array();
    int tokens[64];
    double worst_sum = 0;
    for (int k = 0; k < np; k++) {
        sl_task_make_tokens(c, clean[k], tokens);
        ck_assert_int_eq(sl_model_forward(m, tokens, 1, T, cache, NULL, SL_FORWARD_AUTO, &err), 0);
        int K = 1 + k % n, top[2];
        double prob[2];
        sl_decode_top_k(cache->logits + (size_t)(n + K) * Vo, Vo, 2, top, prob);
        int target = top[0], vs = k % 3 == 0 ? (top[0] + 17) % Vo : top[1];   /* runner-up, or a far value */
        a[k].sources = src + (size_t)k * T;
        ck_assert_int_eq(sl_attribute(m, cache, 0, n + K, target, vs, &a[k], &err), 0);
        double sum = a[k].direct + a[k].bias;
        for (int s = 0; s < T; s++)
            sum += a[k].sources[s];
        double rel = fabs(sum - a[k].total) / fmax(1e-6, fabs(a[k].total));
        ck_assert_msg(rel <= 1e-4, "list %d: parts sum to %.7g, the difference is %.7g", k, sum, a[k].total);
        worst_sum = fmax(worst_sum, rel);
        json_array_append_new(items, json_pack("{s:o, s:i, s:i, s:i}", "list", int_array(clean[k], n), "at", K, "target",
                                               target, "vs", vs));
    }
    json_t *ref = run_reference(path, json_pack("{s:s, s:o}", "mode", "attribute", "items", items));
    double worst = 0;
    for (int k = 0; k < np; k++) {
        json_t *r = json_array_get(ref, (size_t)k);
        double total = json_number_value(json_object_get(r, "total"));
        json_t *sources = json_array_get(json_array_get(json_object_get(r, "sources"), 0), 0);
        double scale = fmax(fabs(total), json_max_abs(sources));
        double d = fmax(fabs(a[k].total - total), fmax(fabs(a[k].direct - json_number_value(json_object_get(r, "direct"))),
                                                       fabs(a[k].bias - json_number_value(json_object_get(r, "bias")))));
        ck_assert_msg(d <= 1e-4 * scale, "list %d: total/direct/bias differ from PyTorch by %g (scale %g)", k, d, scale);
        worst = fmax(worst, d / scale);
        worst = fmax(worst, cmp_array(a[k].sources, sources, 0, T, 1e-4 * scale, "sources", k) / scale);
    }
    printf("attribute vs PyTorch, %d lists: max error %.3g of the scale; parts sum within %.3g relative\n", np, worst,
           worst_sum);
    json_decref(ref);
    free(src);
    sl_cache_free(cache);
    sl_model_free(m);
}
END_TEST

/* Patching with the bundled model (no PyTorch needed): the metric's fixed
 * points, which hold whatever the weights: patching the query's
 * hook_resid_post restores the clean run exactly (1), positions after the
 * query and hook_pos_embed (the same in both runs) change nothing (0). */
START_TEST(test_patch_fixed_points)
{
    const char *path = testdata_path("../../data/sortlens-default.safetensors");
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    int clean[10] = {42, 17, 26, 3, 49, 0, 26, 8, 31, 12}, corrupt[10] = {42, 17, 27, 3, 49, 0, 26, 8, 31, 12};
    SlPatchResult r;
    ck_assert_int_eq(sl_patch(m, clean, corrupt, 0, true, NULL, false, &r, &err), 0);
    ck_assert_int_eq(r.at, 7);   /* 0 3 8 12 17 26 26|27 ... */
    ck_assert_int_eq(r.query, 17);
    ck_assert_int_eq(r.clean_answer, 26);
    ck_assert_int_eq(r.corrupt_answer, 27);
    const SlPatchHook *resid = sl_patch_hook(&r, "blocks.0.hook_resid_post"), *pos = sl_patch_hook(&r, "hook_pos_embed");
    ck_assert_ptr_nonnull(resid);
    ck_assert_ptr_nonnull(pos);
    ck_assert_ptr_null(sl_patch_hook(&r, "blocks.1.hook_resid_post"));
    ck_assert_double_eq_tol(resid->exact[17], 1.0, 1e-5);
    ck_assert_double_eq_tol(resid->attribution[17], 1.0, 1e-5);   /* LD is linear in the last residual stream */
    for (int p = 0; p < r.T; p++) {
        ck_assert_double_eq_tol(pos->exact[p], 0.0, 1e-6);
        if (p > r.query)
            for (int i = 0; i < r.n_hooks; i++)
                ck_assert_float_eq(r.hooks[i].exact[p], 0.0f);
    }
    sl_patch_result_free(&r);
    sl_model_free(m);
}
END_TEST

START_TEST(test_patch_refusals)
{
    const char *path = testdata_path("../../data/sortlens-default.safetensors");
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    int a[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, b[10] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, c2[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11};
    SlPatchResult r;
    int at = -1;
    ck_assert_int_eq(sl_patch_default_at(&m->cfg, a, b, &at, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "sort to the same list"));
    ck_assert_int_eq(sl_patch(m, a, b, 0, false, NULL, false, &r, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "sort to the same list"));
    /* b_3 is 3 in both: the metric cannot be normalised */
    ck_assert_int_eq(sl_patch(m, a, c2, 3, false, NULL, false, &r, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "both lists put 3 at b_3"));
    ck_assert_int_eq(sl_patch(m, a, c2, 11, false, NULL, false, &r, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "1..10"));
    ck_assert_int_eq(sl_patch(m, a, c2, 0, false, NULL, false, &r, &err), 0);
    ck_assert_int_eq(r.at, 10);
    ck_assert_ptr_null(r.score_terms_attribution);
    sl_patch_result_free(&r);
    sl_model_free(m);
    /* more than one layer: exact patching through hooks, but no gradient */
    m = sl_ckpt_load(testdata_path("multi_2l2h.pt"), &err);
    ck_assert_msg(m, "%s", err.message);
    int a5[5] = {1, 2, 3, 4, 5}, c5[5] = {1, 2, 3, 4, 6};
    ck_assert_int_eq(sl_patch(m, a5, c5, 0, true, NULL, false, &r, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "one-layer models without ablations"));
    sl_model_free(m);
}
END_TEST

/* The 2-layer model, or NULL (and a SKIP line) without PyTorch. */
static SlModel *multi_model_or_skip(const char *test, const char *path)
{
    if (!test_have_torch()) {
        printf("SKIP %s: no /usr/bin/python3 with torch\n", test);
        return NULL;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    return m;
}

/* A 2-layer, 2-head model with nonzero biases (tests/data/make_multi.py):
 * the hook path's exact patching against PyTorch on a few pairs. */
START_TEST(test_patch_multi_layer_matches_pytorch)
{
    const char *path = testdata_path("multi_2l2h.pt");
    SlError err = {0};
    SlModel *m = multi_model_or_skip("test_patch_multi_layer_matches_pytorch", path);
    if (!m)
        return;
    const SlModelConfig *c = &m->cfg;
    static int clean[N_PAIRS][32], corrupt[N_PAIRS][32], at[N_PAIRS];
    int np = test_light_workload() ? 2 : 6;
    SlRng rng;   /* random pairs of this model's shape (5 values in 0..19), one value changed */
    sl_rng_seed(&rng, 77);
    for (int k = 0; k < np;) {
        sl_task_random_list(c, &rng, clean[k]);
        memcpy(corrupt[k], clean[k], (size_t)c->list_len * sizeof(int));
        corrupt[k][sl_rng_below(&rng, (uint32_t)c->list_len)] = (int)sl_rng_below(&rng, (uint32_t)c->d_vocab_out);
        if (sl_patch_default_at(c, clean[k], corrupt[k], &at[k], NULL) == 0)
            k++;
    }
    SlPatchResult res[N_PAIRS];
    json_t *pairs = json_array();
    for (int k = 0; k < np; k++) {
        ck_assert_msg(sl_patch(m, clean[k], corrupt[k], at[k], false, NULL, false, &res[k], &err) == 0, "%s", err.message);
        json_array_append_new(pairs, json_pack("{s:o, s:o, s:i}", "clean", int_array(clean[k], c->list_len), "corrupt",
                                               int_array(corrupt[k], c->list_len), "at", res[k].at));
    }
    json_t *ref = run_reference(path, json_pack("{s:s, s:o}", "mode", "patch", "pairs", pairs));
    double worst = 0;
    int nonzero = 0;
    for (int k = 0; k < np; k++) {
        json_t *r = json_array_get(ref, (size_t)k), *rr = json_object_get(r, "results");
        double scale = fmax(1, json_max_abs(rr));
        ck_assert_int_eq(res[k].n_hooks, 2 + 7 * 2);
        for (int i = 0; i < res[k].n_hooks; i++) {
            const SlPatchHook *h = &res[k].hooks[i];
            json_t *x = json_object_get(rr, h->name);
            ck_assert_msg(x, "PyTorch has no %s", h->name);
            worst = fmax(worst, cmp_array(h->exact, x, h->heads, res[k].T, 1e-4 * scale, h->name, k) / scale);
            for (int j = 0; j < (h->heads ? h->heads : 1) * res[k].T; j++)
                nonzero += fabsf(h->exact[j]) > 1e-3f;
        }
        static const char *const terms[4] = {"token_token", "token_pos", "pos_token", "pos_pos"};
        for (int t = 0; t < 4; t++)
            for (int hd = 0; hd < res[k].H; hd++)
                worst = fmax(worst, cmp_array(res[k].score_terms + ((size_t)hd * 4 + t) * res[k].T,
                                              json_array_get(json_object_get(json_object_get(r, "score_terms"), terms[t]),
                                                             (size_t)hd),
                                              0, res[k].T, 1e-4 * scale, terms[t], k) / scale);
        sl_patch_result_free(&res[k]);
    }
    printf("patch of the 2-layer model vs PyTorch, %d pairs: max error %.3g of the scale; %d nonzero results\n", np, worst,
           nonzero);
    ck_assert_int_gt(nonzero, np * 10);
    json_decref(ref);
    sl_model_free(m);
}
END_TEST

/* patch --ablate: both runs under head 1.0 zeroed (hooks), against
 * PyTorch with the same hook composed before each patch. */
START_TEST(test_patch_ablated_matches_pytorch)
{
    const char *path = testdata_path("multi_2l2h.pt");
    SlError err = {0};
    SlModel *m = multi_model_or_skip("test_patch_ablated_matches_pytorch", path);
    if (!m)
        return;
    const SlModelConfig *c = &m->cfg;
    SlAblation abl;
    ck_assert_int_eq(sl_ablation_parse("head:1.0", c, &abl, &err), 0);
    SlAblationRun *run = sl_ablation_run_new(m, &abl, 1, true, &err);
    ck_assert_msg(run, "%s", err.message);
    int clean[5] = {3, 17, 9, 9, 0}, corrupt[5] = {3, 17, 10, 9, 0};
    SlPatchResult res, plain;
    ck_assert_int_eq(sl_patch(m, clean, corrupt, 0, false, run, false, &res, &err), 0);
    ck_assert_int_eq(sl_patch(m, clean, corrupt, 0, false, NULL, false, &plain, &err), 0);
    json_t *pair = json_pack("{s:[iiiii], s:[iiiii], s:i}", "clean", 3, 17, 9, 9, 0, "corrupt", 3, 17, 10, 9, 0, "at", res.at);
    json_t *ref = run_reference(path, json_pack("{s:s, s:[o], s:{s:s, s:i, s:i}}", "mode", "patch", "pairs", pair, "ablate",
                                                "kind", "zero", "layer", 1, "head", 0));
    json_t *r = json_array_get(ref, 0), *rr = json_object_get(r, "results");
    double scale = fmax(1, json_max_abs(rr)), worst = 0, moved = 0;
    ck_assert_msg(fabs(res.ld_clean - json_number_value(json_object_get(r, "ld_clean"))) <= 1e-4 * fmax(1, fabs(res.ld_clean)),
                  "ld_clean %g", res.ld_clean);
    for (int i = 0; i < res.n_hooks; i++) {
        const SlPatchHook *h = &res.hooks[i];
        worst = fmax(worst, cmp_array(h->exact, json_object_get(rr, h->name), h->heads, res.T, 1e-4 * scale, h->name, 0) / scale);
        for (int j = 0; j < (h->heads ? h->heads : 1) * res.T; j++)
            moved = fmax(moved, fabs(h->exact[j] - plain.hooks[i].exact[j]));
    }
    printf("patch --ablate head:1.0 of the 2-layer model vs PyTorch: max error %.3g of the scale; it moves results by up "
           "to %.3g\n", worst, moved);
    ck_assert(moved > 1e-2);   /* the ablation changed what was measured */
    sl_patch_result_free(&res);
    sl_patch_result_free(&plain);
    /* resampling is refused */
    sl_ablation_run_free(run);
    ck_assert_int_eq(sl_ablation_parse("resample:head:1.0", c, &abl, &err), 0);
    run = sl_ablation_run_new(m, &abl, 1, true, &err);
    ck_assert_int_eq(sl_patch(m, clean, corrupt, 0, false, run, false, &res, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "resampling"));
    sl_ablation_run_free(run);
    json_decref(ref);
    sl_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("patch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_patch_matches_pytorch);
    tcase_add_test(tc, test_attribute_matches_pytorch);
    tcase_add_test(tc, test_patch_fixed_points);
    tcase_add_test(tc, test_patch_multi_layer_matches_pytorch);
    tcase_add_test(tc, test_patch_ablated_matches_pytorch);
    tcase_add_test(tc, test_patch_refusals);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
