/* test_ablation.c: the ablation spec language: every form parses to the
 * intended spec, the canonical text parses back to the same, malformed and
 * out-of-range specs are refused with a message naming them, and the
 * mapping to the forward's SlIntervention (and back, for the explorer's
 * toggles) holds, with eval under `--ablate qk:...` equal to explain's
 * ablation table row. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sortlens/ablation.h"
#include "sortlens/checkpoint.h"
#include "sortlens/circuits.h"
#include "sortlens/decode.h"
#include "sortlens/task.h"
#include "test_util.h"

static SlModelConfig seed_config(void)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 128, .d_head = 128, .d_vocab_out = 50, .list_len = 10};
    sl_model_config_derive(&c);
    return c;
}

static SlModelConfig multi_config(void)
{
    SlModelConfig c = {.n_layers = 2, .n_heads = 2, .d_model = 16, .d_head = 8, .d_vocab_out = 50, .list_len = 10};
    sl_model_config_derive(&c);
    return c;
}

START_TEST(test_parse_forms)
{
    SlModelConfig c = multi_config();
    SlAblation a;
    SlError err = {0};
    ck_assert_int_eq(sl_ablation_parse("qk:token-token, qk:PP@0.1 ,ov:pos@0.1,source:a3,source:MID@0.0,direct,"
                                       "head:1.0,mean:head:0.1@query=b2,resample:head:1.1@query=12,source:0@query=BOS",
                                       &c, &a, &err), 0);
    ck_assert_int_eq(a.count, 10);
    ck_assert_int_eq(a.spec[0].kind, SL_ABLATE_QK);
    ck_assert_uint_eq(a.spec[0].qk_term, SL_QK_TERM_TOK_TOK);
    ck_assert_int_eq(a.spec[0].head, -1);
    ck_assert_int_eq(a.spec[0].query, -1);
    ck_assert_uint_eq(a.spec[1].qk_term, SL_QK_TERM_POS_POS);
    ck_assert_int_eq(a.spec[1].layer, 0);
    ck_assert_int_eq(a.spec[1].head, 1);
    ck_assert_int_eq(a.spec[2].kind, SL_ABLATE_OV_POS);
    ck_assert_int_eq(a.spec[2].head, 1);
    ck_assert_int_eq(a.spec[3].kind, SL_ABLATE_SOURCE);
    ck_assert_int_eq(a.spec[3].source, 3);
    ck_assert_int_eq(a.spec[4].source, 11);   /* MID = n + 1 */
    ck_assert_int_eq(a.spec[5].kind, SL_ABLATE_DIRECT);
    ck_assert_int_eq(a.spec[6].kind, SL_ABLATE_HEAD_ZERO);
    ck_assert_int_eq(a.spec[6].layer, 1);
    ck_assert_int_eq(a.spec[6].head, 0);
    ck_assert_int_eq(a.spec[7].kind, SL_ABLATE_HEAD_MEAN);
    ck_assert_int_eq(a.spec[7].query, 13);    /* b2 = n + 1 + 2 */
    ck_assert_int_eq(a.spec[8].kind, SL_ABLATE_HEAD_RESAMPLE);
    ck_assert_int_eq(a.spec[8].query, 12);
    ck_assert_int_eq(a.spec[9].source, 0);
    ck_assert_int_eq(a.spec[9].query, 0);
}
END_TEST

START_TEST(test_format_round_trip)
{
    SlModelConfig c = multi_config();
    const char *texts[] = {
        "qk:token-token",
        "qk:pos-token@0.1,ov:pos@0.1",
        "source:BOS,source:a10@0.0@query=MID",
        "direct@query=b9",
        "head:0.0,mean:head:1.1,resample:head:0.1@query=b1",
        "qk:token-pos@query=a1",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        SlAblation a, b;
        SlError err = {0};
        char buf[SL_ABLATION_TEXT_MAX];
        ck_assert_msg(sl_ablation_parse(texts[i], &c, &a, &err) == 0, "%s: %s", texts[i], err.message);
        ck_assert_int_ge(sl_ablation_format(&a, &c, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, texts[i]);   /* these are already canonical */
        ck_assert_int_eq(sl_ablation_parse(buf, &c, &b, &err), 0);
        ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    }
    /* other spellings come out canonical */
    SlAblation a;
    char buf[64];
    ck_assert_int_eq(sl_ablation_parse(" QK:TT@0.1 , Source:11 ,MEAN:HEAD:1.0@QUERY=mid", &c, &a, NULL), 0);
    ck_assert_int_ge(sl_ablation_format(&a, &c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "qk:token-token@0.1,source:MID,mean:head:1.0@query=MID");
    /* too small a buffer: -1, and a terminated prefix */
    ck_assert_int_eq(sl_ablation_format(&a, &c, buf, 10), -1);
    ck_assert_uint_lt(strlen(buf), 10);
    /* nothing */
    ck_assert_int_eq(sl_ablation_parse("  ", &c, &a, NULL), 0);
    ck_assert_int_eq(a.count, 0);
    ck_assert_int_eq(sl_ablation_format(&a, &c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_parse_refusals)
{
    SlModelConfig c = multi_config();
    static const struct {
        const char *text, *message;
    } bad[] = {
        {"qk:token", "'token': the QK terms are"},
        {"qk:tt@1.0", "defined on layer 0, not 1"},
        {"ov:tok", "the OV ablation is ov:pos"},
        {"source:22", "position 22 is outside 0..21"},
        {"source:a11", "a takes 1..10"},
        {"source:x", "'x' is not a position"},
        {"head:2.0", "layers 0..1"},
        {"head:0.2", "heads 0..1"},
        {"head:0", "is not a head"},
        {"head:0.0@1.1", "names its head already"},
        {"direct@0.0", "belongs to no head"},
        {"qk:tt@0.0@0.1", "a head scope given twice"},
        {"source:1@query=2@query=3", "'@query' given twice"},
        {"qk:tt,,direct", "ablation 2 is empty"},
        {"qk:tt,", "ablation 2 is empty"},
        {"zero:head:0.0", "is not an ablation"},
        {"head:-1.0", "is not a head"},
        {"source:\x01", "control or non-ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        SlAblation a;
        SlError err = {0};
        ck_assert_msg(sl_ablation_parse(bad[i].text, &c, &a, &err) == SL_EINVAL, "'%s' was accepted", bad[i].text);
        ck_assert_msg(strstr(err.message, bad[i].message), "'%s': message '%s' lacks '%s'", bad[i].text, err.message,
                      bad[i].message);
        ck_assert_int_eq(a.count, 0);
    }
    /* a message names the offending spec */
    SlAblation a;
    SlError err = {0};
    sl_ablation_parse("direct,head:9.9", &c, &a, &err);
    ck_assert_ptr_nonnull(strstr(err.message, "--ablate 'head:9.9'"));
    /* at most SL_ABLATION_MAX specs */
    char many[SL_ABLATION_MAX * 8 + 16] = "";
    for (int i = 0; i <= SL_ABLATION_MAX; i++)
        strcat(many, i ? ",direct" : "direct");
    ck_assert_int_eq(sl_ablation_parse(many, &c, &a, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "more than"));
}
END_TEST

START_TEST(test_to_and_from_intervention)
{
    SlModelConfig c = seed_config();
    SlAblation a;
    SlIntervention iv;
    SlError err = {0};
    float mean_z[128] = {0};
    ck_assert_int_eq(sl_ablation_parse("qk:tt,qk:pp,ov:pos,source:a2", &c, &a, NULL), 0);
    ck_assert_int_eq(sl_ablation_to_intervention(&a, &c, NULL, &iv, &err), 0);
    ck_assert_uint_eq(iv.qk_terms_off, SL_QK_TERM_TOK_TOK | SL_QK_TERM_POS_POS);
    ck_assert(iv.ov_drop_pos);
    ck_assert_int_eq(iv.block_source, 2);
    ck_assert_int_eq(iv.head, -1);
    /* back: the same canonical text */
    SlAblation back;
    char t1[256], t2[256];
    sl_ablation_from_intervention(&iv, &c, &back);
    sl_ablation_format(&a, &c, t1, sizeof t1);
    sl_ablation_format(&back, &c, t2, sizeof t2);
    ck_assert_str_eq(t1, t2);
    ck_assert_str_eq(t2, "qk:token-token,qk:pos-pos,ov:pos,source:a2");

    ck_assert_int_eq(sl_ablation_parse("head:0.0@query=MID,direct", &c, &a, NULL), 0);
    ck_assert_int_eq(sl_ablation_to_intervention(&a, &c, NULL, &iv, &err), 0);
    ck_assert_int_eq(iv.ablate_position, 11);
    ck_assert_int_eq(iv.ablate_kind, SL_ABLATE_ZERO);
    ck_assert_int_eq(iv.head, 0);
    ck_assert(iv.drop_direct);
    sl_ablation_from_intervention(&iv, &c, &back);
    sl_ablation_format(&back, &c, t2, sizeof t2);
    ck_assert_str_eq(t2, "head:0.0@query=MID,direct");

    ck_assert_int_eq(sl_ablation_parse("mean:head:0.0@query=b3", &c, &a, NULL), 0);
    ck_assert_int_eq(sl_ablation_to_intervention(&a, &c, NULL, &iv, &err), SL_EINVAL);
    ck_assert_int_eq(sl_ablation_to_intervention(&a, &c, mean_z, &iv, &err), 0);
    ck_assert_ptr_eq(iv.ablate_mean_z, mean_z);
    ck_assert_int_eq(iv.ablate_kind, SL_ABLATE_MEAN);

    /* what the SlIntervention cannot hold is refused, saying why (the hook path runs it) */
    static const char *const later[] = {"resample:head:0.0@query=MID", "head:0.0", "qk:tt@query=MID",
                                        "source:1,source:2"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        ck_assert_int_eq(sl_ablation_parse(later[i], &c, &a, NULL), 0);
        ck_assert_int_eq(sl_ablation_to_intervention(&a, &c, mean_z, &iv, &err), SL_EINVAL);
        ck_assert_msg(strstr(err.message, "hook path"), "%s: %s", later[i], err.message);
    }
    SlModelConfig m2 = multi_config();
    ck_assert_int_eq(sl_ablation_parse("qk:tt@0.0,qk:tp@0.1", &m2, &a, NULL), 0);
    ck_assert_int_eq(sl_ablation_to_intervention(&a, &m2, NULL, &iv, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "different heads"));
}
END_TEST

/* eval under a parsed spec gives explain's table row for the same
 * intervention (explain builds its own SlIntervention; both measure the
 * same lists). */
START_TEST(test_eval_equals_explain_table)
{
    SlError err = {0};
    SlModel *m = sl_ckpt_load(testdata_path("../../data/sortlens-default.safetensors"), &err);
    ck_assert_msg(m, "%s", err.message);
    const long lists = test_light_workload() ? 20 : 200;
    SlAblationRow rows[SL_ABLATION_COUNT];
    ck_assert_int_eq(sl_circuit_ablation_table(m, lists, 1, rows, NULL, NULL, &err), 0);
    static const char *const specs[SL_ABLATION_COUNT] = {
        [SL_ABLATION_CLEAN] = "",           [SL_ABLATION_QK_TOK_TOK] = "qk:token-token", [SL_ABLATION_QK_TOK_POS] = "qk:tp",
        [SL_ABLATION_QK_POS_TOK] = "qk:pt", [SL_ABLATION_QK_POS_POS] = "qk:pos-pos",     [SL_ABLATION_OV_NO_POS] = "ov:pos",
        [SL_ABLATION_NO_DIRECT] = "direct",
    };
    for (int i = 0; i < SL_ABLATION_COUNT; i++) {
        SlAblation a;
        SlIntervention iv;
        ck_assert_int_eq(sl_ablation_parse(specs[i], &m->cfg, &a, &err), 0);
        ck_assert_int_eq(sl_ablation_to_intervention(&a, &m->cfg, NULL, &iv, &err), 0);
        SlEvalResult r;
        ck_assert_int_eq(sl_decode_eval(m, lists, 1, &iv, &r, NULL, NULL, &err), 0);
        ck_assert_msg(r.token_accuracy == rows[i].res.token_accuracy && r.list_accuracy == rows[i].res.list_accuracy &&
                          r.loss == rows[i].res.loss,
                      "%s: eval %.6f %.6f %.6f, explain %.6f %.6f %.6f", specs[i], r.token_accuracy, r.list_accuracy,
                      r.loss, rows[i].res.token_accuracy, rows[i].res.list_accuracy, rows[i].res.loss);
        /* and the ablation changes something, except the direct path's */
        if (i != SL_ABLATION_CLEAN && i != SL_ABLATION_NO_DIRECT)
            ck_assert(r.loss > rows[SL_ABLATION_CLEAN].res.loss);
    }
    sl_model_free(m);
}
END_TEST

/* The per-position mean of hook_z against the mean of cached forwards
 * over the same lists, by hand. */
START_TEST(test_mean_z)
{
    SlError err = {0};
    SlModel *m = sl_ckpt_load(testdata_path("multi_2l2h.pt"), &err);
    ck_assert_msg(m, "%s", err.message);
    const SlModelConfig *c = &m->cfg;
    const int T = c->n_ctx, H = c->n_heads, E = c->d_head, n = c->list_len;
    const long lists = 7;
    float *mean = malloc((size_t)T * H * E * sizeof *mean);
    ck_assert_int_eq(sl_ablation_mean_z(m, 1, lists, 99, mean, &err), 0);
    SlActCache *cache = sl_cache_new(c, 1, T, &err);
    double *sum = calloc((size_t)T * H * E, sizeof *sum);
    SlRng rng;
    sl_rng_seed(&rng, 99);
    int values[64], tokens[128];
    for (long i = 0; i < lists; i++) {
        sl_task_random_list(c, &rng, values);
        sl_task_make_tokens(c, values, tokens);
        ck_assert_int_eq(sl_model_forward(m, tokens, 1, T, cache, NULL, SL_FORWARD_GENERAL, &err), 0);
        const float *z = sl_cache_get(cache, "blocks.1.attn.hook_z", NULL, NULL);
        for (int j = 0; j < T * H * E; j++)
            sum[j] += z[j];
    }
    for (int j = 0; j < T * H * E; j++)
        ck_assert_msg(fabs(mean[j] - sum[j] / lists) <= 1e-5 * (1 + fabs(sum[j] / lists)), "element %d: %g vs %g", j,
                      mean[j], sum[j] / lists);
    ck_assert_int_eq(sl_ablation_mean_z(m, 2, lists, 99, mean, &err), SL_EINVAL);
    (void)n;
    free(sum);
    free(mean);
    sl_cache_free(cache);
    sl_model_free(m);
}
END_TEST


/* The hook path (hooks.h) against the forward's own SlIntervention, for
 * every ablation both can run: two mechanisms, the same figures. */
START_TEST(test_hooks_equal_intervention)
{
    SlError err = {0};
    SlModel *m = sl_ckpt_load(testdata_path("../../data/sortlens-default.safetensors"), &err);
    ck_assert_msg(m, "%s", err.message);
    const long lists = test_light_workload() ? 8 : 64;
    static const char *const specs[] = {"qk:tt", "qk:token-pos", "qk:pt", "qk:pp", "ov:pos", "source:a3", "direct",
                                        "qk:tt,qk:pp,source:BOS", "head:0.0@query=b3", "mean:head:0.0@query=MID"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        SlAblation a;
        ck_assert_int_eq(sl_ablation_parse(specs[i], &m->cfg, &a, &err), 0);
        SlAblationRun *viaiv = sl_ablation_run_new(m, &a, 7, false, &err), *viahooks = sl_ablation_run_new(m, &a, 7, true, &err);
        ck_assert_msg(viaiv && viahooks, "%s: %s", specs[i], err.message);
        ck_assert(!sl_ablation_run_hooked(viaiv));
        ck_assert(sl_ablation_run_hooked(viahooks));
        SlEvalResult r1, r2;
        SlStressSource s1, s2;
        SlListSource src1, src2;
        ck_assert_int_eq(sl_stress_source(&s1, &m->cfg, SL_STRESS_UNIFORM, lists, 3, &src1, &err), 0);
        ck_assert_int_eq(sl_stress_source(&s2, &m->cfg, SL_STRESS_UNIFORM, lists, 3, &src2, &err), 0);
        ck_assert_int_eq(sl_ablation_eval(viaiv, &src1, &r1, NULL, NULL, NULL, &err), 0);
        ck_assert_msg(sl_ablation_eval(viahooks, &src2, &r2, NULL, NULL, NULL, &err) == 0, "%s", err.message);
        ck_assert_msg(fabs(r1.token_accuracy - r2.token_accuracy) <= 1.0 / (lists * 10) + 1e-12 &&
                          fabs(r1.list_accuracy - r2.list_accuracy) <= 1.0 / lists + 1e-12 &&
                          fabs(r1.loss - r2.loss) <= 1e-4 * fmax(1, r1.loss),
                      "%s: Intervention %.6f %.6f %.6f, hooks %.6f %.6f %.6f", specs[i], r1.token_accuracy,
                      r1.list_accuracy, r1.loss, r2.token_accuracy, r2.list_accuracy, r2.loss);
        sl_ablation_run_free(viaiv);
        sl_ablation_run_free(viahooks);
    }
    sl_model_free(m);
}
END_TEST

static json_t *lists_json(const SlModelConfig *c, long count, uint64_t seed)
{
    json_t *a = json_array();
    SlRng rng;
    sl_rng_seed(&rng, seed);
    int v[64];
    for (long i = 0; i < count; i++) {
        sl_task_random_list(c, &rng, v);
        json_t *l = json_array();
        for (int j = 0; j < c->list_len; j++)
            json_array_append_new(l, json_integer(v[j]));
        json_array_append_new(a, l);
    }
    return a;
}

/* eval --ablate head:, mean:, resample: against PyTorch (the same lists,
 * the same means' lists, the same resampled lists, each hook written in
 * torch by hand): token accuracy, loss and per-position accuracy. */
START_TEST(test_head_ablations_match_pytorch)
{
    const char *path = shared_path("seed-model/sort_fixed_len_list_model.pt");
    if (!path || access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("SKIP test_head_ablations_match_pytorch: no seed model or no /usr/bin/python3 with torch\n");
        return;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    const SlModelConfig *c = &m->cfg;
    const long lists = 200;
    static const char *const kinds[3] = {"zero", "mean", "resample"};
    static const char *const specs[3] = {"head:0.0", "mean:head:0.0", "resample:head:0.0"};
    for (int k = 0; k < 3; k++) {
        SlAblation a;
        ck_assert_int_eq(sl_ablation_parse(specs[k], c, &a, &err), 0);
        SlAblationRun *run = sl_ablation_run_new(m, &a, 5, false, &err);
        ck_assert_msg(run, "%s", err.message);
        SlEvalResult r;
        SlStressSource ss;
        SlListSource src;
        ck_assert_int_eq(sl_stress_source(&ss, c, SL_STRESS_UNIFORM, lists, 11, &src, &err), 0);
        ck_assert_msg(sl_ablation_eval(run, &src, &r, NULL, NULL, NULL, &err) == 0, "%s", err.message);
        sl_ablation_run_free(run);
        json_t *job = json_pack("{s:s, s:s, s:i, s:i, s:o}", "mode", "ablate", "kind", kinds[k], "layer", 0, "head", 0,
                                "lists", lists_json(c, lists, 11));
        if (k == 1)
            json_object_set_new(job, "mean_lists", lists_json(c, SL_ABLATION_MEAN_LISTS, SL_ABLATION_MEAN_SEED));
        if (k == 2)
            json_object_set_new(job, "resample_lists", lists_json(c, lists, 5 ^ SL_ABLATION_RESAMPLE_STREAM));
        char in[] = "/tmp/sortlens-ablate-in-XXXXXX", out[] = "/tmp/sortlens-ablate-out-XXXXXX";
        int fi = mkstemp(in), fo = mkstemp(out);
        ck_assert(fi >= 0 && fo >= 0);
        close(fo);
        FILE *f = fdopen(fi, "w");
        json_dumpf(job, f, JSON_COMPACT);
        fclose(f);
        json_decref(job);
        char cmd[8192];
        const char *source_dir = getenv("SORTLENS_SOURCE");
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/core/patch_torch_ref.py' '%s' '%s' '%s'", source_dir ? source_dir : "..", path,
                 in, out);
        ck_assert_int_eq(system(cmd), 0);
        json_t *ref = json_load_file(out, 0, NULL);
        unlink(in);
        unlink(out);
        ck_assert_ptr_nonnull(ref);
        double acc = json_number_value(json_object_get(ref, "token_accuracy"));
        double loss = json_number_value(json_object_get(ref, "loss"));
        printf("%-18s token accuracy %.4f (PyTorch %.4f), loss %.5f (PyTorch %.5f)\n", specs[k], r.token_accuracy, acc,
               r.loss, loss);
        /* an argmax between two near-equal logits may fall either way */
        ck_assert_msg(fabs(r.token_accuracy - acc) <= 2.0 / (lists * c->list_len), "%s: token accuracy %.6f vs %.6f",
                      specs[k], r.token_accuracy, acc);
        ck_assert_msg(fabs(r.loss - loss) <= 1e-4 * fmax(1, loss), "%s: loss %.7f vs %.7f", specs[k], r.loss, loss);
        json_t *per = json_object_get(ref, "per_position_accuracy");
        for (int i = 0; i < c->list_len; i++)
            ck_assert(fabs(r.per_position_accuracy[i] - json_number_value(json_array_get(per, (size_t)i))) <= 2.0 / lists);
        json_decref(ref);
    }
    sl_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ablation");
    TCase *tc = tcase_create("spec");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_parse_forms);
    tcase_add_test(tc, test_format_round_trip);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_to_and_from_intervention);
    tcase_add_test(tc, test_eval_equals_explain_table);
    tcase_add_test(tc, test_mean_z);
    tcase_add_test(tc, test_hooks_equal_intervention);
    tcase_add_test(tc, test_head_ablations_match_pytorch);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
