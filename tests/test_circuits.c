/* test_circuits.c: full circuits, score terms, attributions, metrics and
 * interventions, against hand calculations on tiny hand-built models and
 * against PyTorch's tensors for the seed model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/circuits.h"
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

static ModelConfig hand_config(int layers, int heads)
{
    ModelConfig c = {.n_layers = layers, .n_heads = heads, .d_model = 2, .d_head = 1, .d_vocab_out = 3, .list_len = 1};
    model_config_derive(&c);
    return c;
}

/* Sets head (l, h): W_Q, W_K, W_V are [D=2, E=1] columns, W_O is [E=1, D=2]. */
static void set_head(Model *m, int l, int h, const float wq[2], const float wk[2], const float wv[2], const float wo[2])
{
    size_t off = model_head_qkv_offset(&m->cfg, l, h);
    memcpy(m->params.W_Q + off, wq, 2 * sizeof(float));
    memcpy(m->params.W_K + off, wk, 2 * sizeof(float));
    memcpy(m->params.W_V + off, wv, 2 * sizeof(float));
    memcpy(m->params.W_O + off, wo, 2 * sizeof(float));
}

static Model *hand_model(int layers, int heads, bool prepare)
{
    ModelConfig c = hand_config(layers, heads);
    SlError err = {0};
    Model *m = model_new(&c, &err);
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
        ck_assert_int_eq(model_prepare(m, &err), 0);
    return m;
}

static void expect_matrix(const NamedMatrix *nm, const char *name, int rows, int cols, const float *expect)
{
    ck_assert_str_eq(nm->name, name);
    ck_assert_int_eq(nm->rows, rows);
    ck_assert_int_eq(nm->cols, cols);
    for (int i = 0; i < rows * cols; i++)
        ck_assert_msg(fabsf(nm->data[i] - expect[i]) < 1e-5f, "%s[%d][%d] = %g, by hand %g", name, i / cols, i % cols,
                      (double)nm->data[i], (double)expect[i]);
}

static void expect_hand_circuits(const Model *m)
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
        NamedMatrix *nm = circuit_get(m, cases[i].name, 0, 0, &err);
        ck_assert_msg(nm, "%s: %s", cases[i].name, err.message);
        expect_matrix(nm, cases[i].name, cases[i].rows, cases[i].cols, cases[i].expect);
        named_matrix_free(nm);
    }
}

START_TEST(test_hand_circuits_tables)
{
    Model *m = hand_model(1, 1, true);   /* layer 0 comes from the tables */
    expect_hand_circuits(m);
    model_free(m);
}
END_TEST

START_TEST(test_hand_circuits_multiplied)
{
    Model *m = hand_model(1, 1, false);  /* no tables: multiplied out with BLAS */
    ck_assert_ptr_null(m->tables);
    expect_hand_circuits(m);
    model_free(m);
}
END_TEST

START_TEST(test_hand_labels)
{
    Model *m = hand_model(1, 1, true);
    SlError err = {0};
    NamedMatrix *nm = circuit_get(m, "qk-token-pos", 0, 0, &err);
    ck_assert_ptr_nonnull(nm);
    const char *rows[5] = {"0", "1", "2", "BOS", "MID"}, *cols[4] = {"p0", "p1", "p2", "p3"};
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(nm->row_labels[i], rows[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(nm->col_labels[i], cols[i]);
    named_matrix_free(nm);
    nm = circuit_get(m, "ov-pos", 0, 0, &err);
    ck_assert_ptr_nonnull(nm);
    ck_assert_str_eq(nm->row_labels[3], "p3");
    ck_assert_str_eq(nm->col_labels[2], "2");   /* value columns stop before BOS */
    named_matrix_free(nm);
    model_free(m);
}
END_TEST

START_TEST(test_hand_biases_on_position_side)
{
    /* b_Q = 1 shifts q_pos to [3 2 4 0]; b_V = 1 shifts v_pos to [0 2 1 0]. */
    for (int prepare = 0; prepare < 2; prepare++) {
        Model *m = hand_model(1, 1, false);
        m->params.b_Q[0] = 1;
        m->params.b_V[0] = 1;
        SlError err = {0};
        if (prepare)
            ck_assert_int_eq(model_prepare(m, &err), 0);
        const float pp[16] = {3, 9, 12, -9, 2, 6, 8, -6, 4, 12, 16, -12, 0, 0, 0, 0};
        const float ovp[12] = {0, 0, 0, 4, 2, 6, 2, 1, 3, 0, 0, 0};
        NamedMatrix *nm = circuit_get(m, "qk-pos-pos", 0, 0, &err);
        ck_assert_ptr_nonnull(nm);
        expect_matrix(nm, "qk-pos-pos", 4, 4, pp);
        named_matrix_free(nm);
        nm = circuit_get(m, "ov-pos", 0, 0, &err);
        ck_assert_ptr_nonnull(nm);
        expect_matrix(nm, "ov-pos", 4, 3, ovp);
        named_matrix_free(nm);
        nm = circuit_get(m, "qk-token-token", 0, 0, &err);   /* the token side is unchanged */
        ck_assert_ptr_nonnull(nm);
        expect_matrix(nm, "qk-token-token", 5, 5, hand_qk_tt);
        named_matrix_free(nm);
        model_free(m);
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
    Model *m = hand_model(2, 2, true);
    SlError err = {0};
    const float tt11[25] = {0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4};
    const float pp11[16] = {1, 1, 2, -1, 0, 0, 0, 0, 1, 1, 2, -1, 0, 0, 0, 0};
    const float ov11[15] = {0, 2, 2, 0, 0, 0, 0, 2, 2, 0, 4, 4, 0, 0, 0};
    const float ovp11[12] = {0, 0, 0, 0, 2, 2, 0, 2, 2, 0, -2, -2};
    const float tt10[25] = {1, 0, 1, 2, 0, 1, 0, 1, 2, 0, 2, 0, 2, 4, 0, 2, 0, 2, 4, 0, 2, 0, 2, 4, 0};
    NamedMatrix *nm = circuit_get(m, "qk-token-token", 1, 1, &err);
    ck_assert_msg(nm, "%s", err.message);
    expect_matrix(nm, "qk-token-token", 5, 5, tt11);
    named_matrix_free(nm);
    nm = circuit_get(m, "qk-pos-pos", 1, 1, &err);
    expect_matrix(nm, "qk-pos-pos", 4, 4, pp11);
    named_matrix_free(nm);
    nm = circuit_get(m, "ov", 1, 1, &err);
    expect_matrix(nm, "ov", 5, 3, ov11);
    named_matrix_free(nm);
    nm = circuit_get(m, "ov-pos", 1, 1, &err);
    expect_matrix(nm, "ov-pos", 4, 3, ovp11);
    named_matrix_free(nm);
    nm = circuit_get(m, "qk-token-token", 1, 0, &err);
    expect_matrix(nm, "qk-token-token", 5, 5, tt10);
    named_matrix_free(nm);
    /* layer 0 head 0 of the deeper model is still the hand model's */
    expect_hand_circuits(m);
    model_free(m);
}
END_TEST

START_TEST(test_bad_requests)
{
    Model *m = hand_model(1, 1, true);
    SlError err = {0};
    ck_assert_ptr_null(circuit_get(m, "ov", 1, 0, &err));
    ck_assert_int_eq(err.code, SL_EINVAL);
    ck_assert_msg(strstr(err.message, "layer 1 is out of range"), "%s", err.message);
    ck_assert_ptr_null(circuit_get(m, "ov", 0, 1, &err));
    ck_assert_msg(strstr(err.message, "head 1 is out of range"), "%s", err.message);
    ck_assert_ptr_null(circuit_get(m, "ov", -1, 0, &err));
    ck_assert_ptr_null(circuit_get(m, "qk", 0, 0, &err));
    ck_assert_msg(strstr(err.message, "'qk' is not a circuit"), "%s", err.message);
    float terms[4 * 4 * 4];
    int bad[4] = {3, 0, 4, 5};   /* 5 is not a token of this model */
    ck_assert_int_eq(circuit_score_terms(m, 0, bad, 4, terms, &err), SL_EINVAL);
    ck_assert_msg(strstr(err.message, "token 5 at position 3"), "%s", err.message);
    int ok[5] = {3, 0, 4, 0, 0};
    ck_assert_int_eq(circuit_score_terms(m, 0, ok, 5, terms, &err), SL_EINVAL);   /* longer than n_ctx */
    ck_assert_int_eq(circuit_score_terms(m, 1, ok, 4, terms, &err), SL_EINVAL);   /* no head 1 */
    model_free(m);
}
END_TEST

START_TEST(test_hand_score_terms)
{
    /* tokens BOS 2 MID 2; each term is q (x) k of the rows these select. */
    Model *m = hand_model(1, 1, true);
    SlError err = {0};
    const int tokens[4] = {3, 2, 4, 2};
    float terms[4 * 16];
    ck_assert_int_eq(circuit_score_terms(m, 0, tokens, 4, terms, &err), 0);
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
    model_free(m);
}
END_TEST

START_TEST(test_hand_metrics)
{
    /* OV rows 0..2 restricted to values: [2 1 3] argmax 2 (miss), [-2 -1 -3]
     * argmax 1 (hit), [0 0 0] argmax 0 (first on ties: miss) -> 1 of 3.
     * QK token-token rows 0..2 restricted to values, [3 1 4] * q with q > 0:
     * argmax 2 everywhere, which is row + 1 only for row 1 -> 1 of 3. */
    Model *m = hand_model(1, 1, true);
    SlError err = {0};
    int hits = -1, total = -1;
    ck_assert_int_eq(circuit_ov_copy_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 1);
    ck_assert_int_eq(total, 3);
    ck_assert_int_eq(circuit_qk_next_token_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 1);
    ck_assert_int_eq(total, 3);
    /* W_O = [2 -1] makes W_O W_U = [2 -1 1]: rows [2 -1 1] (hit), [-2 1 -1]
     * (hit), [0 0 0] (miss) -> 2 of 3; the QK side is unchanged. */
    m->params.W_O[1] = -1;
    ck_assert_int_eq(model_prepare(m, &err), 0);
    ck_assert_int_eq(circuit_ov_copy_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 2);
    ck_assert_int_eq(circuit_qk_next_token_count(m, 0, 0, &hits, &total, &err), 0);
    ck_assert_int_eq(hits, 1);
    model_free(m);
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
    return s;
}

int main(void)
{
    return run_suite(circuits_suite());
}
