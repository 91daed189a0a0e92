/* test_population.c: stress sets, breakdown buckets, list files, and
 * evaluation and means over a population (population.h).  The PyTorch
 * comparisons of the same commands on the published model are in
 * population_torch_check.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/circuits.h"
#include "sortlens/population.h"
#include "sortlens/task.h"
#include "test_util.h"

static SlModelConfig cfg_of(int n, int V)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 8, .d_head = 8, .d_vocab_out = V, .list_len = n};
    sl_model_config_derive(&c);
    return c;
}

/* How many times each value occurs, into count [V]; returns the largest. */
static int counts(const int *x, int n, int V, int *count)
{
    memset(count, 0, (size_t)V * sizeof *count);
    int most = 0;
    for (int i = 0; i < n; i++) {
        ck_assert(x[i] >= 0 && x[i] < V);
        if (++count[x[i]] > most)
            most = count[x[i]];
    }
    return most;
}

/* Each kind's definition, checked by counting, on two shapes: the seed
 * model's (n 10, V 50) and an odd one (n 7, V 13) where the windows and
 * fifths round. */
START_TEST(test_stress_definitions)
{
    const int shapes[2][2] = {{10, 50}, {7, 13}};
    for (int s = 0; s < 2; s++) {
        SlModelConfig c = cfg_of(shapes[s][0], shapes[s][1]);
        const int n = c.list_len, V = c.d_vocab_out;
        int x[16], count[64];
        for (int kind = 0; kind < SL_STRESS_KINDS; kind++) {
            ck_assert_int_eq(sl_stress_check(&c, kind, NULL), 0);
            SlRng rng;
            sl_rng_seed(&rng, 7 + kind);
            bool saw_repeat = false, saw_low = false, saw_high = false;
            for (int trial = 0; trial < 2000; trial++) {
                sl_stress_list(&c, kind, &rng, x);
                int most = counts(x, n, V, count), lo = V, hi = -1, twos = 0, threes = 0;
                for (int i = 0; i < n; i++) {
                    lo = x[i] < lo ? x[i] : lo;
                    hi = x[i] > hi ? x[i] : hi;
                }
                for (int v = 0; v < V; v++) {
                    twos += count[v] == 2;
                    threes += count[v] == 3;
                }
                saw_repeat |= most > 1;
                saw_low |= lo == 0;
                saw_high |= hi == V - 1;
                switch (kind) {
                case SL_STRESS_DISTINCT: ck_assert_int_eq(most, 1); break;
                case SL_STRESS_PAIR: ck_assert_int_eq(most, 2); ck_assert_int_eq(twos, 1); break;
                case SL_STRESS_TRIPLE: ck_assert_int_eq(most, 3); ck_assert_int_eq(threes, 1); ck_assert_int_eq(twos, 0); break;
                case SL_STRESS_CLUSTER: {
                    int w = n + 2 > V / 4 ? n + 2 : V / 4;   /* max(n+2, V/4): 12 for the seed model */
                    if (w > V)
                        w = V;
                    ck_assert_int_lt(hi - lo, w);
                    break;
                }
                case SL_STRESS_GAP: {
                    int low = 0;
                    for (int i = 0; i < n; i++) {
                        ck_assert(x[i] < V / 5 || x[i] >= V - V / 5);
                        low += x[i] < V / 5;
                    }
                    ck_assert_int_eq(low, n / 2);
                    break;
                }
                case SL_STRESS_RUN:
                    ck_assert_int_eq(most, 1);
                    ck_assert_int_eq(hi - lo, n - 1);
                    break;
                case SL_STRESS_CONSTANT: ck_assert_int_eq(most, n); break;
                default: break;
                }
            }
            /* every kind reaches both ends of the range over 2000 lists, and
             * the kinds that allow repeats produce them */
            if (kind != SL_STRESS_GAP || V / 5 > 0)
                ck_assert_msg(saw_low && saw_high, "%s never reached 0 or %d", sl_stress_name(kind), V - 1);
            if (kind == SL_STRESS_UNIFORM || kind == SL_STRESS_CLUSTER || kind == SL_STRESS_GAP)
                ck_assert(saw_repeat);
        }
    }
}
END_TEST

START_TEST(test_stress_deterministic_and_names)
{
    SlModelConfig c = cfg_of(10, 50);
    int a[10], b[10], differ = 0;
    for (int kind = 0; kind < SL_STRESS_KINDS; kind++) {
        SlRng r1, r2, r3;
        sl_rng_seed(&r1, 99);
        sl_rng_seed(&r2, 99);
        sl_rng_seed(&r3, 100);
        for (int i = 0; i < 50; i++) {
            sl_stress_list(&c, kind, &r1, a);
            sl_stress_list(&c, kind, &r2, b);
            ck_assert_mem_eq(a, b, sizeof a);
            sl_stress_list(&c, kind, &r3, b);
            differ += memcmp(a, b, sizeof a) != 0;
        }
        SlStressKind back;
        ck_assert_int_eq(sl_stress_from_name(sl_stress_name(kind), &back, NULL), 0);
        ck_assert_int_eq(back, kind);
    }
    ck_assert_int_gt(differ, 300);
    SlError err = {0};
    SlStressKind k;
    ck_assert_int_eq(sl_stress_from_name("gaps", &k, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "'gaps' is not a kind"));
    /* kinds that cannot exist for a shape are refused, saying why */
    SlModelConfig small = cfg_of(10, 8);
    ck_assert_int_eq(sl_stress_check(&small, SL_STRESS_DISTINCT, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "no distinct list of 10 values exists in 0..7"));
    ck_assert_int_eq(sl_stress_check(&small, SL_STRESS_PAIR, &err), SL_EINVAL);
    ck_assert_int_eq(sl_stress_check(&small, SL_STRESS_TRIPLE, &err), 0);   /* 8 distinct values suffice */
    ck_assert_int_eq(sl_stress_check(&small, SL_STRESS_RUN, &err), SL_EINVAL);
    SlModelConfig tiny = cfg_of(2, 4);
    ck_assert_int_eq(sl_stress_check(&tiny, SL_STRESS_GAP, &err), SL_EINVAL);
    ck_assert_int_eq(sl_stress_check(&tiny, SL_STRESS_TRIPLE, &err), SL_EINVAL);
}
END_TEST

/* Buckets of hand-made lists, worked out by hand. */
START_TEST(test_breakdown_buckets)
{
    static const struct {
        int v[10];
        int mult, gap, span;   /* bucket indices */
    } cases[] = {
        {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 0, 0},          /* distinct, gaps of 1, span 9 */
        {{0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, 0, 0, 1},         /* span 10 */
        {{5, 5, 0, 1, 2, 3, 4, 6, 7, 12}, 1, 1, 1},         /* 5 twice; gap 7->12 = 5; span 12 */
        {{9, 9, 9, 0, 1, 2, 3, 4, 5, 19}, 2, 2, 1},         /* 9 three times; gap 10; span 19 */
        {{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, 3, 0, 0},          /* constant: gap 0, span 0 */
        {{0, 0, 0, 0, 49, 49, 49, 49, 49, 20}, 3, 3, 3},    /* 49 five times; gap 29; span 49 */
        {{0, 4, 8, 12, 16, 20, 24, 28, 32, 36}, 0, 0, 2},   /* gaps of 4 exactly; span 36 */
        {{0, 9, 18, 27, 36, 39, 39, 40, 40, 40}, 2, 1, 3},  /* 40 three times; gap 9; span 40 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int which[SL_BREAKDOWN_AXES];
        sl_breakdown_buckets(10, cases[i].v, which);
        ck_assert_msg(which[SL_BY_MULTIPLICITY] == cases[i].mult && which[SL_BY_LARGEST_GAP] == cases[i].gap &&
                          which[SL_BY_SPAN] == cases[i].span,
                      "case %zu: buckets %d %d %d, by hand %d %d %d", i, which[0], which[1], which[2], cases[i].mult,
                      cases[i].gap, cases[i].span);
    }
    ck_assert_str_eq(sl_breakdown_bucket_label(SL_BY_MULTIPLICITY, 3), "4+");
    ck_assert_str_eq(sl_breakdown_bucket_label(SL_BY_LARGEST_GAP, 2), "10-19");
    ck_assert_str_eq(sl_breakdown_bucket_label(SL_BY_SPAN, 2), "20-39");
    ck_assert_str_eq(sl_breakdown_axis_name(SL_BY_SPAN), "by_span");
    /* adding outcomes: first wrong at b3, 7 of 10 tokens right */
    SlBreakdown *bd = malloc(sizeof *bd);
    sl_breakdown_init(bd, 10);
    SlListOutcome wrong = {.tokens_right = 7, .first_wrong = 2}, right = {.tokens_right = 10, .first_wrong = -1};
    sl_breakdown_add(bd, cases[2].v, &wrong);
    sl_breakdown_add(bd, cases[3].v, &right);
    ck_assert_int_eq(bd->lists, 2);
    ck_assert_int_eq(bd->first_wrong[2], 1);
    const SlBucket *b = &bd->bucket[SL_BY_SPAN][1];   /* both have span 10..19 */
    ck_assert_int_eq(b->lists, 2);
    ck_assert_int_eq(b->lists_right, 1);
    ck_assert_int_eq(b->tokens, 20);
    ck_assert_int_eq(b->tokens_right, 17);
    ck_assert_int_eq(bd->bucket[SL_BY_MULTIPLICITY][1].lists, 1);
    ck_assert_int_eq(bd->bucket[SL_BY_MULTIPLICITY][1].lists_right, 0);
    free(bd);
}
END_TEST

static char *write_temp(const char *text, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sortlens-listfile-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* A file is taken whole or refused whole, and the refusal names the line. */
START_TEST(test_list_file)
{
    SlModelConfig c = cfg_of(3, 10);
    SlError err = {0};
    static const char good[] = "1 2 3\n\n  \n[4, 5, 6]\r\n7,8,9";   /* blank lines skipped, CRLF, no final newline */
    char *path = write_temp(good, sizeof good - 1);
    SlListFile *f = sl_list_file_open(&c, path, &err);
    ck_assert_msg(f, "%s", err.message);
    ck_assert_int_eq(sl_list_file_count(f), 3);
    int v[12];
    ck_assert_int_eq(sl_list_file_read(f, v, 2, &err), 2);
    ck_assert_int_eq(sl_list_file_read(f, v + 6, 4, &err), 1);
    ck_assert_int_eq(sl_list_file_read(f, v, 4, &err), 0);
    const int expect[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ck_assert_mem_eq(v, expect, sizeof expect);
    ck_assert_int_eq(sl_list_file_rewind(f, &err), 0);
    ck_assert_int_eq(sl_list_file_read(f, v, 4, &err), 3);
    ck_assert_mem_eq(v, expect, sizeof expect);
    /* read_at from any list, without moving the sequential reader */
    ck_assert_int_eq(sl_list_file_rewind(f, &err), 0);
    ck_assert_int_eq(sl_list_file_read(f, v, 1, &err), 1);
    int w[12];
    ck_assert_int_eq(sl_list_file_read_at(f, 1, w, 4, &err), 2);
    ck_assert_mem_eq(w, expect + 3, 6 * sizeof(int));
    ck_assert_int_eq(sl_list_file_read_at(f, 3, w, 4, &err), 0);
    ck_assert_int_eq(sl_list_file_read_at(f, -1, w, 4, &err), 0);
    ck_assert_int_eq(sl_list_file_read(f, v, 4, &err), 2);
    ck_assert_mem_eq(v, expect + 3, 6 * sizeof(int));
    /* two readers of one file, interleaved, each from the first list */
    SlListFileReader r1, r2;
    SlListSource s1, s2;
    sl_list_file_reader_source(&r1, f, &s1);
    sl_list_file_reader_source(&r2, f, &s2);
    ck_assert_int_eq(s1.total, 3);
    ck_assert_int_eq(s1.read(s1.ctx, v, 2, &err), 2);
    ck_assert_int_eq(s2.read(s2.ctx, w, 1, &err), 1);
    ck_assert_int_eq(s1.read(s1.ctx, v + 6, 2, &err), 1);
    ck_assert_int_eq(s2.read(s2.ctx, w + 3, 4, &err), 2);
    ck_assert_mem_eq(v, expect, sizeof expect);
    ck_assert_mem_eq(w, expect, sizeof expect);
    sl_list_file_close(f);
    unlink(path);
    /* values past 255 take two bytes in the spool, and come back whole */
    SlModelConfig c2 = cfg_of(3, 300);
    static const char wide[] = "299 0 256\n255 1 298\n";
    path = write_temp(wide, sizeof wide - 1);
    ck_assert_msg((f = sl_list_file_open(&c2, path, &err)), "%s", err.message);
    const int expect2[6] = {299, 0, 256, 255, 1, 298};
    ck_assert_int_eq(sl_list_file_read_at(f, 0, w, 4, &err), 2);
    ck_assert_mem_eq(w, expect2, sizeof expect2);
    ck_assert_int_eq(sl_list_file_read_at(f, 1, w, 1, &err), 1);
    ck_assert_mem_eq(w, expect2 + 3, 3 * sizeof(int));
    sl_list_file_close(f);
    unlink(path);

    static const struct {
        const char *text;
        size_t len;
        const char *message;
    } bad[] = {
        {"1 2 3\n1 2 3\n1 2 10\n", 18, "line 3: value 10 is outside 0..9"},
        {"1 2 3\n1 2\n", 10, "line 2: expected 3 numbers, got 2"},
        {"1 2 3\n1 2 x\n", 12, "line 2: "},
        {"1 2\0 3\n", 7, "line 1 holds a NUL byte"},
        {"\n\n", 2, "no lists in it"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = write_temp(bad[i].text, bad[i].len);
        ck_assert_ptr_null(sl_list_file_open(&c, path, &err));
        ck_assert_int_eq(err.code, SL_EINVAL);
        ck_assert_msg(strstr(err.message, bad[i].message) && strstr(err.message, path), "case %zu: %s", i, err.message);
        unlink(path);
    }
    /* a line longer than the cap is refused without reading it into memory whole */
    size_t big = sl_list_file_max_line(&c) + 10;
    char *text = malloc(big);
    memset(text, ' ', big);
    text[big - 1] = '\n';
    path = write_temp(text, big);
    ck_assert_ptr_null(sl_list_file_open(&c, path, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "line 1 is longer than"));
    unlink(path);
    free(text);
    ck_assert_ptr_null(sl_list_file_open(&c, "/nonexistent/lists.txt", &err));
    ck_assert_int_eq(err.code, SL_EIO);
}
END_TEST

static SlModel *bundled_model(void)
{
    const char *src = getenv("SORTLENS_SOURCE");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/sortlens-default.safetensors", src ? src : ".");
    if (access(path, R_OK) != 0)
        return NULL;
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    return m;
}

/* eval over a uniform stress source is sl_decode_eval of the same seed, and
 * its breakdown adds up to the totals. */
START_TEST(test_population_eval_matches_decode_eval)
{
    SlModel *m = bundled_model();
    if (!m) {
        printf("skipped: no bundled model\n");
        return;
    }
    SlError err = {0};
    const long lists = test_light_workload() ? 300 : 3000;
    SlEvalResult want, got;
    ck_assert_int_eq(sl_decode_eval(m, lists, 5, NULL, &want, NULL, NULL, &err), 0);
    SlStressSource s;
    SlListSource src;
    ck_assert_int_eq(sl_stress_source(&s, &m->cfg, SL_STRESS_UNIFORM, lists, 5, &src, &err), 0);
    SlBreakdown *bd = malloc(sizeof *bd);
    ck_assert_int_eq(sl_population_eval(m, NULL, &src, &got, bd, NULL, NULL, &err), 0);
    ck_assert_int_eq(got.lists, lists);
    ck_assert(got.token_accuracy == want.token_accuracy && got.list_accuracy == want.list_accuracy);
    ck_assert(fabs(got.loss - want.loss) < 1e-12);
    const int n = m->cfg.list_len;
    long wrong = 0;
    for (int i = 0; i < n; i++)
        wrong += bd->first_wrong[i];
    ck_assert_int_eq(wrong, lists - (long)llround(got.list_accuracy * lists));
    for (int a = 0; a < SL_BREAKDOWN_AXES; a++) {
        long in = 0, right = 0, tokens = 0;
        for (int k = 0; k < SL_BREAKDOWN_BUCKETS; k++) {
            in += bd->bucket[a][k].lists;
            right += bd->bucket[a][k].lists_right;
            tokens += bd->bucket[a][k].tokens_right;
        }
        ck_assert_int_eq(in, lists);
        ck_assert_int_eq(right, llround(got.list_accuracy * lists));
        ck_assert_int_eq(tokens, llround(got.token_accuracy * lists * n));
    }
    free(bd);
    sl_model_free(m);
}
END_TEST

/* mean over a population: the pattern rows sum to 1, the four terms sum
 * to the mean hook_attn_scores of the same lists (from the forward's own
 * cache), and the attribution read from the tables equals sl_circuit_dla's. */
START_TEST(test_population_mean_consistent)
{
    SlModel *m = bundled_model();
    if (!m) {
        printf("skipped: no bundled model\n");
        return;
    }
    const SlModelConfig *c = &m->cfg;
    const int T = c->n_ctx, n = c->list_len, B = 40;
    SlError err = {0};
    SlStressSource s;
    SlListSource src;
    ck_assert_int_eq(sl_stress_source(&s, c, SL_STRESS_CLUSTER, B, 3, &src, &err), 0);
    SlPopulationMean pm;
    ck_assert_int_eq(sl_population_mean(m, &src, &pm, NULL, NULL, &err), 0);
    ck_assert_int_eq(pm.lists, B);
    /* the same lists again, through the forward and sl_circuit_dla */
    ck_assert_int_eq(sl_stress_source(&s, c, SL_STRESS_CLUSTER, B, 3, &src, &err), 0);
    int *values = malloc((size_t)B * n * sizeof *values), *tokens = malloc((size_t)B * T * sizeof *tokens);
    ck_assert_int_eq(src.read(src.ctx, values, B, &err), B);
    for (int b = 0; b < B; b++)
        sl_task_make_tokens(c, values + (size_t)b * n, tokens + (size_t)b * T);
    SlActCache *cache = sl_cache_new(c, B, T, &err);
    ck_assert_int_eq(sl_model_forward(m, tokens, B, T, cache, NULL, SL_FORWARD_GENERAL, &err), 0);
    double *scores = calloc((size_t)T * T, sizeof *scores), *dla = calloc((size_t)T * T, sizeof *dla);
    float *src_dla = malloc((size_t)T * sizeof *src_dla), direct;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < T * T; i++)
            if (i % T <= i / T)
                scores[i] += cache->scores[(size_t)b * T * T + i] / B;
        for (int q = n + 1; q <= 2 * n; q++) {
            ck_assert_int_eq(sl_circuit_dla(m, cache, b, q, tokens[(size_t)b * T + q + 1], src_dla, &direct, &err), 0);
            for (int k = 0; k <= q; k++)
                dla[q * T + k] += (double)src_dla[k] / B;
        }
    }
    const size_t TT = (size_t)T * T;
    for (int q = 0; q < T; q++) {
        double row = 0;
        for (int k = 0; k < T; k++) {
            size_t i = (size_t)q * T + k;
            row += pm.pattern[i];
            double sum = 0;
            for (int t = 0; t < SL_SCORE_TERMS; t++)
                sum += pm.score_terms[t * TT + i];
            if (k > q) {
                ck_assert(isnan(sum));
                ck_assert(pm.pattern[i] == 0.0);
            } else {
                ck_assert_msg(fabs(sum - scores[i]) < 1e-4 * (1 + fabs(scores[i])), "q %d k %d: terms %g, scores %g", q,
                              k, sum, scores[i]);
            }
            bool pred = q >= n + 1 && q <= 2 * n && k <= q;
            ck_assert(pred != isnan(pm.dla_correct[i]));
            if (pred)
                ck_assert_msg(fabs(pm.dla_correct[i] - dla[i]) < 1e-4 * (1 + fabs(dla[i])), "q %d k %d: %g vs %g", q,
                              k, pm.dla_correct[i], dla[i]);
        }
        ck_assert(fabs(row - 1.0) < 1e-5);
    }
    sl_population_mean_free(&pm);
    sl_cache_free(cache);
    free(values);
    free(tokens);
    free(scores);
    free(dla);
    free(src_dla);
    sl_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("population");
    TCase *tc = tcase_create("population");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stress_definitions);
    tcase_add_test(tc, test_stress_deterministic_and_names);
    tcase_add_test(tc, test_breakdown_buckets);
    tcase_add_test(tc, test_list_file);
    tcase_add_test(tc, test_population_eval_matches_decode_eval);
    tcase_add_test(tc, test_population_mean_consistent);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
