/* test_model.c: config inference and cross-checks in sl_model_from_tensors,
 * with hand-built tensor sets: every refusal names the tensor and both
 * numbers; missing biases are zero; buffers are ignored. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/model.h"
#include "test_util.h"

/* L 2, H 3, D 8, E 4, n 3 (n_ctx 8), Vo 5 (V 7): every dimension differs,
 * so a mix-up of two cannot pass unnoticed. */
enum { L = 2, H = 3, D = 8, E = 4, CTX = 8, VO = 5, V = 7 };

/* Distinct value for element k of tensor number id, exactly representable. */
static float value(int id, size_t k) { return (float)id + (float)(k % 997) / 1024.0f; }

static int next_id;

static void add(SlTensorSet *ts, const char *name, int ndim, const int64_t *shape)
{
    SlError err = {0};
    SlTensor *t = sl_tensorset_add(ts, name, SL_DT_F32, ndim, shape, NULL, &err);
    ck_assert_msg(t != NULL, "%s", err.message);
    int id = ++next_id;
    for (size_t k = 0; k < t->nbytes / 4; k++)
        ((float *)t->data)[k] = value(id, k);
}

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* Adds one tensor unless its name is in `skip`, with its normal shape
 * unless `override` names it (then shape ov). */
typedef struct Build {
    const char *skip[8];
    const char *override;
    int ov_ndim;
    int64_t ov[4];
    bool biases, buffers;
} Build;

static void put(SlTensorSet *ts, const Build *b, const char *name, const int64_t *shape, int ndim)
{
    for (int i = 0; i < 8 && b->skip[i]; i++)
        if (strcmp(b->skip[i], name) == 0)
            return;
    if (b->override && strcmp(b->override, name) == 0)
        add(ts, name, b->ov_ndim, b->ov);
    else
        add(ts, name, ndim, shape);
}

static SlTensorSet *build(const Build *b)
{
    SlTensorSet *ts = sl_tensorset_new();
    char n[64];
    next_id = 0;
    put(ts, b, "embed.W_E", SHAPE(V, D));
    put(ts, b, "pos_embed.W_pos", SHAPE(CTX, D));
    for (int l = 0; l < L; l++) {
        const char *w[] = {"W_Q", "W_K", "W_V"};
        for (int i = 0; i < 3; i++) {
            snprintf(n, sizeof n, "blocks.%d.attn.%s", l, w[i]);
            put(ts, b, n, SHAPE(H, D, E));
        }
        snprintf(n, sizeof n, "blocks.%d.attn.W_O", l);
        put(ts, b, n, SHAPE(H, E, D));
        if (b->biases) {
            const char *bq[] = {"b_Q", "b_K", "b_V"};
            for (int i = 0; i < 3; i++) {
                snprintf(n, sizeof n, "blocks.%d.attn.%s", l, bq[i]);
                put(ts, b, n, SHAPE(H, E));
            }
            snprintf(n, sizeof n, "blocks.%d.attn.b_O", l);
            put(ts, b, n, SHAPE(D));
        }
        if (b->buffers) {
            SlError err = {0};
            snprintf(n, sizeof n, "blocks.%d.attn.mask", l);
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, n, SL_DT_BOOL, 2, (const int64_t[]){CTX, CTX}, NULL, &err));
            snprintf(n, sizeof n, "blocks.%d.attn.IGNORE", l);
            const float ig = -1e5f;
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, n, SL_DT_F32, 0, NULL, &ig, &err));
        }
    }
    put(ts, b, "unembed.W_U", SHAPE(D, VO));
    if (b->biases)
        put(ts, b, "unembed.b_U", SHAPE(VO));
    return ts;
}

static void expect_refusal(SlTensorSet *ts, const char *needle)
{
    SlError err = {0};
    SlModel *m = sl_model_from_tensors(ts, "model.pt", &err);
    ck_assert_msg(m == NULL, "accepted; expected '%s'", needle);
    ck_assert_int_eq(err.code, SL_EFORMAT);
    ck_assert_msg(strncmp(err.message, "model.pt: ", 10) == 0, "message lacks the label: %s", err.message);
    ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
    sl_tensorset_free(ts);
}

static SlModel *expect_model(SlTensorSet *ts)
{
    SlError err = {0};
    SlModel *m = sl_model_from_tensors(ts, "model.pt", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    return m;
}

START_TEST(test_infer_config_and_copy)
{
    SlTensorSet *ts = build(&(Build){.biases = true, .buffers = true});
    SlModel *m = expect_model(ts);
    const SlModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->n_layers, L);
    ck_assert_int_eq(c->n_heads, H);
    ck_assert_int_eq(c->d_model, D);
    ck_assert_int_eq(c->d_head, E);
    ck_assert_int_eq(c->n_ctx, CTX);
    ck_assert_int_eq(c->d_vocab, V);
    ck_assert_int_eq(c->d_vocab_out, VO);
    ck_assert_int_eq(c->list_len, 3);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
        ck_assert(m->has_bias[i]);
    /* Layer-stacked copies land where the layer and head say: element
     * [h=2, d=5, e=3] of blocks.1.attn.W_V is params.W_V[1, 2, 5, 3]. */
    const SlTensor *t = sl_tensorset_find(ts, "blocks.1.attn.W_V");
    size_t k = (size_t)(2 * D + 5) * E + 3;
    ck_assert(m->params.W_V[(size_t)1 * H * D * E + k] == ((float *)t->data)[k]);
    t = sl_tensorset_find(ts, "blocks.1.attn.b_O");
    ck_assert_mem_eq(m->params.b_O + D, t->data, D * sizeof(float));
    t = sl_tensorset_find(ts, "unembed.W_U");
    ck_assert_mem_eq(m->params.W_U, t->data, t->nbytes);
    ck_assert_uint_eq(m->num_params, (size_t)V * D + CTX * D + L * (4 * H * D * E + 3 * H * E + D) + D * VO + VO);
    sl_model_free(m);
    sl_tensorset_free(ts);
}
END_TEST

START_TEST(test_missing_weights)
{
    const char *names[] = {"embed.W_E", "pos_embed.W_pos", "unembed.W_U", "blocks.0.attn.W_Q",
                           "blocks.0.attn.W_K", "blocks.1.attn.W_V", "blocks.1.attn.W_O"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char msg[96];
        snprintf(msg, sizeof msg, "missing weight %s", names[i]);
        /* blocks.0.attn.W_Q missing: no layer 0, so layer 1 is the problem
         * only if W_Q decides the layer count; the message still names it */
        expect_refusal(build(&(Build){.skip = {names[i]}, .biases = true}), msg);
    }
}
END_TEST

START_TEST(test_shapes_disagree)
{
    expect_refusal(build(&(Build){.override = "blocks.0.attn.W_K", .ov_ndim = 3, .ov = {H, D, 5}}),
                   "blocks.0.attn.W_K has d_head 5 (dimension 2); blocks.0.attn.W_Q implies 4");
    expect_refusal(build(&(Build){.override = "pos_embed.W_pos", .ov_ndim = 2, .ov = {CTX, 9}}),
                   "pos_embed.W_pos has d_model 9 (dimension 1); embed.W_E implies 8");
    expect_refusal(build(&(Build){.override = "blocks.1.attn.W_O", .ov_ndim = 3, .ov = {2, E, D}}),
                   "blocks.1.attn.W_O has n_heads 2 (dimension 0); blocks.0.attn.W_Q implies 3");
    expect_refusal(build(&(Build){.override = "blocks.1.attn.W_Q", .ov_ndim = 3, .ov = {H, 16, E}}),
                   "blocks.1.attn.W_Q has d_model 16 (dimension 1); embed.W_E implies 8");
    expect_refusal(build(&(Build){.override = "unembed.W_U", .ov_ndim = 2, .ov = {7, VO}}),
                   "unembed.W_U has d_model 7 (dimension 0); embed.W_E implies 8");
    expect_refusal(build(&(Build){.override = "blocks.0.attn.b_Q", .ov_ndim = 2, .ov = {H, 6}, .biases = true}),
                   "blocks.0.attn.b_Q has d_head 6 (dimension 1); blocks.0.attn.W_Q implies 4");
    expect_refusal(build(&(Build){.override = "unembed.b_U", .ov_ndim = 1, .ov = {6}, .biases = true}),
                   "unembed.b_U has d_vocab_out 6 (dimension 0); unembed.W_U implies 5");
    expect_refusal(build(&(Build){.override = "blocks.0.attn.b_O", .ov_ndim = 2, .ov = {1, D}, .biases = true}),
                   "blocks.0.attn.b_O has 2 dimensions; expected 1");
    expect_refusal(build(&(Build){.override = "embed.W_E", .ov_ndim = 3, .ov = {1, V, D}}),
                   "embed.W_E has 3 dimensions; expected 2");
}
END_TEST

START_TEST(test_task_relations)
{
    /* d_vocab must be d_vocab_out + 2 (values, BOS, MID) */
    expect_refusal(build(&(Build){.override = "embed.W_E", .ov_ndim = 2, .ov = {8, D}}),
                   "embed.W_E has 8 rows (d_vocab); unembed.W_U has 5 columns (d_vocab_out), which implies 7");
    expect_refusal(build(&(Build){.override = "unembed.W_U", .ov_ndim = 2, .ov = {D, 50}}),
                   "embed.W_E has 7 rows (d_vocab); unembed.W_U has 50 columns (d_vocab_out), which implies 52");
    /* n_ctx must be 2n + 2 */
    expect_refusal(build(&(Build){.override = "pos_embed.W_pos", .ov_ndim = 2, .ov = {9, D}}),
                   "pos_embed.W_pos has 9 rows (n_ctx); the sort task needs an even n_ctx = 2n + 2 with n >= 1, so 8 or 10");
    expect_refusal(build(&(Build){.override = "pos_embed.W_pos", .ov_ndim = 2, .ov = {2, D}}),
                   "pos_embed.W_pos has 2 rows (n_ctx)");
    expect_refusal(build(&(Build){.override = "embed.W_E", .ov_ndim = 2, .ov = {0, D}}),
                   "embed.W_E has 0 rows (d_vocab)");
    expect_refusal(build(&(Build){.override = "blocks.0.attn.W_Q", .ov_ndim = 3, .ov = {0, D, E}}),
                   "blocks.0.attn.W_Q has 0 heads");
    expect_refusal(build(&(Build){.override = "blocks.0.attn.W_Q", .ov_ndim = 3, .ov = {65, D, E}}),
                   "n_heads is 65; it must be 1..64");
}
END_TEST

START_TEST(test_non_finite)
{
    SlTensorSet *ts = build(&(Build){.biases = true});
    ((float *)sl_tensorset_find(ts, "blocks.1.attn.W_V")->data)[7] = NAN;
    expect_refusal(ts, "blocks.1.attn.W_V holds a non-finite value (nan at element 7)");
    ts = build(&(Build){.biases = true});
    ((float *)sl_tensorset_find(ts, "unembed.b_U")->data)[4] = -INFINITY;
    expect_refusal(ts, "unembed.b_U holds a non-finite value (-inf at element 4)");
    ts = build(&(Build){.biases = false});
    ((float *)sl_tensorset_find(ts, "embed.W_E")->data)[0] = INFINITY;
    expect_refusal(ts, "embed.W_E holds a non-finite value (inf at element 0)");
}
END_TEST

START_TEST(test_unknown_tensors)
{
    SlError err = {0};
    SlTensorSet *ts = build(&(Build){0});
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "ln_final.w", SL_DT_F32, 1, (const int64_t[]){D}, NULL, &err));
    expect_refusal(ts, "unexpected tensor ln_final.w");
    ts = build(&(Build){0});
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.0.mlp.W_in", SL_DT_F32, 2, (const int64_t[]){D, 32}, NULL, &err));
    expect_refusal(ts, "unexpected tensor blocks.0.mlp.W_in");
    /* a layer after a gap */
    ts = build(&(Build){0});
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.3.attn.W_Q", SL_DT_F32, 3, (const int64_t[]){H, D, E}, NULL, &err));
    expect_refusal(ts, "blocks.3.attn.W_Q belongs to layer 3, but blocks.2.attn.W_Q is missing");
    /* a buffer of a layer that does not exist */
    ts = build(&(Build){0});
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.2.attn.mask", SL_DT_BOOL, 1, (const int64_t[]){1}, NULL, &err));
    expect_refusal(ts, "blocks.2.attn.mask belongs to layer 2, but blocks.2.attn.W_Q is missing");
    /* layer numbers are plain decimals */
    ts = build(&(Build){0});
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.01.attn.b_Q", SL_DT_F32, 2, (const int64_t[]){H, E}, NULL, &err));
    expect_refusal(ts, "unexpected tensor blocks.01.attn.b_Q");
}
END_TEST

START_TEST(test_missing_biases_are_zero)
{
    SlTensorSet *ts = build(&(Build){.biases = false, .buffers = true});
    SlModel *m = expect_model(ts);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        ck_assert_int_eq(m->has_bias[i], !sl_model_param_is_bias(i));
        if (sl_model_param_is_bias(i))
            ck_assert(max_abs(sl_model_params_get(&m->params, i), m->param_sizes[i]) == 0.0);
    }
    sl_model_free(m);
    sl_tensorset_free(ts);
    /* one bias missing in one layer: that bias is zero there, the rest kept */
    ts = build(&(Build){.skip = {"blocks.1.attn.b_K"}, .biases = true});
    m = expect_model(ts);
    ck_assert(!m->has_bias[SL_P_B_K]);
    ck_assert(m->has_bias[SL_P_B_Q]);
    ck_assert(max_abs(m->params.b_K + H * E, H * E) == 0.0);
    ck_assert_mem_eq(m->params.b_K, sl_tensorset_find(ts, "blocks.0.attn.b_K")->data, H * E * sizeof(float));
    sl_model_free(m);
    sl_tensorset_free(ts);
}
END_TEST

START_TEST(test_buffers_ignored)
{
    SlError err = {0};
    /* whatever the buffers hold (here a wrong shape and type), they are not read */
    SlTensorSet *ts = build(&(Build){0});
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.0.attn.mask", SL_DT_U8, 1, (const int64_t[]){3}, NULL, &err));
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.1.attn.IGNORE", SL_DT_I64, 0, NULL, NULL, &err));
    SlModel *m = expect_model(ts);
    ck_assert_int_eq(m->cfg.n_layers, L);
    sl_model_free(m);
    sl_tensorset_free(ts);
}
END_TEST

/* Weights in other floating types are converted; integer weights refused. */
START_TEST(test_dtypes)
{
    SlError err = {0};
    SlTensorSet *src = build(&(Build){0});
    SlTensorSet *ts = sl_tensorset_new();
    for (int i = 0; i < src->count; i++) {
        const SlTensor *t = &src->items[i];
        size_t n = t->nbytes / 4;
        const float *f = t->data;
        if (strcmp(t->name, "embed.W_E") == 0) {      /* F64 */
            double *d = malloc(n * sizeof *d);
            for (size_t k = 0; k < n; k++)
                d[k] = f[k];
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, t->name, SL_DT_F64, t->ndim, t->shape, d, &err));
            free(d);
        } else if (strcmp(t->name, "unembed.W_U") == 0) {   /* BF16: top half of each float */
            uint16_t *h = malloc(n * sizeof *h);
            for (size_t k = 0; k < n; k++) {
                uint32_t u;
                memcpy(&u, &f[k], 4);
                h[k] = (uint16_t)(u >> 16);
            }
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, t->name, SL_DT_BF16, t->ndim, t->shape, h, &err));
            free(h);
        } else if (strcmp(t->name, "pos_embed.W_pos") == 0) {   /* F16: 1.5 = 0x3e00, -2 = 0xc000 */
            uint16_t *h = malloc(n * sizeof *h);
            for (size_t k = 0; k < n; k++)
                h[k] = k % 2 ? 0xc000 : 0x3e00;
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, t->name, SL_DT_F16, t->ndim, t->shape, h, &err));
            free(h);
        } else {
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, t->name, t->dtype, t->ndim, t->shape, t->data, &err));
        }
    }
    SlModel *m = expect_model(ts);
    ck_assert_mem_eq(m->params.W_E, sl_tensorset_find(src, "embed.W_E")->data, V * D * sizeof(float));
    ck_assert(m->params.W_pos[0] == 1.5f && m->params.W_pos[1] == -2.0f);
    const float *wu = sl_tensorset_find(src, "unembed.W_U")->data;
    for (int k = 0; k < D * VO; k++) {
        uint32_t u;
        memcpy(&u, &wu[k], 4);
        u &= 0xffff0000u;
        float trunc;
        memcpy(&trunc, &u, 4);
        ck_assert(m->params.W_U[k] == trunc);
    }
    sl_model_free(m);
    sl_tensorset_free(ts);
    /* integer weights are refused */
    ts = sl_tensorset_new();
    for (int i = 0; i < src->count; i++) {
        const SlTensor *t = &src->items[i];
        if (strcmp(t->name, "blocks.1.attn.W_K") == 0)
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, t->name, SL_DT_I32, t->ndim, t->shape, NULL, &err));
        else
            ck_assert_ptr_nonnull(sl_tensorset_add(ts, t->name, t->dtype, t->ndim, t->shape, t->data, &err));
    }
    expect_refusal(ts, "blocks.1.attn.W_K: dtype I32 is not a floating type");
    sl_tensorset_free(src);
}
END_TEST

/* sl_model_to_tensors and back: the same model, names TransformerLens uses. */
START_TEST(test_to_tensors_and_back)
{
    SlTensorSet *ts = build(&(Build){.biases = true});
    SlModel *m = expect_model(ts);
    SlError err = {0};
    SlTensorSet *out = sl_model_to_tensors(m, &err);
    ck_assert_msg(out != NULL, "%s", err.message);
    ck_assert_int_eq(out->count, 2 + L * 8 + 2 + 2 * L);   /* buffers included */
    ck_assert_str_eq(sl_tensorset_get_meta(out, "n_layers"), "2");
    ck_assert_str_eq(sl_tensorset_get_meta(out, "d_vocab"), "7");
    for (int i = 0; i < ts->count; i++) {
        const SlTensor *a = &ts->items[i], *b = sl_tensorset_find(out, a->name);
        ck_assert_msg(b != NULL, "%s missing", a->name);
        ck_assert_uint_eq(a->nbytes, b->nbytes);
        ck_assert_mem_eq(a->data, b->data, a->nbytes);
    }
    SlModel *back = expect_model(out);
    ck_assert_mem_eq(back->param_memory, m->param_memory, m->num_params * sizeof(float));
    sl_model_free(back);
    sl_model_free(m);
    sl_tensorset_free(out);
    sl_tensorset_free(ts);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("from_tensors");
    tcase_add_test(tc, test_infer_config_and_copy);
    tcase_add_test(tc, test_missing_weights);
    tcase_add_test(tc, test_shapes_disagree);
    tcase_add_test(tc, test_task_relations);
    tcase_add_test(tc, test_non_finite);
    tcase_add_test(tc, test_unknown_tensors);
    tcase_add_test(tc, test_missing_biases_are_zero);
    tcase_add_test(tc, test_buffers_ignored);
    tcase_add_test(tc, test_dtypes);
    tcase_add_test(tc, test_to_tensors_and_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
