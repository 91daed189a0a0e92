/* test_forward.c: the forward pass and its cache, on both paths, against
 *  - a hand-built model small enough to work out by hand (every intervention),
 *  - a plain double-precision loop written here from the definitions (random
 *    models with biases, several layers and heads, every intervention),
 *  - PyTorch's tensors for the seed model (../shared/reference) and for the
 *    2-layer 2-head checkpoint in tests/data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/forward.h"
#include "sortlens/kernels.h"
#include "sortlens/safetensors.h"
#include "sortlens/tables.h"
#include "sortlens/task.h"
#include "reference.h"
#include "test_util.h"

static const SlForwardPath paths[2] = {SL_FORWARD_GENERAL, SL_FORWARD_TABLES};
static const char *const path_names[2] = {"general", "tables"};

/* ---- comparisons ---------------------------------------------------------------- */

/* ---- the hand model --------------------------------------------------------------- *
 * Vo = 3 (values 0 1 2, BOS 3, MID 4), n = 1 (n_ctx 4), D = 2, E = 1, H = 1:
 *   W_E   t0 [1 0]  t1 [0 1]  t2 [1 1]  BOS [2 0]  MID [0 2]
 *   W_pos p0 [0 1]  p1 [1 0]  p2 [1 1]  p3 [-1 0]
 *   W_Q [1 2]^T  W_K [3 1]^T  W_V [1 -1]^T  W_O [2 1]  W_U [[1 0 1] [0 1 1]]
 * On the tokens [BOS, 2, MID, 2] the stream is x = [2 1] [2 1] [1 3] [0 1],
 * and split into its token and position parts (scale 1/sqrt(1) = 1):
 *   q_tok = W_E[t] W_Q = 2 3 4 3     q_pos = W_pos[p] W_Q = 2 1 3 -1   (q = 4 4 7 2)
 *   k_tok = 6 4 2 4                  k_pos = 1 3 4 -3                  (k = 7 7 6 1)
 *   v_tok = 2 0 -2 0                 v_pos = -1 1 0 -1                 (v = 1 1 -2 -1)
 * so the scores are rows [28] [28 28] [49 49 42] [14 14 12 2]. */
static const int hand_tokens[4] = {3, 2, 4, 2};
static const double hand_x[4][2] = {{2, 1}, {2, 1}, {1, 3}, {0, 1}};
static const double hand_qt[4] = {2, 3, 4, 3}, hand_qp[4] = {2, 1, 3, -1};
static const double hand_kt[4] = {6, 4, 2, 4}, hand_kp[4] = {1, 3, 4, -3};
static const double hand_vt[4] = {2, 0, -2, 0}, hand_vp[4] = {-1, 1, 0, -1};

static SlModel *hand_model(bool biases)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 2, .d_head = 1, .d_vocab_out = 3, .list_len = 1};
    sl_model_config_derive(&c);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_msg(m, "%s", err.message);
    const float W_E[10] = {1, 0, 0, 1, 1, 1, 2, 0, 0, 2}, W_pos[8] = {0, 1, 1, 0, 1, 1, -1, 0};
    const float W_U[6] = {1, 0, 1, 0, 1, 1};
    memcpy(m->params.W_E, W_E, sizeof W_E);
    memcpy(m->params.W_pos, W_pos, sizeof W_pos);
    memcpy(m->params.W_U, W_U, sizeof W_U);
    m->params.W_Q[0] = 1, m->params.W_Q[1] = 2;
    m->params.W_K[0] = 3, m->params.W_K[1] = 1;
    m->params.W_V[0] = 1, m->params.W_V[1] = -1;
    m->params.W_O[0] = 2, m->params.W_O[1] = 1;
    if (biases) {   /* only on the output side, so the numbers above hold */
        m->params.b_O[0] = 0.5f, m->params.b_O[1] = -1;
        m->params.b_U[0] = 0.1f, m->params.b_U[1] = 0.2f, m->params.b_U[2] = 0.3f;
    }
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    return m;
}

/* What the hand model computes under an intervention, from the numbers
 * above: scores, pattern [4][4], z [4], logits [4][3]. */
typedef struct HandOut {
    double scores[4][4], pattern[4][4], z[4], attn[4][2], logits[4][3];
} HandOut;

static void hand_expect(const SlIntervention *iv, bool biases, HandOut *o)
{
    const double bO[2] = {biases ? 0.5 : 0, biases ? -1 : 0}, bU[3] = {biases ? 0.1 : 0, biases ? 0.2 : 0, biases ? 0.3 : 0};
    unsigned off = iv->qk_terms_off;
    for (int q = 0; q < 4; q++) {
        double mx = -INFINITY;
        for (int k = 0; k < 4; k++) {
            double s = 0;
            if (!(off & SL_QK_TERM_TOK_TOK))
                s += hand_qt[q] * hand_kt[k];
            if (!(off & SL_QK_TERM_TOK_POS))
                s += hand_qt[q] * hand_kp[k];
            if (!(off & SL_QK_TERM_POS_TOK))
                s += hand_qp[q] * hand_kt[k];
            if (!(off & SL_QK_TERM_POS_POS))
                s += hand_qp[q] * hand_kp[k];
            if (k > q || k == iv->block_source)
                s = -INFINITY;
            o->scores[q][k] = s;
            mx = s > mx ? s : mx;
        }
        double sum = 0;
        for (int k = 0; k < 4; k++)
            sum += o->pattern[q][k] = mx == -INFINITY ? 0 : exp(o->scores[q][k] - mx);
        for (int k = 0; k < 4; k++)
            o->pattern[q][k] = sum > 0 ? o->pattern[q][k] / sum : 0;
        if (q == iv->force_query)
            for (int k = 0; k < 4; k++)
                o->pattern[q][k] = k == iv->force_source;
        o->z[q] = 0;
        for (int k = 0; k < 4; k++)
            o->z[q] += o->pattern[q][k] * (hand_vt[k] + (iv->ov_drop_pos ? 0 : hand_vp[k]));
        if (q == iv->ablate_position)
            o->z[q] = iv->ablate_kind == SL_ABLATE_MEAN ? iv->ablate_mean_z[0] : 0;
        double r[2];
        for (int d = 0; d < 2; d++) {
            o->attn[q][d] = o->z[q] * (d == 0 ? 2 : 1) + bO[d];
            r[d] = o->attn[q][d] + (iv->drop_direct ? 0 : hand_x[q][d]);
        }
        o->logits[q][0] = r[0] + bU[0];
        o->logits[q][1] = r[1] + bU[1];
        o->logits[q][2] = r[0] + r[1] + bU[2];
    }
}

static void hand_check(const SlIntervention *iv, bool biases, const char *what)
{
    SlModel *m = hand_model(biases);
    SlError err = {0};
    SlActCache *c = sl_cache_new(&m->cfg, 1, 4, &err);
    ck_assert_ptr_nonnull(c);
    HandOut o;
    hand_expect(iv, biases, &o);
    for (int pi = 0; pi < 2; pi++) {
        char name[160];
        ck_assert_msg(sl_model_forward(m, hand_tokens, 1, 4, c, iv, paths[pi], &err) == 0, "%s", err.message);
        for (int q = 0; q < 4; q++) {
            snprintf(name, sizeof name, "%s, %s path, query %d", what, path_names[pi], q);
            for (int k = 0; k < 4; k++) {
                double s = c->scores[q * 4 + k];
                if (isinf(o.scores[q][k]))
                    ck_assert_msg(isinf(s) && s < 0, "%s: score %d = %g, expected -inf", name, k, s);
                else
                    ck_assert_msg(fabs(s - o.scores[q][k]) < 1e-4, "%s: score %d = %g, by hand %g", name, k, s, o.scores[q][k]);
                ck_assert_msg(fabs(c->pattern[q * 4 + k] - o.pattern[q][k]) < 1e-6, "%s: pattern %d = %g, by hand %g", name, k,
                              (double)c->pattern[q * 4 + k], o.pattern[q][k]);
            }
            ck_assert_msg(fabs(c->z[q] - o.z[q]) < 1e-5, "%s: z = %g, by hand %g", name, (double)c->z[q], o.z[q]);
            for (int d = 0; d < 2; d++)
                ck_assert_msg(fabs(c->attn_out[q * 2 + d] - o.attn[q][d]) < 1e-5, "%s: attn_out[%d] = %g, by hand %g", name, d,
                              (double)c->attn_out[q * 2 + d], o.attn[q][d]);
            for (int j = 0; j < 3; j++)
                ck_assert_msg(fabs(c->logits[q * 3 + j] - o.logits[q][j]) < 1e-5, "%s: logit %d = %g, by hand %g", name, j,
                              (double)c->logits[q * 3 + j], o.logits[q][j]);
        }
    }
    sl_cache_free(c);
    sl_model_free(m);
}

START_TEST(test_hand_plain)
{
    /* First the numbers themselves, so that hand_expect cannot drift. */
    SlIntervention none;
    sl_intervention_init(&none);
    HandOut o;
    hand_expect(&none, false, &o);
    ck_assert(o.scores[3][0] == 14 && o.scores[3][1] == 14 && o.scores[3][2] == 12 && o.scores[3][3] == 2);
    ck_assert(o.scores[2][0] == 49 && o.scores[2][2] == 42 && isinf(o.scores[2][3]));
    ck_assert(o.pattern[1][0] == 0.5 && o.pattern[0][0] == 1);
    double e7 = exp(-7.0);
    ck_assert(fabs(o.z[2] - (2 - 2 * e7) / (2 + e7)) < 1e-12);
    ck_assert(fabs(o.logits[0][2] - (3 + 3)) < 1e-12);   /* x0 = [2 1], z0 = 1: resid [4 2] -> logits [4 2 6] */

    hand_check(&none, false, "no intervention");
    hand_check(&none, true, "no intervention, output biases");
}
END_TEST

START_TEST(test_hand_qk_terms)
{
    for (unsigned bits = 1; bits < 16; bits++) {
        SlIntervention iv;
        sl_intervention_init(&iv);
        iv.qk_terms_off = bits;
        char what[64];
        snprintf(what, sizeof what, "QK terms 0x%x off", bits);
        hand_check(&iv, false, what);
    }
}
END_TEST

START_TEST(test_hand_ov_and_direct)
{
    SlIntervention iv;
    sl_intervention_init(&iv);
    iv.ov_drop_pos = true;   /* v = 2 0 -2 0 */
    hand_check(&iv, false, "ov_drop_pos");
    hand_check(&iv, true, "ov_drop_pos, biases");
    sl_intervention_init(&iv);
    iv.drop_direct = true;   /* logits = attn_out W_U + b_U */
    hand_check(&iv, false, "drop_direct");
    hand_check(&iv, true, "drop_direct, biases");
}
END_TEST

START_TEST(test_hand_ablate)
{
    const float mean[1] = {0.25f};
    for (int pos = 0; pos < 4; pos++) {
        SlIntervention iv;
        sl_intervention_init(&iv);
        iv.ablate_position = pos;
        iv.ablate_kind = SL_ABLATE_ZERO;
        hand_check(&iv, true, "zero ablation");
        iv.ablate_kind = SL_ABLATE_MEAN;
        iv.ablate_mean_z = mean;
        hand_check(&iv, true, "mean ablation");
    }
}
END_TEST

START_TEST(test_hand_block_and_force)
{
    SlIntervention iv;
    for (int s = 0; s < 4; s++) {
        sl_intervention_init(&iv);
        iv.block_source = s;   /* s = 0 leaves query 0 without a key: zero row, z = 0 */
        hand_check(&iv, true, "block source");
    }
    HandOut o;
    sl_intervention_init(&iv);
    iv.block_source = 0;
    hand_expect(&iv, false, &o);
    ck_assert(o.pattern[0][0] == 0 && o.z[0] == 0 && o.pattern[1][1] == 1);
    for (int q = 0; q < 4; q++)
        for (int s = 0; s <= q; s++) {
            sl_intervention_init(&iv);
            iv.force_query = q;
            iv.force_source = s;
            hand_check(&iv, true, "forced attention");
        }
    sl_intervention_init(&iv);
    iv.force_query = 3;
    iv.force_source = 1;
    hand_expect(&iv, false, &o);
    ck_assert(o.z[3] == 1.0);   /* v at position 1 */
    /* together: block 1 and force 2 -> 1 (force wins on its row) */
    sl_intervention_init(&iv);
    iv.block_source = 1;
    iv.force_query = 2;
    iv.force_source = 1;
    iv.qk_terms_off = SL_QK_TERM_POS_POS;
    hand_check(&iv, true, "block, force and a QK term together");
}
END_TEST

/* ---- a plain loop from the definitions (double precision) ------------------------------ */

typedef struct Plain {
    double *q, *k, *v, *scores, *pattern, *z, *attn_out, *resid_post, *logits;
} Plain;

static bool plain_on(const SlIntervention *iv, int l, int h) { return iv->layer == l && (iv->head < 0 || iv->head == h); }

static void plain_forward(const SlModel *m, const int *tok, int B, int T, const SlIntervention *iv, Plain *o)
{
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = c->n_layers, H = c->n_heads, D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    size_t bthe = (size_t)B * T * H * E, bhtt = (size_t)B * H * T * T, btd = (size_t)B * T * D;
    o->q = calloc(L * bthe, sizeof(double));
    o->k = calloc(L * bthe, sizeof(double));
    o->v = calloc(L * bthe, sizeof(double));
    o->z = calloc(L * bthe, sizeof(double));
    o->scores = calloc(L * bhtt, sizeof(double));
    o->pattern = calloc(L * bhtt, sizeof(double));
    o->attn_out = calloc(L * btd, sizeof(double));
    o->resid_post = calloc(L * btd, sizeof(double));
    o->logits = calloc((size_t)B * T * Vo, sizeof(double));
    double *x = calloc(btd, sizeof(double)), *emb = calloc(btd, sizeof(double)), *pos = calloc(btd, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) {
                size_t i = ((size_t)b * T + t) * D + d;
                emb[i] = p->W_E[(size_t)tok[b * T + t] * D + d];
                pos[i] = p->W_pos[(size_t)t * D + d];
                x[i] = emb[i] + pos[i];
            }
#define W4(W, l, h, i, j, J) ((double)(W)[((((size_t)(l) * H + (h)) * (size_t)(D)) + (i)) * (J) + (j)])
    for (int l = 0; l < L; l++) {
        double *q = o->q + l * bthe, *k = o->k + l * bthe, *v = o->v + l * bthe, *z = o->z + l * bthe;
        double *sc = o->scores + l * bhtt, *pt = o->pattern + l * bhtt;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++)
                    for (int e = 0; e < E; e++) {
                        size_t bias = ((size_t)l * H + h) * E + e, out = (((size_t)b * T + t) * H + h) * E + e;
                        double sq = p->b_Q[bias], sk = p->b_K[bias], sv = p->b_V[bias];
                        bool drop = l == 0 && iv->ov_drop_pos && plain_on(iv, 0, h);
                        if (drop)
                            sv = 0;
                        for (int d = 0; d < D; d++) {
                            double xv = x[((size_t)b * T + t) * D + d];
                            sq += xv * W4(p->W_Q, l, h, d, e, E);
                            sk += xv * W4(p->W_K, l, h, d, e, E);
                            sv += (drop ? emb[((size_t)b * T + t) * D + d] : xv) * W4(p->W_V, l, h, d, e, E);
                        }
                        q[out] = sq, k[out] = sk, v[out] = sv;
                    }
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                bool on = plain_on(iv, l, h);
                for (int qi = 0; qi < T; qi++) {
                    double *srow = sc + (((size_t)b * H + h) * T + qi) * T, *prow = pt + (((size_t)b * H + h) * T + qi) * T;
                    double mx = -INFINITY;
                    for (int ki = 0; ki < T; ki++) {
                        double s = 0;
                        if (l == 0 && on && iv->qk_terms_off) {
                            /* q = q_tok + q_pos (b_Q on the position side), likewise k */
                            for (int e = 0; e < E; e++) {
                                double qt = 0, qp = p->b_Q[(size_t)h * E + e], kt = 0, kp = p->b_K[(size_t)h * E + e];
                                for (int d = 0; d < D; d++) {
                                    qt += emb[((size_t)b * T + qi) * D + d] * W4(p->W_Q, 0, h, d, e, E);
                                    qp += pos[((size_t)b * T + qi) * D + d] * W4(p->W_Q, 0, h, d, e, E);
                                    kt += emb[((size_t)b * T + ki) * D + d] * W4(p->W_K, 0, h, d, e, E);
                                    kp += pos[((size_t)b * T + ki) * D + d] * W4(p->W_K, 0, h, d, e, E);
                                }
                                unsigned off = iv->qk_terms_off;
                                s += (off & SL_QK_TERM_TOK_TOK ? 0 : qt * kt) + (off & SL_QK_TERM_TOK_POS ? 0 : qt * kp) +
                                     (off & SL_QK_TERM_POS_TOK ? 0 : qp * kt) + (off & SL_QK_TERM_POS_POS ? 0 : qp * kp);
                            }
                        } else {
                            for (int e = 0; e < E; e++)
                                s += q[(((size_t)b * T + qi) * H + h) * E + e] * k[(((size_t)b * T + ki) * H + h) * E + e];
                        }
                        s /= sqrt((double)E);
                        if (ki > qi || (on && ki == iv->block_source))
                            s = -INFINITY;
                        srow[ki] = s;
                        mx = s > mx ? s : mx;
                    }
                    double sum = 0;
                    for (int ki = 0; ki < T; ki++)
                        sum += prow[ki] = mx == -INFINITY ? 0 : exp(srow[ki] - mx);
                    for (int ki = 0; ki < T; ki++)
                        prow[ki] = sum > 0 ? prow[ki] / sum : 0;
                    if (on && qi == iv->force_query)
                        for (int ki = 0; ki < T; ki++)
                            prow[ki] = ki == iv->force_source;
                    for (int e = 0; e < E; e++) {
                        double a = 0;
                        for (int ki = 0; ki < T; ki++)
                            a += prow[ki] * v[(((size_t)b * T + ki) * H + h) * E + e];
                        if (on && qi == iv->ablate_position)
                            a = iv->ablate_kind == SL_ABLATE_MEAN ? iv->ablate_mean_z[(size_t)h * E + e] : 0;
                        z[(((size_t)b * T + qi) * H + h) * E + e] = a;
                    }
                }
            }
        double *ao = o->attn_out + l * btd, *rp = o->resid_post + l * btd;
        for (int bt = 0; bt < B * T; bt++)
            for (int d = 0; d < D; d++) {
                double a = p->b_O[(size_t)l * D + d];
                for (int h = 0; h < H; h++)
                    for (int e = 0; e < E; e++)
                        a += z[((size_t)bt * H + h) * E + e] * p->W_O[(((size_t)l * H + h) * E + e) * D + d];
                ao[(size_t)bt * D + d] = a;
                rp[(size_t)bt * D + d] = x[(size_t)bt * D + d] + a;
            }
        memcpy(x, rp, btd * sizeof(double));
    }
#undef W4
    for (int bt = 0; bt < B * T; bt++)
        for (int j = 0; j < Vo; j++) {
            double a = p->b_U[j];
            for (int d = 0; d < D; d++) {
                double r = x[(size_t)bt * D + d];
                if (iv->drop_direct)
                    r -= emb[(size_t)bt * D + d] + pos[(size_t)bt * D + d];
                a += r * p->W_U[(size_t)d * Vo + j];
            }
            o->logits[(size_t)bt * Vo + j] = a;
        }
    free(x);
    free(emb);
    free(pos);
}

static void plain_free(Plain *o)
{
    free(o->q), free(o->k), free(o->v), free(o->z), free(o->scores), free(o->pattern);
    free(o->attn_out), free(o->resid_post), free(o->logits);
}

/* A random model with every bias non-zero, weights at 0.8 / sqrt(D). */
static SlModel *random_model(int L, int H, int D, int E, int Vo, int n, uint64_t seed)
{
    return test_random_model_scaled(L, H, D, E, Vo, n, seed, 0.8f);
}

static void random_tokens(const SlModelConfig *c, int B, int T, uint64_t seed, int *tok)
{
    SlRng r;
    sl_rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int)sl_rng_below(&r, (uint32_t)c->d_vocab);
}

static void plain_check(const SlModel *m, int B, int T, const SlIntervention *iv, SlForwardPath path, const char *what)
{
    const SlModelConfig *c = &m->cfg;
    int *tok = malloc((size_t)B * T * sizeof *tok);
    random_tokens(c, B, T, 99, tok);
    SlError err = {0};
    SlActCache *cache = sl_cache_new(c, B, c->n_ctx, &err);
    ck_assert_ptr_nonnull(cache);
    ck_assert_msg(sl_model_forward(m, tok, B, T, cache, iv, path, &err) == 0, "%s: %s", what, err.message);
    Plain o;
    plain_forward(m, tok, B, T, iv, &o);
    size_t L = c->n_layers, bthe = (size_t)B * T * c->n_heads * c->d_head, bhtt = (size_t)B * c->n_heads * T * T;
    size_t btd = (size_t)B * T * c->d_model;
    char name[160];
#define CMP(field, count)                                                  \
    snprintf(name, sizeof name, "%s: %s", what, #field);                   \
    expect_close_d(name, cache->field, o.field, count, 2e-5)
    CMP(q, L * bthe);
    CMP(k, L * bthe);
    CMP(v, L * bthe);
    CMP(scores, L * bhtt);
    CMP(pattern, L * bhtt);
    CMP(z, L * bthe);
    CMP(attn_out, L * btd);
    CMP(resid_post, L * btd);
    CMP(logits, (size_t)B * T * c->d_vocab_out);
#undef CMP
    plain_free(&o);
    sl_cache_free(cache);
    free(tok);
}

/* Every kind of intervention, on layer `layer`, head `head`. */
static int make_interventions(const SlModelConfig *c, int layer, int head, const float *mean, SlIntervention *ivs)
{
    int n = 0;
    sl_intervention_init(&ivs[n++]);
    if (layer == 0) {   /* QK terms and the OV position part exist on layer 0 */
        for (unsigned bits = 1; bits < 16; bits <<= 1) {
            sl_intervention_init(&ivs[n]);
            ivs[n].head = head;
            ivs[n++].qk_terms_off = bits;
        }
        sl_intervention_init(&ivs[n]);
        ivs[n].head = head;
        ivs[n++].qk_terms_off = SL_QK_TERM_TOK_POS | SL_QK_TERM_POS_POS;
        sl_intervention_init(&ivs[n]);
        ivs[n].head = head;
        ivs[n++].ov_drop_pos = true;
    }
    sl_intervention_init(&ivs[n]);
    ivs[n++].drop_direct = true;
    sl_intervention_init(&ivs[n]);
    ivs[n].layer = layer, ivs[n].head = head, ivs[n].ablate_position = c->list_len + 1, ivs[n++].ablate_kind = SL_ABLATE_ZERO;
    sl_intervention_init(&ivs[n]);
    ivs[n].layer = layer, ivs[n].head = head, ivs[n].ablate_position = c->list_len + 2, ivs[n].ablate_kind = SL_ABLATE_MEAN;
    ivs[n++].ablate_mean_z = mean;
    sl_intervention_init(&ivs[n]);
    ivs[n].layer = layer, ivs[n].head = head, ivs[n++].block_source = 0;
    sl_intervention_init(&ivs[n]);
    ivs[n].layer = layer, ivs[n].head = head, ivs[n++].block_source = 2;
    sl_intervention_init(&ivs[n]);
    ivs[n].layer = layer, ivs[n].head = head, ivs[n].force_query = c->list_len + 2, ivs[n++].force_source = 1;
    return n;
}

START_TEST(test_plain_one_layer)
{
    /* one layer, three heads, biases: both paths, every intervention, on
     * all heads and on head 1 alone */
    SlModel *m = random_model(1, 3, 24, 8, 9, 4, 7);
    float mean[3 * 8];
    for (int i = 0; i < 3 * 8; i++)
        mean[i] = 0.1f * (float)(i % 5) - 0.2f;
    SlIntervention ivs[16];
    for (int head = -1; head <= 1; head += 2) {
        int n = make_interventions(&m->cfg, 0, head, mean, ivs);
        for (int i = 0; i < n; i++)
            for (int pi = 0; pi < 2; pi++) {
                char what[96];
                snprintf(what, sizeof what, "1 layer, %s path, head %d, intervention %d", path_names[pi], head, i);
                plain_check(m, 3, m->cfg.n_ctx, &ivs[i], paths[pi], what);
                plain_check(m, 2, m->cfg.n_ctx - 3, &ivs[i], paths[pi], what);   /* a shorter prefix */
            }
    }
    sl_model_free(m);
}
END_TEST

START_TEST(test_plain_one_layer_wide)
{
    /* shapes whose one-layer rows go through the AVX-512 kernels where the
     * CPU has them (d_head and d_model multiples of 128, 16 <= d_vocab_out
     * <= 64): two heads after one another into attn_out and the logits,
     * a d_model with a second block of 128 columns, and a d_vocab_out whose
     * chunks overlap; elsewhere the same checks cover the portable code */
    struct { int H, D, E, Vo, n; } shapes[] = {{2, 128, 128, 50, 4}, {1, 256, 128, 20, 3}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        SlModel *m = random_model(1, shapes[si].H, shapes[si].D, shapes[si].E, shapes[si].Vo, shapes[si].n, 21 + si);
        float *mean = malloc((size_t)shapes[si].H * shapes[si].E * sizeof *mean);
        for (int i = 0; i < shapes[si].H * shapes[si].E; i++)
            mean[i] = 0.05f * (float)(i % 7) - 0.15f;
        SlIntervention ivs[16];
        for (int head = -1; head <= 0; head++) {
            int n = make_interventions(&m->cfg, 0, head, mean, ivs);
            for (int i = 0; i < n; i++) {
                char what[128];
                snprintf(what, sizeof what, "1 layer H%d D%d E%d Vo%d, tables path, head %d, intervention %d",
                         shapes[si].H, shapes[si].D, shapes[si].E, shapes[si].Vo, head, i);
                plain_check(m, 2, m->cfg.n_ctx, &ivs[i], SL_FORWARD_TABLES, what);
            }
        }
        free(mean);
        sl_model_free(m);
    }
}
END_TEST

START_TEST(test_plain_two_layers)
{
    SlModel *m = random_model(2, 2, 16, 8, 7, 3, 11);
    float mean[2 * 8];
    for (int i = 0; i < 2 * 8; i++)
        mean[i] = 0.05f * (float)i - 0.3f;
    SlIntervention ivs[16];
    for (int layer = 0; layer < 2; layer++)
        for (int head = -1; head <= 1; head += 2) {
            int n = make_interventions(&m->cfg, layer, head, mean, ivs);
            for (int i = 0; i < n; i++) {
                char what[96];
                snprintf(what, sizeof what, "2 layers, layer %d, head %d, intervention %d", layer, head, i);
                plain_check(m, 3, m->cfg.n_ctx, &ivs[i], SL_FORWARD_GENERAL, what);
                plain_check(m, 2, 5, &ivs[i], SL_FORWARD_AUTO, what);
            }
        }
    sl_model_free(m);
}
END_TEST

/* ---- the seed model against PyTorch -------------------------------------------------- */

static SlModel *seed_model(void)
{
    const char *path = shared_path("seed-model/sort_fixed_len_list_model.pt");
    if (!path) {
        printf("skipped: ../shared/seed-model/sort_fixed_len_list_model.pt is absent\n");
        return NULL;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m, "%s", err.message);
    return m;
}

START_TEST(test_seed_cache4)
{
    SlModel *m = seed_model();
    SlTensorSet *ts = m ? ref_load() : NULL;
    if (!ts) {
        sl_model_free(m);
        return;
    }
    size_t ntok;
    int *tokens = ref_ints(ts, "tokens", &ntok);
    ck_assert_int_eq(ntok, 256 * 22);
    SlError err = {0};
    SlActCache *c = sl_cache_new(&m->cfg, 256, 22, &err);
    ck_assert_ptr_nonnull(c);
    for (int pi = 0; pi < 2; pi++)
        for (int B = 4; B <= 256; B += 252) {   /* the 4 lists alone, then inside the whole batch */
            ck_assert_msg(sl_model_forward(m, tokens, B, 22, c, NULL, paths[pi], &err) == 0, "%s", err.message);
            for (size_t i = 0; i < sizeof ref_cache4_names / sizeof ref_cache4_names[0]; i++) {
                char refname[64], what[128];
                snprintf(refname, sizeof refname, "cache4.%s", ref_cache4_names[i]);
                size_t n;
                const float *want = ref_f32(ts, refname, &n);
                int nd;
                int64_t shape[5];
                const float *got = sl_cache_get(c, ref_cache4_names[i], &nd, shape);
                ck_assert_msg(got, "cache_get(%s)", ref_cache4_names[i]);
                ck_assert_int_eq(shape[0], B);
                size_t per_list = 1;
                for (int d = 1; d < nd; d++)
                    per_list *= (size_t)shape[d];
                ck_assert_uint_eq(per_list * 4, n);
                snprintf(what, sizeof what, "%s path, B=%d, %s", path_names[pi], B, refname);
                expect_close_f(what, got, want, n, 1e-5);
            }
        }
    sl_cache_free(c);
    free(tokens);
    sl_tensorset_free(ts);
    sl_model_free(m);
}
END_TEST

START_TEST(test_seed_logits_256)
{
    SlModel *m = seed_model();
    SlTensorSet *ts = m ? ref_load() : NULL;
    if (!ts) {
        sl_model_free(m);
        return;
    }
    size_t ntok, nlog, npat;
    int *tokens = ref_ints(ts, "tokens", &ntok);
    const float *logits = ref_f32(ts, "logits", &nlog), *pattern = ref_f32(ts, "pattern", &npat);
    ck_assert_uint_eq(nlog, (size_t)256 * 22 * 50);
    SlError err = {0};
    SlActCache *c[2];
    for (int pi = 0; pi < 2; pi++) {
        c[pi] = sl_cache_new(&m->cfg, 256, 22, &err);
        ck_assert_msg(sl_model_forward(m, tokens, 256, 22, c[pi], NULL, paths[pi], &err) == 0, "%s", err.message);
        char what[64];
        snprintf(what, sizeof what, "%s path: logits of 256 lists", path_names[pi]);
        expect_close_f(what, c[pi]->logits, logits, nlog, 1e-5);
        snprintf(what, sizeof what, "%s path: pattern of 256 lists", path_names[pi]);
        expect_close_f(what, c[pi]->pattern, pattern, npat, 1e-5);
    }
    /* the two paths agree with each other on every activation */
    const char *hooks[] = {"hook_embed", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_attn_scores",
                           "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "hook_resid_post", "logits"};
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++) {
        int nd;
        int64_t shape[5];
        const float *a = sl_cache_get(c[0], hooks[i], &nd, shape), *b = sl_cache_get(c[1], hooks[i], NULL, NULL);
        size_t n = 1;
        for (int d = 0; d < nd; d++)
            n *= (size_t)shape[d];
        char what[96];
        snprintf(what, sizeof what, "general vs tables: %s", hooks[i]);
        expect_close_f(what, b, a, n, 1e-5);
    }
    sl_cache_free(c[0]);
    sl_cache_free(c[1]);
    free(tokens);
    sl_tensorset_free(ts);
    sl_model_free(m);
}
END_TEST

/* ---- the 2-layer 2-head checkpoint against PyTorch --------------------------------------- */

START_TEST(test_multi_2l2h)
{
    const char *mpath = testdata_path("multi_2l2h.pt"), *epath = testdata_path("multi_2l2h_expected.safetensors");
    if (!mpath || !epath) {
        printf("skipped: tests/data/multi_2l2h.pt or its expected outputs are absent\n");
        return;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(mpath, &err);
    ck_assert_msg(m, "%s", err.message);
    ck_assert_int_eq(m->cfg.n_layers, 2);
    ck_assert_int_eq(m->cfg.n_heads, 2);
    SlTensorSet *ts = sl_safetensors_read(epath, &err);
    ck_assert_msg(ts, "%s", err.message);
    ref_report_errors = true;
    size_t ntok;
    int *tokens = ref_ints(ts, "tokens", &ntok);
    const int T = m->cfg.n_ctx, B = (int)(ntok / (size_t)T);
    SlActCache *c = sl_cache_new(&m->cfg, B, T, &err);
    ck_assert_ptr_nonnull(c);
    for (int auto_path = 0; auto_path < 2; auto_path++) {
        ck_assert_msg(sl_model_forward(m, tokens, B, T, c, NULL, auto_path ? SL_FORWARD_AUTO : SL_FORWARD_GENERAL, &err) == 0, "%s",
                      err.message);
        for (int i = 0; i < ts->count; i++) {
            const char *name = ts->items[i].name;
            if (strcmp(name, "tokens") == 0 || ts->items[i].dtype != SL_DT_F32 || ts->items[i].ndim == 0)
                continue;
            bool four = strncmp(name, "cache4.", 7) == 0;
            int nd;
            int64_t shape[5];
            const float *got = sl_cache_get(c, four ? name + 7 : name, &nd, shape);
            ck_assert_msg(got, "cache_get(%s)", name);
            size_t n;
            const float *want = ref_f32(ts, name, &n);
            size_t per_list = 1;
            for (int d = 1; d < nd; d++)
                per_list *= (size_t)shape[d];
            ck_assert_uint_eq(per_list * (four ? 4 : (size_t)B), n);
            expect_close_f(name, got, want, n, 1e-5);
        }
    }
    /* the tables path is for one layer only */
    ck_assert_int_eq(sl_model_forward(m, tokens, B, T, c, NULL, SL_FORWARD_TABLES, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "one-layer"));
    sl_cache_free(c);
    free(tokens);
    sl_tensorset_free(ts);
    sl_model_free(m);
}
END_TEST

/* ---- the cache, and refusals ----------------------------------------------------------- */

START_TEST(test_cache_get_names)
{
    SlModel *m = random_model(2, 3, 8, 4, 5, 2, 3);
    SlError err = {0};
    SlActCache *c = sl_cache_new(&m->cfg, 4, m->cfg.n_ctx, &err);
    int tok[2 * 5];
    random_tokens(&m->cfg, 2, 5, 1, tok);
    ck_assert_int_eq(sl_model_forward(m, tok, 2, 5, c, NULL, SL_FORWARD_AUTO, &err), 0);
    int nd;
    int64_t s[5];
    const float *p = sl_cache_get(c, "blocks.1.attn.hook_pattern", &nd, s);
    ck_assert_ptr_eq(p, c->pattern + 2 * 3 * 5 * 5);   /* layer 1 starts after B*H*T*T of layer 0 */
    ck_assert_int_eq(nd, 4);
    ck_assert(s[0] == 2 && s[1] == 3 && s[2] == 5 && s[3] == 5);
    p = sl_cache_get(c, "blocks.1.attn.hook_q", &nd, s);
    ck_assert_ptr_eq(p, c->q + 2 * 5 * 3 * 4);
    ck_assert(nd == 4 && s[0] == 2 && s[1] == 5 && s[2] == 3 && s[3] == 4);
    ck_assert_ptr_eq(sl_cache_get(c, "blocks.0.hook_resid_post", &nd, s), c->resid_post);
    ck_assert(nd == 3 && s[2] == 8);
    ck_assert_ptr_eq(sl_cache_get(c, "logits", &nd, s), c->logits);
    ck_assert(nd == 3 && s[2] == 5);
    ck_assert_ptr_eq(sl_cache_get(c, "hook_pos_embed", NULL, NULL), c->pos_embed);
    const char *bad[] = {"blocks.2.attn.hook_q", "blocks.01.attn.hook_q", "attn.hook_q", "blocks.0.hook_embed",
                         "blocks.0.attn.hook_x", "blocks.0", "blocks.", "", "hook_embed ", "blocks.-1.attn.hook_q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(sl_cache_get(c, bad[i], NULL, NULL) == NULL, "'%s' should be unknown", bad[i]);
    ck_assert_ptr_null(sl_cache_get(c, NULL, NULL, NULL));
    ck_assert_ptr_null(sl_cache_get(NULL, "logits", NULL, NULL));
    sl_cache_free(c);
    sl_cache_free(NULL);
    sl_model_free(m);
}
END_TEST

/* The kernels every test of this run used: the portable ones when
 * SORTLENS_KERNELS=portable (tests/run-all.sh runs the PyTorch parity
 * suites so a second time), else the AVX2 ones where /proc/cpuinfo has
 * AVX2 and FMA on x86-64. */
/* Batches of whole caches within a memory budget, by hand: lists of 300
 * values (T = 602), d_model 16, one head, 20 values hold per list
 * 602 * (2 * 16 + 20 + 4 * 16 + 2 * 16) + 2 * 602 * 602 = 813,904 floats,
 * 3,255,616 bytes: 20 lists in 64 MB; the default model's 22 positions fit
 * 256 (the cap); a budget below one list still gives one. */
START_TEST(test_cache_batch_within)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 16, .d_head = 16, .d_vocab_out = 20, .list_len = 300};
    sl_model_config_derive(&c);
    ck_assert_int_eq(sl_cache_batch_within(&c, c.n_ctx, 256, SL_CACHE_BATCH_BYTES), 20);
    ck_assert_int_eq(sl_cache_batch_within(&c, c.n_ctx, 256, 3255616 * 3), 3);
    ck_assert_int_eq(sl_cache_batch_within(&c, c.n_ctx, 256, 1000), 1);
    ck_assert_int_eq(sl_cache_batch_within(&c, c.n_ctx, 7, SL_CACHE_BATCH_BYTES), 7);
    SlModelConfig d = {.n_layers = 1, .n_heads = 1, .d_model = 128, .d_head = 128, .d_vocab_out = 50, .list_len = 10};
    sl_model_config_derive(&d);
    ck_assert_int_eq(sl_cache_batch_within(&d, d.n_ctx, 256, SL_CACHE_BATCH_BYTES), 256);
}
END_TEST

START_TEST(test_kernels_choice)
{
    const char *env = getenv("SORTLENS_KERNELS"), *name = sl_kernels_name();
    printf("kernels: %s (SORTLENS_KERNELS %s)\n", name, env ? env : "unset");
    SlError err = {0};
    ck_assert_int_eq(sl_kernels_check_env(&err), 0);
    if (env && strcmp(env, "portable") == 0)
        ck_assert_str_eq(name, "portable");
#if defined(__x86_64__)
    else
        ck_assert_str_eq(name, test_cpuinfo_flag("avx2") == 1 && test_cpuinfo_flag("fma") == 1 ? "avx2" : "portable");
#endif
}
END_TEST

START_TEST(test_refusals)
{
    SlModel *m = random_model(1, 1, 8, 4, 5, 2, 3);
    SlError err = {0};
    SlActCache *c = sl_cache_new(&m->cfg, 2, m->cfg.n_ctx, &err);
    int tok[3 * 6] = {0};
    ck_assert_ptr_null(sl_cache_new(&m->cfg, 0, 6, &err));
    ck_assert_int_eq(err.code, SL_EINVAL);
    ck_assert_ptr_null(sl_cache_new(&m->cfg, 1, 7, &err));   /* beyond n_ctx = 6 */
    SlModelConfig wide = m->cfg;
    wide.d_model = 128;   /* 2^24 x 6 x 128 floats in one layer's array: more than an int counts */
    ck_assert_ptr_null(sl_cache_new(&wide, 1 << 24, 6, &err));
    ck_assert_int_eq(err.code, SL_ENOMEM);
    ck_assert_ptr_nonnull(strstr(err.message, "too large"));
    ck_assert_int_eq(sl_model_forward(m, tok, 3, 6, c, NULL, SL_FORWARD_AUTO, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "3 sequences"));
    ck_assert_int_eq(sl_model_forward(m, tok, 1, 0, c, NULL, SL_FORWARD_AUTO, &err), SL_EINVAL);
    tok[4] = 7;   /* d_vocab is 7: ids 0..6 */
    ck_assert_int_eq(sl_model_forward(m, tok, 1, 6, c, NULL, SL_FORWARD_TABLES, &err), SL_EINVAL);
    ck_assert_msg(strstr(err.message, "token 7 at sequence 0, position 4"), "%s", err.message);
    tok[4] = -1;
    ck_assert_int_eq(sl_model_forward(m, tok, 1, 6, c, NULL, SL_FORWARD_GENERAL, &err), SL_EINVAL);
    tok[4] = 0;
    ck_assert_int_eq(sl_model_forward(m, tok, 1, 6, c, NULL, (SlForwardPath)9, &err), SL_EINVAL);

    /* a cache made for another shape */
    SlModel *other = random_model(1, 2, 8, 4, 5, 2, 3);
    ck_assert_int_eq(sl_model_forward(other, tok, 1, 6, c, NULL, SL_FORWARD_AUTO, &err), SL_EINVAL);
    sl_model_free(other);

    /* a model without tables runs on the general path; tables are refused */
    SlModel *bare = sl_model_new(&m->cfg, &err);
    ck_assert_int_eq(sl_model_forward(bare, tok, 1, 6, c, NULL, SL_FORWARD_AUTO, &err), 0);
    ck_assert_int_eq(sl_model_forward(bare, tok, 1, 6, c, NULL, SL_FORWARD_TABLES, &err), SL_EINVAL);
    sl_model_free(bare);

    SlIntervention iv;
#define REFUSE(stmt, needle)                                                                   \
    do {                                                                                       \
        sl_intervention_init(&iv);                                                                \
        stmt;                                                                                  \
        ck_assert(!sl_intervention_is_none(&iv));                                                 \
        ck_assert_int_eq(sl_model_forward(m, tok, 1, 6, c, &iv, SL_FORWARD_AUTO, &err), SL_EINVAL);  \
        ck_assert_msg(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);   \
    } while (0)
    REFUSE((iv.layer = 1, iv.block_source = 0), "layers 0..0");
    REFUSE((iv.head = 1, iv.drop_direct = true), "heads 0..0");
    REFUSE(iv.qk_terms_off = 16, "unknown QK");
    REFUSE((iv.ablate_position = 2), "neither to zero nor to the mean");
    REFUSE((iv.ablate_position = 2, iv.ablate_kind = SL_ABLATE_MEAN), "without a mean");
    REFUSE((iv.ablate_position = 6, iv.ablate_kind = SL_ABLATE_ZERO), "outside 0..5");
    REFUSE(iv.block_source = 6, "outside 0..5");
    REFUSE((iv.force_query = 2, iv.force_source = 3), "later position 3");
    REFUSE(iv.force_query = 2, "needs both");
#undef REFUSE
    sl_intervention_init(&iv);
    ck_assert(sl_intervention_is_none(&iv));
    ck_assert(sl_intervention_is_none(NULL));
    ck_assert_int_eq(sl_intervention_validate(NULL, &m->cfg, &err), 0);
    sl_cache_free(c);
    sl_model_free(m);
}
END_TEST

START_TEST(test_cache_reuse)
{
    /* a big forward, then a smaller one, then the big one again: each gives
     * what a fresh cache gives */
    SlModel *m = random_model(1, 2, 16, 8, 9, 4, 5);
    SlError err = {0};
    const int T = m->cfg.n_ctx;
    int tok[8 * 10];
    random_tokens(&m->cfg, 8, T, 4, tok);
    for (int pi = 0; pi < 2; pi++) {
        SlActCache *c = sl_cache_new(&m->cfg, 8, T, &err), *fresh = sl_cache_new(&m->cfg, 1, 3, &err);
        ck_assert_int_eq(sl_model_forward(m, tok, 8, T, c, NULL, paths[pi], &err), 0);
        ck_assert_int_eq(sl_model_forward(m, tok, 1, 3, c, NULL, paths[pi], &err), 0);
        ck_assert_int_eq(sl_model_forward(m, tok, 1, 3, fresh, NULL, paths[pi], &err), 0);
        ck_assert_int_eq(c->B, 1);
        ck_assert_int_eq(c->T, 3);
        ck_assert_mem_eq(c->logits, fresh->logits, 3 * 9 * sizeof(float));
        ck_assert_mem_eq(c->pattern, fresh->pattern, 2 * 3 * 3 * sizeof(float));
        sl_cache_free(c);
        sl_cache_free(fresh);
    }
    sl_model_free(m);
}
END_TEST

static Suite *forward_suite(void)
{
    Suite *s = suite_create("forward");
    TCase *hand = tcase_create("hand");
    tcase_add_test(hand, test_hand_plain);
    tcase_add_test(hand, test_hand_qk_terms);
    tcase_add_test(hand, test_hand_ov_and_direct);
    tcase_add_test(hand, test_hand_ablate);
    tcase_add_test(hand, test_hand_block_and_force);
    suite_add_tcase(s, hand);
    TCase *plain = tcase_create("plain-loop");
    tcase_add_test(plain, test_plain_one_layer);
    tcase_add_test(plain, test_plain_one_layer_wide);
    tcase_add_test(plain, test_plain_two_layers);
    suite_add_tcase(s, plain);
    TCase *ref = tcase_create("pytorch");
    tcase_set_timeout(ref, 120);
    tcase_add_test(ref, test_seed_cache4);
    tcase_add_test(ref, test_seed_logits_256);
    tcase_add_test(ref, test_multi_2l2h);
    suite_add_tcase(s, ref);
    TCase *api = tcase_create("api");
    tcase_add_test(api, test_cache_get_names);
    tcase_add_test(api, test_refusals);
    tcase_add_test(api, test_kernels_choice);
    tcase_add_test(api, test_cache_batch_within);
    tcase_add_test(api, test_cache_reuse);
    suite_add_tcase(s, api);
    return s;
}

int main(void) { return run_suite(forward_suite()); }
