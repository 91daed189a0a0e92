/* test_circuits.c: full circuits, score terms, attributions, metrics and
 * interventions, against hand calculations on tiny hand-built models and
 * against PyTorch's tensors for the seed model. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/circuits.h"
#include "sortlens/safetensors.h"
#include "sortlens/tables.h"
#include "sortlens/task.h"
#include "test_util.h"

/* ---- a tiny model whose circuits are easy to multiply out by hand ----------
 * Vo = 3 (values 0 1 2, BOS 3, MID 4), n = 1 (n_ctx 4), D = 2, E = 1, so
 * every QK circuit is an outer product q (x) k and every OV circuit v (x) (W_O W_U).
 *   W_E   t0 [1 0]  t1 [0 1]  t2 [1 1]  BOS [2 0]  MID [0 2]
 *   W_pos p0 [0 1]  p1 [1 0]  p2 [1 1]  p3 [-1 0]
 *   layer 0 head 0: W_Q [1 2]^T  W_K [3 1]^T  W_V [1 -1]^T  W_O [2 1]
 *   W_U [[1 0 1] [0 1 1]]
 * gives
 *   q_tok = [1 2 3 2 4]   q_pos = [2 1 3 -1]
 *   k_tok = [3 1 4 6 2]   k_pos = [1 3 4 -3]
 *   v_tok = [1 -1 0 2 -2] v_pos = [-1 1 0 -1]    W_O W_U = [2 1 3]
 */
static const float hand_W_E[5 * 2] = {1, 0, 0, 1, 1, 1, 2, 0, 0, 2};
static const float hand_W_pos[4 * 2] = {0, 1, 1, 0, 1, 1, -1, 0};
static const float hand_W_U[2 * 3] = {1, 0, 1, 0, 1, 1};

/* Expected circuits of layer 0 head 0, multiplied out by hand. */
static const float hand_qk_tt[5 * 5] = {
    3, 1, 4, 6, 2,
    6, 2, 8, 12, 4,
    9, 3, 12, 18, 6,
    6, 2, 8, 12, 4,
    12, 4, 16, 24, 8,
};
static const float hand_qk_tp[5 * 4] = {
    1, 3, 4, -3,
    2, 6, 8, -6,
    3, 9, 12, -9,
    2, 6, 8, -6,
    4, 12, 16, -12,
};
static const float hand_qk_pt[4 * 5] = {
    6, 2, 8, 12, 4,
    3, 1, 4, 6, 2,
    9, 3, 12, 18, 6,
    -3, -1, -4, -6, -2,
};
static const float hand_qk_pp[4 * 4] = {
    2, 6, 8, -6,
    1, 3, 4, -3,
    3, 9, 12, -9,
    -1, -3, -4, 3,
};
static const float hand_ov[5 * 3] = {
    2, 1, 3,
    -2, -1, -3,
    0, 0, 0,
    4, 2, 6,
    -4, -2, -6,
};
static const float hand_ov_pos[4 * 3] = {
    -2, -1, -3,
    2, 1, 3,
    0, 0, 0,
    -2, -1, -3,
};

static SlModelConfig hand_config(int layers, int heads)
{
    SlModelConfig c = {.n_layers = layers, .n_heads = heads, .d_model = 2, .d_head = 1, .d_vocab_out = 3, .list_len = 1};
    sl_model_config_derive(&c);
    return c;
}

/* Sets head (l, h): W_Q, W_K, W_V are [D=2, E=1] columns, W_O is [E=1, D=2]. */
static void set_head(SlModel *m, int l, int h, const float wq[2], const float wk[2], const float wv[2], const float wo[2])
{
    size_t off = sl_model_head_qkv_offset(&m->cfg, l, h);
    memcpy(m->params.W_Q + off, wq, 2 * sizeof(float));
    memcpy(m->params.W_K + off, wk, 2 * sizeof(float));
    memcpy(m->params.W_V + off, wv, 2 * sizeof(float));
    memcpy(m->params.W_O + off, wo, 2 * sizeof(float));
}

static SlModel *hand_model(int layers, int heads, bool prepare)
{
    SlModelConfig c = hand_config(layers, heads);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_msg(m, "%s", err.message);
    memcpy(m->params.W_E, hand_W_E, sizeof hand_W_E);
    memcpy(m->params.W_pos, hand_W_pos, sizeof hand_W_pos);
    memcpy(m->params.W_U, hand_W_U, sizeof hand_W_U);
    set_head(m, 0, 0, (float[]){1, 2}, (float[]){3, 1}, (float[]){1, -1}, (float[]){2, 1});
    if (heads > 1)   /* a different head 1, to catch a wrong head offset */
        set_head(m, 0, 1, (float[]){5, 0}, (float[]){0, 5}, (float[]){0, 7}, (float[]){1, 1});
    if (layers > 1) {
        set_head(m, 1, 0, (float[]){1, 1}, (float[]){1, 0}, (float[]){1, 0}, (float[]){1, 0});
        if (heads > 1)
            set_head(m, 1, 1, (float[]){0, 1}, (float[]){1, 1}, (float[]){2, 0}, (float[]){0, 1});
    }
    if (prepare)
        ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    return m;
}

static void expect_matrix(const SlNamedMatrix *nm, const char *name, int rows, int cols, const float *expect)
{
    ck_assert_str_eq(nm->name, name);
    ck_assert_int_eq(nm->rows, rows);
    ck_assert_int_eq(nm->cols, cols);
    for (int i = 0; i < rows * cols; i++)
        ck_assert_msg(fabsf(nm->data[i] - expect[i]) < 1e-5f, "%s[%d][%d] = %g, by hand %g", name, i / cols, i % cols,
                      (double)nm->data[i], (double)expect[i]);
}

static void expect_hand_circuits(const SlModel *m)
{
    SlError err = {0};
    struct { const char *name; int rows, cols; const float *expect; } cases[] = {
        {"ov", 5, 3, hand_ov},
        {"ov-pos", 4, 3, hand_ov_pos},
        {"qk-token-token", 5, 5, hand_qk_tt},
        {"qk-token-pos", 5, 4, hand_qk_tp},
        {"qk-pos-token", 4, 5, hand_qk_pt},
        {"qk-pos-pos", 4, 4, hand_qk_pp},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SlNamedMatrix *nm = sl_circuit_get(m, cases[i].name, 0, 0, &err);
        ck_assert_msg(nm, "%s: %s", cases[i].name, err.message);
        expect_matrix(nm, cases[i].name, cases[i].rows, cases[i].cols, cases[i].expect);
        sl_named_matrix_free(nm);
    }
}

START_TEST(test_hand_circuits_tables)
{
    SlModel *m = hand_model(1, 1, true);   /* layer 0 comes from the tables */
    expect_hand_circuits(m);
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_circuits_multiplied)
{
    SlModel *m = hand_model(1, 1, false);  /* no tables: multiplied out with BLAS */
    ck_assert_ptr_null(m->tables);
    expect_hand_circuits(m);
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_labels)
{
    SlModel *m = hand_model(1, 1, true);
    SlError err = {0};
    SlNamedMatrix *nm = sl_circuit_get(m, "qk-token-pos", 0, 0, &err);
    ck_assert_ptr_nonnull(nm);
    const char *rows[5] = {"0", "1", "2", "BOS", "MID"}, *cols[4] = {"p0", "p1", "p2", "p3"};
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(nm->row_labels[i], rows[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(nm->col_labels[i], cols[i]);
    sl_named_matrix_free(nm);
    nm = sl_circuit_get(m, "ov-pos", 0, 0, &err);
    ck_assert_ptr_nonnull(nm);
    ck_assert_str_eq(nm->row_labels[3], "p3");
    ck_assert_str_eq(nm->col_labels[2], "2");   /* value columns stop before BOS */
    sl_named_matrix_free(nm);
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_biases_on_position_side)
{
    /* b_Q = 1 shifts q_pos to [3 2 4 0]; b_V = 1 shifts v_pos to [0 2 1 0]. */
    for (int prepare = 0; prepare < 2; prepare++) {
        SlModel *m = hand_model(1, 1, false);
        m->params.b_Q[0] = 1;
        m->params.b_V[0] = 1;
        SlError err = {0};
        if (prepare)
            ck_assert_int_eq(sl_model_prepare(m, &err), 0);
        const float pp[16] = {3, 9, 12, -9, 2, 6, 8, -6, 4, 12, 16, -12, 0, 0, 0, 0};
        const float ovp[12] = {0, 0, 0, 4, 2, 6, 2, 1, 3, 0, 0, 0};
        SlNamedMatrix *nm = sl_circuit_get(m, "qk-pos-pos", 0, 0, &err);
        ck_assert_ptr_nonnull(nm);
        expect_matrix(nm, "qk-pos-pos", 4, 4, pp);
        sl_named_matrix_free(nm);
        nm = sl_circuit_get(m, "ov-pos", 0, 0, &err);
        ck_assert_ptr_nonnull(nm);
        expect_matrix(nm, "ov-pos", 4, 3, ovp);
        sl_named_matrix_free(nm);
        nm = sl_circuit_get(m, "qk-token-token", 0, 0, &err);   /* the token side is unchanged */
        ck_assert_ptr_nonnull(nm);
        expect_matrix(nm, "qk-token-token", 5, 5, hand_qk_tt);
        sl_named_matrix_free(nm);
        sl_model_free(m);
    }
}
END_TEST

START_TEST(test_hand_layer1_head1)
{
    /* Layer 1 head 1: W_Q [0 1]^T, W_K [1 1]^T, W_V [2 0]^T, W_O [0 1], read
     * straight from the embeddings: q_tok = [0 1 1 0 2], k_tok = [1 1 2 2 2],
     * q_pos = [1 0 1 0], k_pos = [1 1 2 -1], v_tok = [2 0 2 4 0],
     * v_pos = [0 2 2 -2], W_O W_U = [0 1 1].  Layer 1 head 0: W_Q [1 1]^T,
     * W_K [1 0]^T, so q_tok = [1 1 2 2 2], k_tok = [1 0 1 2 0]. */
    SlModel *m = hand_model(2, 2, true);
    SlError err = {0};
    const float tt11[25] = {0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4};
    const float pp11[16] = {1, 1, 2, -1, 0, 0, 0, 0, 1, 1, 2, -1, 0, 0, 0, 0};
    const float ov11[15] = {0, 2, 2, 0, 0, 0, 0, 2, 2, 0, 4, 4, 0, 0, 0};
    const float ovp11[12] = {0, 0, 0, 0, 2, 2, 0, 2, 2, 0, -2, -2};
    const float tt10[25] = {1, 0, 1, 2, 0, 1, 0, 1, 2, 0, 2, 0, 2, 4, 0, 2, 0, 2, 4, 0, 2, 0, 2, 4, 0};
    SlNamedMatrix *nm = sl_circuit_get(m, "qk-token-token", 1, 1, &err);
    ck_assert_msg(nm, "%s", err.message);
    expect_matrix(nm, "qk-token-token", 5, 5, tt11);
    sl_named_matrix_free(nm);
    nm = sl_circuit_get(m, "qk-pos-pos", 1, 1, &err);
    expect_matrix(nm, "qk-pos-pos", 4, 4, pp11);
    sl_named_matrix_free(nm);
    nm = sl_circuit_get(m, "ov", 1, 1, &err);
    expect_matrix(nm, "ov", 5, 3, ov11);
    sl_named_matrix_free(nm);
    nm = sl_circuit_get(m, "ov-pos", 1, 1, &err);
    expect_matrix(nm, "ov-pos", 4, 3, ovp11);
    sl_named_matrix_free(nm);
    nm = sl_circuit_get(m, "qk-token-token", 1, 0, &err);
    expect_matrix(nm, "qk-token-token", 5, 5, tt10);
    sl_named_matrix_free(nm);
    /* layer 0 head 0 of the deeper model is still the hand model's */
    expect_hand_circuits(m);
    sl_model_free(m);
}
END_TEST

START_TEST(test_bad_requests)
{
    SlModel *m = hand_model(1, 1, true);
    SlError err = {0};
    ck_assert_ptr_null(sl_circuit_get(m, "ov", 1, 0, &err));
    ck_assert_int_eq(err.code, SL_EINVAL);
    ck_assert_msg(strstr(err.message, "layer 1 is out of range"), "%s", err.message);
    ck_assert_ptr_null(sl_circuit_get(m, "ov", 0, 1, &err));
    ck_assert_msg(strstr(err.message, "head 1 is out of range"), "%s", err.message);
    ck_assert_ptr_null(sl_circuit_get(m, "ov", -1, 0, &err));
    ck_assert_ptr_null(sl_circuit_get(m, "qk", 0, 0, &err));
    ck_assert_msg(strstr(err.message, "'qk' is not a circuit"), "%s", err.message);
    float terms[4 * 4 * 4];
    int bad[4] = {3, 0, 4, 5};   /* 5 is not a token of this model */
    ck_assert_int_eq(sl_circuit_score_terms(m, 0, bad, 4, terms, &err), SL_EINVAL);
    ck_assert_msg(strstr(err.message, "token 5 at position 3"), "%s", err.message);
    int ok[5] = {3, 0, 4, 0, 0};
    ck_assert_int_eq(sl_circuit_score_terms(m, 0, ok, 5, terms, &err), SL_EINVAL);   /* longer than n_ctx */
    ck_assert_int_eq(sl_circuit_score_terms(m, 1, ok, 4, terms, &err), SL_EINVAL);   /* no head 1 */
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_score_terms)
{
    /* tokens BOS 2 MID 2; each term is q (x) k of the rows these select. */
    SlModel *m = hand_model(1, 1, true);
    SlError err = {0};
    const int tokens[4] = {3, 2, 4, 2};
    float terms[4 * 16];
    ck_assert_int_eq(sl_circuit_score_terms(m, 0, tokens, 4, terms, &err), 0);
    const float expect[4][16] = {
        {12, 0, 0, 0, 18, 12, 0, 0, 24, 16, 8, 0, 18, 12, 6, 12},   /* token-token */
        {2, 0, 0, 0, 3, 9, 0, 0, 4, 12, 16, 0, 3, 9, 12, -9},       /* token-pos */
        {12, 0, 0, 0, 6, 4, 0, 0, 18, 12, 6, 0, -6, -4, -2, -4},    /* pos-token */
        {2, 0, 0, 0, 1, 3, 0, 0, 3, 9, 12, 0, -1, -3, -4, 3},       /* pos-pos */
    };
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 16; i++)
            ck_assert_msg(terms[t * 16 + i] == expect[t][i], "term %d [%d][%d] = %g, by hand %g", t, i / 4, i % 4,
                          (double)terms[t * 16 + i], (double)expect[t][i]);
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_metrics)
{
    /* OV rows 0..2 restricted to values: [2 1 3] argmax 2 (miss), [-2 -1 -3]
     * argmax 1 (hit), [0 0 0] argmax 0 (first on ties: miss) -> 1 of 3.
     * QK token-token rows 0..2 restricted to values, [3 1 4] * q with q > 0:
     * argmax 2 everywhere, which is row + 1 only for row 1 -> 1 of 3. */
    SlModel *m = hand_model(1, 1, true);
    SlError err = {0};
    int hits = -1, total = -1;
    ck_assert_int_eq(sl_circuit_ov_copy_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 1);
    ck_assert_int_eq(total, 3);
    ck_assert_int_eq(sl_circuit_qk_next_token_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 1);
    ck_assert_int_eq(total, 3);
    /* W_O = [2 -1] makes W_O W_U = [2 -1 1]: rows [2 -1 1] (hit), [-2 1 -1]
     * (hit), [0 0 0] (miss) -> 2 of 3; the QK side is unchanged. */
    m->params.W_O[1] = -1;
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    ck_assert_int_eq(sl_circuit_ov_copy_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 2);
    ck_assert_int_eq(sl_circuit_qk_next_token_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 1);
    sl_model_free(m);
}
END_TEST

/* ---- interventions on the hand model, through the one forward path ----------
 * The hand model with W_Q scaled to [0.1 0.2]^T scales every QK term by 0.1,
 * so on tokens BOS 2 MID 2 the terms are 0.1 times hand_terms below, and
 * (E = 1) the score is their sum.  The rest, by hand:
 *   v at each position = v_tok[t] + v_pos[p] = [1 1 -2 -1]; without W_pos [2 0 -2 0]
 *   direct logits x W_U, x = W_E[t] + W_pos[p]: [2 1 3] [2 1 3] [1 3 4] [0 1 1]
 *   W_O W_U = [2 1 3], so logits[q] = direct[q] + z[q] [2 1 3].
 */
static const int hand_tokens[4] = {3, 2, 4, 2};
static const float hand_terms[4][16] = {
    {12, 0, 0, 0, 18, 12, 0, 0, 24, 16, 8, 0, 18, 12, 6, 12},
    {2, 0, 0, 0, 3, 9, 0, 0, 4, 12, 16, 0, 3, 9, 12, -9},
    {12, 0, 0, 0, 6, 4, 0, 0, 18, 12, 6, 0, -6, -4, -2, -4},
    {2, 0, 0, 0, 1, 3, 0, 0, 3, 9, 12, 0, -1, -3, -4, 3},
};
static const float hand_v[4] = {1, 1, -2, -1}, hand_v_tok[4] = {2, 0, -2, 0};
static const float hand_direct[4][3] = {{2, 1, 3}, {2, 1, 3}, {1, 3, 4}, {0, 1, 1}};
static const float hand_owu[3] = {2, 1, 3};

static SlModel *hand_iv_model(void)
{
    SlModel *m = hand_model(1, 1, false);
    m->params.W_Q[0] = 0.1f;
    m->params.W_Q[1] = 0.2f;
    SlError err = {0};
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    return m;
}

/* What the intervention does to the hand model, worked from the numbers above. */
static void hand_expect(const SlIntervention *iv, double scores[16], double pattern[16], double logits[12])
{
    double z[4];
    for (int q = 0; q < 4; q++) {
        for (int k = 0; k < 4; k++) {
            double s = 0;
            for (int t = 0; t < 4; t++)
                if (!(iv->qk_terms_off & (1u << t)))
                    s += 0.1 * hand_terms[t][q * 4 + k];
            scores[q * 4 + k] = k <= q ? s : -INFINITY;
        }
        double total = 0;
        for (int k = 0; k < 4; k++) {
            bool open = k <= q && k != iv->block_source;
            pattern[q * 4 + k] = open ? exp(scores[q * 4 + k]) : 0;
            total += pattern[q * 4 + k];
        }
        for (int k = 0; k < 4; k++) {
            pattern[q * 4 + k] = total > 0 ? pattern[q * 4 + k] / total : 0;   /* no key left: no attention */
            if (q == iv->force_query)
                pattern[q * 4 + k] = k == iv->force_source;
        }
        z[q] = 0;
        for (int k = 0; k < 4; k++)
            z[q] += pattern[q * 4 + k] * (iv->ov_drop_pos ? hand_v_tok[k] : hand_v[k]);
        if (q == iv->ablate_position)
            z[q] = iv->ablate_kind == SL_ABLATE_MEAN ? iv->ablate_mean_z[0] : 0;
        for (int j = 0; j < 3; j++)
            logits[q * 3 + j] = (iv->drop_direct ? 0 : hand_direct[q][j]) + z[q] * hand_owu[j];
    }
}

static void check_hand_forward(const SlModel *m, const SlIntervention *iv, SlForwardPath path, bool check_scores,
                               const char *what)
{
    SlError err = {0};
    SlActCache *cache = sl_cache_new(&m->cfg, 1, 4, &err);
    ck_assert_msg(cache, "%s", err.message);
    ck_assert_msg(sl_model_forward(m, hand_tokens, 1, 4, cache, iv, path, &err) == 0, "%s: %s", what, err.message);
    double scores[16], pattern[16], logits[12];
    hand_expect(iv, scores, pattern, logits);
    int nd;
    int64_t shape[5];
    const float *cs = sl_cache_get(cache, "blocks.0.attn.hook_attn_scores", &nd, shape);
    const float *cp = sl_cache_get(cache, "blocks.0.attn.hook_pattern", &nd, shape);
    const float *cl = sl_cache_get(cache, "logits", &nd, shape);
    ck_assert_ptr_nonnull(cs);
    ck_assert_ptr_nonnull(cp);
    ck_assert_ptr_nonnull(cl);
    for (int i = 0; i < 16; i++) {
        if (check_scores && i % 4 <= i / 4)   /* masked scores may be -inf or TL's -1e5 */
            ck_assert_msg(fabs(cs[i] - scores[i]) < 1e-4, "%s (path %d): score[%d][%d] = %g, by hand %g", what,
                          (int)path, i / 4, i % 4, (double)cs[i], scores[i]);
        ck_assert_msg(fabs(cp[i] - pattern[i]) < 1e-5, "%s (path %d): pattern[%d][%d] = %g, by hand %g", what,
                      (int)path, i / 4, i % 4, (double)cp[i], pattern[i]);
    }
    for (int i = 0; i < 12; i++)
        ck_assert_msg(fabs(cl[i] - logits[i]) < 1e-4, "%s (path %d): logits[%d][%d] = %g, by hand %g", what,
                      (int)path, i / 3, i % 3, (double)cl[i], logits[i]);
    /* Teacher-forced decoding of the list [2] goes through the same
     * intervention: its one prediction, at MID (q = 2), is the argmax. */
    int values[1] = {2}, argmax = -1;
    ck_assert_msg(sl_decode_teacher_forced(m, values, 1, &argmax, cache, iv, &err) == 0, "%s: %s", what, err.message);
    int best = 0;
    for (int j = 1; j < 3; j++)
        if (logits[2 * 3 + j] > logits[2 * 3 + best])
            best = j;
    ck_assert_msg(argmax == best, "%s: teacher-forced argmax %d, by hand %d", what, argmax, best);
    sl_cache_free(cache);
}

static void check_hand_all_paths(const SlIntervention *iv, bool check_scores, const char *what)
{
    SlModel *m = hand_iv_model();
    check_hand_forward(m, iv, SL_FORWARD_GENERAL, check_scores, what);
    check_hand_forward(m, iv, SL_FORWARD_TABLES, check_scores, what);
    sl_model_free(m);
}

START_TEST(test_iv_clean)
{
    SlIntervention iv;
    sl_intervention_init(&iv);
    ck_assert(sl_intervention_is_none(&iv));
    check_hand_all_paths(&iv, true, "clean");
}
END_TEST

START_TEST(test_iv_qk_terms)
{
    const unsigned bits[] = {SL_QK_TERM_TOK_TOK, SL_QK_TERM_TOK_POS, SL_QK_TERM_POS_TOK, SL_QK_TERM_POS_POS,
                             SL_QK_TERM_TOK_POS | SL_QK_TERM_POS_POS};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        SlIntervention iv;
        sl_intervention_init(&iv);
        iv.qk_terms_off = bits[i];
        char what[48];
        snprintf(what, sizeof what, "qk_terms_off 0x%x", bits[i]);
        ck_assert(!sl_intervention_is_none(&iv));
        check_hand_all_paths(&iv, true, what);
    }
}
END_TEST

START_TEST(test_iv_ov_drop_pos)
{
    SlIntervention iv;
    sl_intervention_init(&iv);
    iv.ov_drop_pos = true;
    check_hand_all_paths(&iv, true, "ov_drop_pos");
}
END_TEST

START_TEST(test_iv_drop_direct)
{
    SlIntervention iv;
    sl_intervention_init(&iv);
    iv.drop_direct = true;
    check_hand_all_paths(&iv, true, "drop_direct");
}
END_TEST

START_TEST(test_iv_ablate)
{
    static const float mean_z[1] = {0.5f};
    for (int q = 0; q < 4; q++) {
        SlIntervention iv;
        sl_intervention_init(&iv);
        iv.ablate_position = q;
        iv.ablate_kind = SL_ABLATE_ZERO;
        check_hand_all_paths(&iv, true, "zero ablation");
        iv.ablate_kind = SL_ABLATE_MEAN;
        iv.ablate_mean_z = mean_z;
        check_hand_all_paths(&iv, true, "mean ablation");
    }
}
END_TEST

START_TEST(test_iv_block_source)
{
    for (int k = 0; k < 4; k++) {   /* key 0 is query 0's only key: that row attends to nothing (z = 0) */
        SlIntervention iv;
        sl_intervention_init(&iv);
        iv.block_source = k;
        check_hand_all_paths(&iv, false, "block_source");
    }
}
END_TEST

START_TEST(test_iv_force)
{
    for (int q = 0; q < 4; q++)
        for (int k = 0; k <= q; k++) {
            SlIntervention iv;
            sl_intervention_init(&iv);
            iv.force_query = q;
            iv.force_source = k;
            check_hand_all_paths(&iv, false, "force");
        }
}
END_TEST

START_TEST(test_hand_dla)
{
    /* src[k] = pattern[q, k] v[k] (W_O W_U)[value], direct = direct[q][value]. */
    SlModel *m = hand_iv_model();
    SlError err = {0};
    SlActCache *cache = sl_cache_new(&m->cfg, 1, 4, &err);
    ck_assert_ptr_nonnull(cache);
    ck_assert_int_eq(sl_model_forward(m, hand_tokens, 1, 4, cache, NULL, SL_FORWARD_AUTO, &err), 0);
    SlIntervention none;
    sl_intervention_init(&none);
    double scores[16], pattern[16], logits[12];
    hand_expect(&none, scores, pattern, logits);
    for (int q = 0; q < 4; q++)
        for (int value = 0; value < 3; value++) {
            float src[4], direct;
            ck_assert_int_eq(sl_circuit_dla(m, cache, 0, q, value, src, &direct, &err), 0);
            ck_assert(fabs(direct - hand_direct[q][value]) < 1e-5);
            double sum = direct;
            for (int k = 0; k < 4; k++) {
                double expect = pattern[q * 4 + k] * hand_v[k] * hand_owu[value];
                ck_assert_msg(fabs(src[k] - expect) < 1e-5, "q %d value %d src[%d] = %g, by hand %g", q, value, k,
                              (double)src[k], expect);
                sum += src[k];
            }
            ck_assert(fabs(sum - logits[q * 3 + value]) < 1e-4);
        }
    float src[4], direct;
    ck_assert_int_eq(sl_circuit_dla(m, cache, 1, 0, 0, src, &direct, &err), SL_EINVAL);   /* one sequence */
    ck_assert_int_eq(sl_circuit_dla(m, cache, 0, 4, 0, src, &direct, &err), SL_EINVAL);
    ck_assert_int_eq(sl_circuit_dla(m, cache, 0, 0, 3, src, &direct, &err), SL_EINVAL);   /* BOS is no value */
    sl_cache_free(cache);
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_mean_z)
{
    /* W_V = 0 and b_V = 0.75: every position's value is 0.75, and a pattern
     * sums to 1, so hook_z is 0.75 at every position of every list. */
    SlModel *m = hand_iv_model();
    m->params.W_V[0] = m->params.W_V[1] = 0;
    m->params.b_V[0] = 0.75f;
    SlError err = {0};
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    float mz = 0;
    ck_assert_int_eq(sl_circuit_mean_z(m, 0, 37, 5, &mz, &err), 0);
    ck_assert_msg(fabsf(mz - 0.75f) < 1e-6f, "mean z %g", (double)mz);
    ck_assert_int_eq(sl_circuit_mean_z(m, 1, 37, 5, &mz, &err), SL_EINVAL);
    sl_model_free(m);
}
END_TEST

START_TEST(test_hand_attention_stats)
{
    /* With BOS's embedding zeroed (k_tok[BOS] = 0), the scores of the one
     * prediction position, MID (q = 2; query terms 0.4 and 0.3 per unit key):
     *   BOS 2 MID 2: keys BOS 0.4 + 0.3 = 0.7, "2" 1.6 + 1.2 + 1.2 + 0.9 = 4.9,
     *                MID 0.8 + 1.6 + 0.6 + 1.2 = 4.2 -> top key holds 2: right
     *   BOS 1 MID 1: keys 0.7, "1" 0.4 + 1.2 + 0.3 + 0.9 = 2.8, MID 4.2 -> MID: wrong
     * and with n = 1 nothing lies after MID before the last query. */
    SlModel *m = hand_iv_model();
    m->params.W_E[3 * 2] = m->params.W_E[3 * 2 + 1] = 0;
    SlError err = {0};
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    const int tokens[8] = {3, 2, 4, 2, 3, 1, 4, 1};
    SlAttentionStats st;
    ck_assert_int_eq(sl_circuit_attention_stats_tokens(m, tokens, 1, &st, &err), 0);
    ck_assert_int_eq(st.queries, 1);
    ck_assert(st.top_source_correct == 1.0);
    ck_assert_int_eq(sl_circuit_attention_stats_tokens(m, tokens, 2, &st, &err), 0);
    ck_assert_int_eq(st.queries, 2);
    ck_assert(st.top_source_correct == 0.5);
    ck_assert(st.mass_after_mid == 0.0);
    /* the one input a_1 holds the answer in both lists; the attention on it
     * is softmax(0.7, 4.9, 4.2)[1] and softmax(0.7, 2.8, 4.2)[1] */
    ck_assert(st.top_input_correct == 1.0);
    double p1 = exp(4.9) / (exp(0.7) + exp(4.9) + exp(4.2)), p2 = exp(2.8) / (exp(0.7) + exp(2.8) + exp(4.2));
    ck_assert_msg(fabs(st.correct_mass - (p1 + p2) / 2) < 1e-6, "mass on the answer %g, by hand %g", st.correct_mass,
                  (p1 + p2) / 2);
    sl_model_free(m);
}
END_TEST

START_TEST(test_uniform_attention_stats)
{
    /* All weights zero: every score is 0, the pattern uniform over keys 0..q.
     * n = 2 (MID at 3): query 3 puts nothing after MID, query 4 puts 1/5 on
     * key 4 (b_1); the mean is 0.1.  The top key is the first, BOS: never right. */
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 2, .d_head = 1, .d_vocab_out = 3, .list_len = 2};
    sl_model_config_derive(&c);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    const int tokens[6] = {3, 2, 0, 4, 0, 2};
    SlAttentionStats st;
    ck_assert_int_eq(sl_circuit_attention_stats_tokens(m, tokens, 1, &st, &err), 0);
    ck_assert_int_eq(st.queries, 2);
    ck_assert_msg(fabs(st.mass_after_mid - 0.1) < 1e-6, "mass after MID %g", st.mass_after_mid);
    ck_assert(st.top_source_correct == 0.0);
    /* among the inputs (2, 0) the first wins the tie: wrong for query 3
     * (answer 0), right for query 4 (answer 2); the answer's input gets 1/4
     * of query 3's attention and 1/5 of query 4's */
    ck_assert(st.top_input_correct == 0.5);
    ck_assert_msg(fabs(st.correct_mass - 0.225) < 1e-6, "mass on the answer %g", st.correct_mass);
    sl_model_free(m);
}
END_TEST

/* ---- the seed model against PyTorch ------------------------------------------ */

#define SEED_PT "seed-model/sort_fixed_len_list_model.pt"
#define REFERENCE "reference/reference.safetensors"

/* The seed model, or NULL (and a printed reason) when ../shared is absent. */
static SlModel *seed_model(void)
{
    const char *path = shared_path(SEED_PT);
    if (!path) {
        printf("skip: %s not found (set SORTLENS_SHARED)\n", SEED_PT);
        return NULL;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    return m;
}

static SlTensorSet *reference(void)
{
    const char *path = shared_path(REFERENCE);
    if (!path) {
        printf("skip: %s not found (set SORTLENS_SHARED)\n", REFERENCE);
        return NULL;
    }
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_read(path, &err);
    ck_assert_msg(ts, "%s", err.message);
    return ts;
}

/* A reference tensor as floats (caller frees), checking its element count. */
static float *ref_f32(const SlTensorSet *ts, const char *name, size_t numel)
{
    const SlTensor *t = sl_tensorset_find(ts, name);
    ck_assert_msg(t, "reference lacks %s", name);
    ck_assert_int_eq(sl_shape_numel(t->ndim, t->shape, 4), (int64_t)numel);
    SlError err = {0};
    float *f = sl_tensor_to_f32(t, &err);
    ck_assert_msg(f, "%s", err.message);
    return f;
}

/* The tutorial's token batch [256, 22] as ints. */
static int *ref_tokens(const SlTensorSet *ts, int *B)
{
    const SlTensor *t = sl_tensorset_find(ts, "tokens");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, SL_DT_I64);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[1], 22);
    *B = (int)t->shape[0];
    int *tok = malloc((size_t)*B * 22 * sizeof(int));
    for (int64_t i = 0; i < t->shape[0] * 22; i++)
        tok[i] = (int)((const int64_t *)t->data)[i];
    return tok;
}

static const char *const ref_circuit_names[SL_CIRCUIT_COUNT] = {
    [SL_CIRCUIT_OV] = "circuit.ov_token",
    [SL_CIRCUIT_OV_POS] = "circuit.ov_pos",
    [SL_CIRCUIT_QK_TOKEN_TOKEN] = "circuit.qk_token_token",
    [SL_CIRCUIT_QK_TOKEN_POS] = "circuit.qk_token_pos",
    [SL_CIRCUIT_QK_POS_TOKEN] = "circuit.qk_pos_token",
    [SL_CIRCUIT_QK_POS_POS] = "circuit.qk_pos_pos",
};

/* Circuit (layer, 0) of m equals PyTorch's within 1e-5 of the largest value. */
static void expect_reference_circuits(const SlModel *m, const SlTensorSet *ref, int layer)
{
    SlError err = {0};
    for (int k = 0; k < SL_CIRCUIT_COUNT; k++) {
        SlNamedMatrix *nm = sl_circuit_get_kind(m, (SlCircuitKind)k, layer, 0, &err);
        ck_assert_msg(nm, "%s", err.message);
        size_t n = (size_t)nm->rows * nm->cols;
        float *r = ref_f32(ref, ref_circuit_names[k], n);
        double scale = max_abs(r, n), diff = max_abs_diff(nm->data, r, n);
        printf("layer %d %-15s %2d x %2d  max |x| %8.3f  max error %.3g (relative %.3g)\n", layer, nm->name,
               nm->rows, nm->cols, scale, diff, diff / scale);
        ck_assert_msg(diff <= 1e-5 * scale, "%s (layer %d): error %g of max %g", nm->name, layer, diff, scale);
        free(r);
        sl_named_matrix_free(nm);
    }
    /* the combined matrix: PyTorch's four QK terms as its blocks, the mask-free pos-pos too */
    SlNamedMatrix *all = sl_circuit_qk_combined(m, layer, 0, &err);
    ck_assert_msg(all, "%s", err.message);
    int V = m->cfg.d_vocab, T = m->cfg.n_ctx, N = V + T;
    ck_assert_int_eq(all->rows, N);
    ck_assert_int_eq(all->cols, N);
    ck_assert_str_eq(all->row_labels[V - 1], "MID");
    ck_assert_str_eq(all->col_labels[V], "p0");
    for (int t = 0; t < 4; t++) {
        SlCircuitKind k = (SlCircuitKind)(SL_CIRCUIT_QK_TOKEN_TOKEN + t);
        int rows = t < 2 ? V : T, cols = t % 2 == 0 ? V : T, r0 = t < 2 ? 0 : V, c0 = t % 2 == 0 ? 0 : V;
        float *r = ref_f32(ref, ref_circuit_names[k], (size_t)rows * cols);
        double scale = max_abs(r, (size_t)rows * cols), diff = 0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                diff = fmax(diff, fabs((double)all->data[(size_t)(r0 + i) * N + c0 + j] - r[(size_t)i * cols + j]));
        ck_assert_msg(diff <= 1e-5 * scale, "qk-combined block %d (layer %d): error %g of max %g", t, layer, diff, scale);
        free(r);
    }
    sl_named_matrix_free(all);
}

START_TEST(test_seed_circuits)
{
    SlModel *m = seed_model();
    SlTensorSet *ref = m ? reference() : NULL;
    if (!ref) {
        sl_model_free(m);
        return;
    }
    expect_reference_circuits(m, ref, 0);
    /* The multiplied-out path: a two-layer model whose layer 1 is the seed's
     * layer 0 (layer 0 zero) must give the same circuits for layer 1. */
    SlModelConfig c2 = m->cfg;
    c2.n_layers = 2;
    SlError err = {0};
    SlModel *m2 = sl_model_new(&c2, &err);
    ck_assert_ptr_nonnull(m2);
    size_t DE = (size_t)c2.d_model * c2.d_head;
    memcpy(m2->params.W_E, m->params.W_E, m->param_sizes[SL_P_W_E] * sizeof(float));
    memcpy(m2->params.W_pos, m->params.W_pos, m->param_sizes[SL_P_W_POS] * sizeof(float));
    memcpy(m2->params.W_U, m->params.W_U, m->param_sizes[SL_P_W_U] * sizeof(float));
    memcpy(m2->params.W_Q + DE, m->params.W_Q, DE * sizeof(float));
    memcpy(m2->params.W_K + DE, m->params.W_K, DE * sizeof(float));
    memcpy(m2->params.W_V + DE, m->params.W_V, DE * sizeof(float));
    memcpy(m2->params.W_O + DE, m->params.W_O, DE * sizeof(float));
    ck_assert_int_eq(sl_model_prepare(m2, &err), 0);
    expect_reference_circuits(m2, ref, 1);
    sl_model_free(m2);
    sl_tensorset_free(ref);
    sl_model_free(m);
}
END_TEST

START_TEST(test_seed_headline_metrics)
{
    SlModel *m = seed_model();
    if (!m)
        return;
    SlError err = {0};
    int hits, total;
    ck_assert_int_eq(sl_circuit_ov_copy_count(m, 0, 0, &hits, &total, &err), 0);
    printf("ov copy: %d/%d\n", hits, total);
    ck_assert_int_eq(hits, 50);
    ck_assert_int_eq(total, 50);
    ck_assert((double)hits / total == 1.0);
    ck_assert_int_eq(sl_circuit_qk_next_token_count(m, 0, 0, &hits, &total, &err), 0);
    printf("qk next token: %d/%d\n", hits, total);
    ck_assert_int_eq(hits, 31);
    ck_assert_int_eq(total, 50);
    ck_assert((double)hits / total == 0.62);
    sl_model_free(m);
}
END_TEST

START_TEST(test_seed_score_terms)
{
    SlModel *m = seed_model();
    SlTensorSet *ref = m ? reference() : NULL;
    if (!ref) {
        sl_model_free(m);
        return;
    }
    int B, T = 22;
    int *tokens = ref_tokens(ref, &B);
    float *scores = ref_f32(ref, "cache4.attn.hook_attn_scores", 4 * 22 * 22);   /* [4, 1, T, T] */
    float *pattern = ref_f32(ref, "pattern", (size_t)B * 22 * 22);               /* [B, 1, T, T] */
    float terms[4 * 22 * 22];
    SlError err = {0};
    double scale = 1.0 / sqrt((double)m->cfg.d_head), worst_s = 0, worst_p = 0, top = 0;
    for (int b = 0; b < B; b++) {
        ck_assert_int_eq(sl_circuit_score_terms(m, 0, tokens + b * T, T, terms, &err), 0);
        for (int q = 0; q < T; q++) {
            double sum[22], mx = -INFINITY, z = 0;
            for (int k = 0; k <= q; k++) {
                double s = 0;
                for (int t = 0; t < SL_SCORE_TERMS; t++)
                    s += terms[(t * T + q) * T + k];
                sum[k] = s * scale;
                if (b < 4) {   /* the full cache of the first four lists */
                    double r = scores[((size_t)b * T + q) * T + k];
                    worst_s = fmax(worst_s, fabs(sum[k] - r));
                    top = fmax(top, fabs(r));
                }
                mx = fmax(mx, sum[k]);
            }
            for (int k = 0; k <= q; k++)
                z += exp(sum[k] - mx);
            for (int k = 0; k < T; k++) {
                double p = k <= q ? exp(sum[k] - mx) / z : 0.0;
                worst_p = fmax(worst_p, fabs(p - pattern[((size_t)b * T + q) * T + k]));
            }
            for (int k = q + 1; k < T; k++)
                for (int t = 0; t < SL_SCORE_TERMS; t++)
                    ck_assert(terms[(t * T + q) * T + k] == 0.0f);
        }
    }
    printf("score terms: scores error %.3g (max |score| %.3g), softmax vs pattern error %.3g over %d lists\n",
           worst_s, top, worst_p, B);
    ck_assert_msg(worst_s <= 1e-5 * top, "scores: error %g of max %g", worst_s, top);
    ck_assert_msg(worst_p <= 1e-5, "pattern: error %g", worst_p);
    free(tokens);
    free(scores);
    free(pattern);
    sl_tensorset_free(ref);
    sl_model_free(m);
}
END_TEST

START_TEST(test_seed_dla)
{
    SlModel *m = seed_model();
    SlTensorSet *ref = m ? reference() : NULL;
    if (!ref) {
        sl_model_free(m);
        return;
    }
    int B, T = 22, Vo = 50;
    int *tokens = ref_tokens(ref, &B);
    float *logits = ref_f32(ref, "cache4.logits", 4 * 22 * 50);     /* [4, T, Vo] */
    float *pattern = ref_f32(ref, "cache4.attn.hook_pattern", 4 * 22 * 22);
    float *ov = ref_f32(ref, "circuit.ov_token", 52 * 50);
    float *ovp = ref_f32(ref, "circuit.ov_pos", 22 * 50);
    SlError err = {0};
    SlActCache *cache = sl_cache_new(&m->cfg, 4, T, &err);
    ck_assert_msg(cache, "%s", err.message);
    ck_assert_int_eq(sl_model_forward(m, tokens, 4, T, cache, NULL, SL_FORWARD_AUTO, &err), 0);
    double worst_sum = 0, worst_src = 0, top = 0;
    for (int b = 0; b < 4; b++)
        for (int q = 11; q < 21; q++) {
            const float *lr = logits + ((size_t)b * T + q) * Vo;
            int v = 0;
            for (int j = 1; j < Vo; j++)
                if (lr[j] > lr[v])
                    v = j;
            float src[22], direct;
            ck_assert_int_eq(sl_circuit_dla(m, cache, b, q, v, src, &direct, &err), 0);
            double sum = direct;
            for (int k = 0; k < T; k++) {
                double p = pattern[((size_t)b * T + q) * T + k];
                double expect = p * ((double)ov[tokens[b * T + k] * Vo + v] + ovp[k * Vo + v]);
                worst_src = fmax(worst_src, fabs(src[k] - expect));
                sum += src[k];
            }
            worst_sum = fmax(worst_sum, fabs(sum - lr[v]));
            top = fmax(top, fabs(lr[v]));
        }
    printf("dla: sum vs logit error %.3g (max |logit| %.3g), source terms error %.3g\n", worst_sum, top, worst_src);
    ck_assert_msg(worst_sum <= 1e-5 * top, "dla sum: error %g of %g", worst_sum, top);
    ck_assert_msg(worst_src <= 1e-5 * top, "dla sources: error %g of %g", worst_src, top);
    sl_cache_free(cache);
    free(tokens);
    free(logits);
    free(pattern);
    free(ov);
    free(ovp);
    sl_tensorset_free(ref);
    sl_model_free(m);
}
END_TEST

START_TEST(test_seed_attention_stats)
{
    /* Against the same statistics read off PyTorch's pattern of the batch. */
    SlModel *m = seed_model();
    SlTensorSet *ref = m ? reference() : NULL;
    if (!ref) {
        sl_model_free(m);
        return;
    }
    int B, T = 22;
    int *tokens = ref_tokens(ref, &B);
    float *pattern = ref_f32(ref, "pattern", (size_t)B * 22 * 22);
    long right = 0, right_input = 0, queries = 0;
    double after = 0, correct = 0;
    for (int b = 0; b < B; b++)
        for (int q = 11; q <= 20; q++) {
            const float *row = pattern + ((size_t)b * T + q) * T;
            int answer = tokens[b * T + q + 1], best = 0, best_input = 1;
            for (int k = 1; k <= q; k++)
                if (row[k] > row[best])
                    best = k;
            for (int k = 2; k <= 10; k++)
                if (row[k] > row[best_input])
                    best_input = k;
            right += tokens[b * T + best] == answer;
            right_input += tokens[b * T + best_input] == answer;
            for (int k = 1; k <= 10; k++)
                if (tokens[b * T + k] == answer)
                    correct += row[k];
            for (int k = 12; k <= q; k++)
                after += row[k];
            queries++;
        }
    SlAttentionStats st;
    SlError err = {0};
    ck_assert_int_eq(sl_circuit_attention_stats_tokens(m, tokens, B, &st, &err), 0);
    printf("attention: top key right %.6f (from PyTorch's pattern %.6f), top input right %.6f (%.6f), "
           "mass on the answer %.6f (%.6f), after MID %.6f (%.6f)\n",
           st.top_source_correct, (double)right / queries, st.top_input_correct, (double)right_input / queries,
           st.correct_mass, correct / queries, st.mass_after_mid, after / queries);
    ck_assert_int_eq(st.queries, queries);
    /* argmax may flip on a near-tie: allow one position in 2560 */
    ck_assert(fabs(st.top_source_correct - (double)right / queries) <= 1.0 / queries);
    ck_assert(fabs(st.top_input_correct - (double)right_input / queries) <= 1.0 / queries);
    ck_assert(fabs(st.correct_mass - correct / queries) < 1e-5);
    ck_assert(fabs(st.mass_after_mid - after / queries) < 1e-5);
    ck_assert(st.mass_after_mid < 0.05);   /* the published finding: almost never after MID */
    free(tokens);
    free(pattern);
    sl_tensorset_free(ref);
    sl_model_free(m);
}
END_TEST

START_TEST(test_seed_ablation_table)
{
    SlModel *m = seed_model();
    if (!m)
        return;
    SlAblationRow rows[SL_ABLATION_COUNT];
    SlError err = {0};
    ck_assert_msg(sl_circuit_ablation_table(m, 300, 7, rows, NULL, NULL, &err) == 0, "%s", err.message);
    SlEvalResult clean;
    ck_assert_int_eq(sl_decode_eval(m, 300, 7, NULL, &clean, NULL, NULL, &err), 0);
    ck_assert(rows[SL_ABLATION_CLEAN].res.token_accuracy == clean.token_accuracy);
    ck_assert(rows[SL_ABLATION_CLEAN].res.loss == clean.loss);
    ck_assert(rows[SL_ABLATION_CLEAN].res.token_accuracy > 0.98);
    for (int i = 0; i < SL_ABLATION_COUNT; i++) {
        printf("  %-32s token %.4f list %.4f loss %.4f\n", rows[i].description, rows[i].res.token_accuracy,
               rows[i].res.list_accuracy, rows[i].res.loss);
        ck_assert(rows[i].res.lists == 300);
        ck_assert(isfinite(rows[i].res.loss));
        if (i != SL_ABLATION_CLEAN)   /* every part of the circuit carries some of the loss */
            ck_assert_msg(rows[i].res.loss != clean.loss, "%s left the loss unchanged", rows[i].name);
    }
    sl_model_free(m);
}
END_TEST

/* ---- a two-layer, two-head checkpoint ------------------------------------------- */

/* tok/pos side of head (l, h) through W (SL_P_W_Q/K/V), by plain loops in double. */
static void naive_side(const SlModel *m, int which, int l, int h, bool tok, double *out /* [R, E] */)
{
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    int R = tok ? c->d_vocab : c->n_ctx, D = c->d_model, E = c->d_head;
    const float *W = (which == SL_P_W_Q ? p->W_Q : which == SL_P_W_K ? p->W_K : p->W_V) + sl_model_head_qkv_offset(c, l, h);
    const float *b = (which == SL_P_W_Q ? p->b_Q : which == SL_P_W_K ? p->b_K : p->b_V) + ((size_t)l * c->n_heads + h) * E;
    const float *X = tok ? p->W_E : p->W_pos;
    for (int r = 0; r < R; r++)
        for (int e = 0; e < E; e++) {
            double s = tok ? 0 : b[e];
            for (int d = 0; d < D; d++)
                s += (double)X[(size_t)r * D + d] * W[(size_t)d * E + e];
            out[(size_t)r * E + e] = s;
        }
}

static void expect_naive(const SlModel *m, SlCircuitKind kind, int l, int h)
{
    const SlModelConfig *c = &m->cfg;
    int D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    SlError err = {0};
    SlNamedMatrix *nm = sl_circuit_get_kind(m, kind, l, h, &err);
    ck_assert_msg(nm, "%s", err.message);
    double *a = malloc((size_t)nm->rows * E * sizeof(double)), *bb = malloc((size_t)nm->cols * E * sizeof(double));
    double *ref = malloc((size_t)nm->rows * nm->cols * sizeof(double)), scale = 0, diff = 0;
    if (kind == SL_CIRCUIT_OV || kind == SL_CIRCUIT_OV_POS) {
        naive_side(m, SL_P_W_V, l, h, kind == SL_CIRCUIT_OV, a);
        const float *wo = m->params.W_O + sl_model_head_qkv_offset(c, l, h);
        for (int r = 0; r < nm->rows; r++)
            for (int j = 0; j < Vo; j++) {
                double s = 0;
                for (int d = 0; d < D; d++) {
                    double vo = 0;
                    for (int e = 0; e < E; e++)
                        vo += a[(size_t)r * E + e] * wo[(size_t)e * D + d];
                    s += vo * m->params.W_U[(size_t)d * Vo + j];
                }
                ref[(size_t)r * Vo + j] = s;
            }
    } else {
        bool qt = kind == SL_CIRCUIT_QK_TOKEN_TOKEN || kind == SL_CIRCUIT_QK_TOKEN_POS;
        bool kt = kind == SL_CIRCUIT_QK_TOKEN_TOKEN || kind == SL_CIRCUIT_QK_POS_TOKEN;
        naive_side(m, SL_P_W_Q, l, h, qt, a);
        naive_side(m, SL_P_W_K, l, h, kt, bb);
        for (int r = 0; r < nm->rows; r++)
            for (int k = 0; k < nm->cols; k++) {
                double s = 0;
                for (int e = 0; e < E; e++)
                    s += a[(size_t)r * E + e] * bb[(size_t)k * E + e];
                ref[(size_t)r * nm->cols + k] = s;
            }
    }
    for (size_t i = 0; i < (size_t)nm->rows * nm->cols; i++) {
        scale = fmax(scale, fabs(ref[i]));
        diff = fmax(diff, fabs(ref[i] - nm->data[i]));
    }
    ck_assert_msg(diff <= 1e-5 * fmax(scale, 1e-30), "%s layer %d head %d: error %g of max %g", nm->name, l, h,
                  diff, scale);
    free(a);
    free(bb);
    free(ref);
    sl_named_matrix_free(nm);
}

START_TEST(test_multi_layer_checkpoint)
{
    const char *path = testdata_path("multi_2l2h.pt");
    if (!path) {
        printf("skip: tests/data/multi_2l2h.pt not found\n");
        return;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    ck_assert_int_eq(m->cfg.n_layers, 2);
    ck_assert_int_eq(m->cfg.n_heads, 2);
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < SL_CIRCUIT_COUNT; k++)
                expect_naive(m, (SlCircuitKind)k, l, h);
    ck_assert_ptr_null(sl_circuit_get(m, "ov", 2, 0, &err));
    ck_assert_ptr_null(sl_circuit_get(m, "ov", 1, 2, &err));

    /* Against PyTorch's forward of this model (biases nonzero): the four
     * terms of layer 0 add up to its scores, and the attributions of both
     * layers and the direct path add up to the logits. */
    const char *xpath = testdata_path("multi_2l2h_expected.safetensors");
    ck_assert_msg(xpath, "tests/data/multi_2l2h_expected.safetensors is missing");
    SlTensorSet *ref = sl_safetensors_read(xpath, &err);
    ck_assert_msg(ref, "%s", err.message);
    const int T = 12, Vo = 20, B4 = 4, H = 2;
    const SlTensor *tt = sl_tensorset_find(ref, "tokens");
    ck_assert_ptr_nonnull(tt);
    int tokens[4 * 12];
    for (int i = 0; i < B4 * T; i++)
        tokens[i] = (int)((const int64_t *)tt->data)[i];
    float *scores = ref_f32(ref, "blocks.0.attn.hook_attn_scores", 32 * 2 * 12 * 12);   /* [32, H, T, T] */
    float *logits = ref_f32(ref, "logits", 32 * 12 * 20);                                 /* [32, T, Vo] */
    float terms[4 * 12 * 12];
    double worst = 0, top = 0;
    for (int b = 0; b < B4; b++)
        for (int h = 0; h < H; h++) {
            ck_assert_int_eq(sl_circuit_score_terms(m, h, tokens + b * T, T, terms, &err), 0);
            for (int q = 0; q < T; q++)
                for (int k = 0; k <= q; k++) {
                    double sum = 0;
                    for (int t = 0; t < SL_SCORE_TERMS; t++)
                        sum += terms[(t * T + q) * T + k];
                    double r = scores[(((size_t)b * H + h) * T + q) * T + k];
                    worst = fmax(worst, fabs(sum / 4.0 - r));   /* sqrt(d_head 16) */
                    top = fmax(top, fabs(r));
                }
        }
    printf("2l2h: layer-0 score terms vs PyTorch's scores: error %.3g (max %.3g)\n", worst, top);
    ck_assert_msg(worst <= 1e-5 * top, "2l2h scores: error %g of %g", worst, top);
    SlActCache *cache = sl_cache_new(&m->cfg, B4, T, &err);
    ck_assert_ptr_nonnull(cache);
    ck_assert_int_eq(sl_model_forward(m, tokens, B4, T, cache, NULL, SL_FORWARD_AUTO, &err), 0);
    worst = top = 0;
    for (int b = 0; b < B4; b++)
        for (int q = 0; q < T; q++)
            for (int v = 0; v < Vo; v++) {
                float src[2 * 2 * 12], direct;
                ck_assert_int_eq(sl_circuit_dla(m, cache, b, q, v, src, &direct, &err), 0);
                double sum = direct;
                for (int i = 0; i < 2 * 2 * T; i++)
                    sum += src[i];
                double r = logits[((size_t)b * T + q) * Vo + v];
                worst = fmax(worst, fabs(sum - r));
                top = fmax(top, fabs(r));
            }
    printf("2l2h: attributions sum vs PyTorch's logits: error %.3g (max %.3g)\n", worst, top);
    ck_assert_msg(worst <= 1e-5 * top, "2l2h dla: error %g of %g", worst, top);
    sl_cache_free(cache);
    free(scores);
    free(logits);
    sl_tensorset_free(ref);
    sl_model_free(m);
}
END_TEST

Suite *circuits_suite(void)
{
    Suite *s = suite_create("circuits");
    TCase *tc = tcase_create("hand");
    tcase_add_test(tc, test_hand_circuits_tables);
    tcase_add_test(tc, test_hand_circuits_multiplied);
    tcase_add_test(tc, test_hand_labels);
    tcase_add_test(tc, test_hand_biases_on_position_side);
    tcase_add_test(tc, test_hand_layer1_head1);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_test(tc, test_hand_score_terms);
    tcase_add_test(tc, test_hand_metrics);
    suite_add_tcase(s, tc);
    TCase *iv = tcase_create("interventions");
    tcase_add_test(iv, test_iv_clean);
    tcase_add_test(iv, test_iv_qk_terms);
    tcase_add_test(iv, test_iv_ov_drop_pos);
    tcase_add_test(iv, test_iv_drop_direct);
    tcase_add_test(iv, test_iv_ablate);
    tcase_add_test(iv, test_iv_block_source);
    tcase_add_test(iv, test_iv_force);
    tcase_add_test(iv, test_hand_dla);
    tcase_add_test(iv, test_hand_mean_z);
    tcase_add_test(iv, test_hand_attention_stats);
    tcase_add_test(iv, test_uniform_attention_stats);
    suite_add_tcase(s, iv);
    TCase *seed = tcase_create("seed");
    tcase_add_test(seed, test_seed_circuits);
    tcase_add_test(seed, test_seed_headline_metrics);
    tcase_add_test(seed, test_seed_score_terms);
    tcase_add_test(seed, test_seed_dla);
    tcase_add_test(seed, test_seed_attention_stats);
    tcase_add_test(seed, test_seed_ablation_table);
    tcase_add_test(seed, test_multi_layer_checkpoint);
    suite_add_tcase(s, seed);
    return s;
}

int main(void)
{
    return run_suite(circuits_suite());
}
