/* test_train.c: the backward pass against PyTorch's gradients and against
 * finite differences of an independent double-precision forward, AdamW
 * against torch.optim.AdamW, the schedule and initialisation against hand
 * calculations, and short deterministic runs. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/safetensors.h"
#include "sortlens/train.h"
#include "test_util.h"
#include "train_adamw_ref.h"

static SlModelConfig tiny_cfg(int L, int H, int D, int E, int n, int Vo)
{
    SlModelConfig c = {.n_layers = L, .n_heads = H, .d_model = D, .d_head = E, .d_vocab_out = Vo, .list_len = n};
    sl_model_config_derive(&c);
    return c;
}

/* A model with normal weights (std wstd) and biases (std bstd). */
static SlModel *random_model(SlModelConfig c, uint64_t seed, float wstd, float bstd)
{
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    SlRng r;
    sl_rng_seed(&r, seed);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        float *p = sl_model_params_get(&m->params, i), s = sl_model_param_is_bias(i) ? bstd : wstd;
        for (size_t k = 0; k < m->param_sizes[i]; k++)
            p[k] = s * sl_rng_normal(&r);
    }
    return m;
}

static int *random_tokens(const SlModelConfig *c, int B, uint64_t seed)
{
    int *tokens = malloc((size_t)B * c->n_ctx * sizeof(int)), values[64];
    SlRng r;
    sl_rng_seed(&r, seed);
    for (int b = 0; b < B; b++) {
        sl_task_random_list(c, &r, values);
        sl_task_make_tokens(c, values, tokens + (size_t)b * c->n_ctx);
    }
    return tokens;
}

/* ---- an independent reference: the forward in double, plain loops -------- */

typedef struct RefParams { double *p[SL_NUM_PARAM_TENSORS]; } RefParams;

static RefParams ref_params(const SlModel *m)
{
    RefParams r;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        const float *src = sl_model_params_get((SlModelParams *)&m->params, i);
        r.p[i] = malloc(m->param_sizes[i] * sizeof(double) + 1);
        for (size_t k = 0; k < m->param_sizes[i]; k++)
            r.p[i][k] = src[k];
    }
    return r;
}

static void ref_params_free(RefParams *r)
{
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
        free(r->p[i]);
}

/* Logits [n, Vo] of one sequence at its prediction positions, written from
 * the TransformerLens definition (DESIGN.md section 1). */
static void ref_logits(const SlModelConfig *c, const RefParams *rp, const int *tok, double *logits)
{
    int L = c->n_layers, H = c->n_heads, D = c->d_model, E = c->d_head, T = c->n_ctx, Vo = c->d_vocab_out;
    int n = c->list_len, P0 = n + 1;
    double *const *P = rp->p;
    double *x = calloc((size_t)T * D, sizeof(double)), *out = calloc((size_t)T * D, sizeof(double));
    double *q = malloc((size_t)T * E * sizeof(double)), *k = malloc((size_t)T * E * sizeof(double));
    double *v = malloc((size_t)T * E * sizeof(double)), s[256], z[256];
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            x[t * D + d] = P[SL_P_W_E][tok[t] * D + d] + P[SL_P_W_POS][t * D + d];
    for (int l = 0; l < L; l++) {
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++)
                out[t * D + d] = P[SL_P_B_O][l * D + d];
        for (int h = 0; h < H; h++) {
            const double *wq = P[SL_P_W_Q] + ((size_t)(l * H + h)) * D * E, *wk = P[SL_P_W_K] + ((size_t)(l * H + h)) * D * E;
            const double *wv = P[SL_P_W_V] + ((size_t)(l * H + h)) * D * E, *wo = P[SL_P_W_O] + ((size_t)(l * H + h)) * E * D;
            const double *bq = P[SL_P_B_Q] + (l * H + h) * E, *bk = P[SL_P_B_K] + (l * H + h) * E, *bv = P[SL_P_B_V] + (l * H + h) * E;
            for (int t = 0; t < T; t++)
                for (int e = 0; e < E; e++) {
                    double aq = bq[e], ak = bk[e], av = bv[e];
                    for (int d = 0; d < D; d++) {
                        aq += x[t * D + d] * wq[d * E + e];
                        ak += x[t * D + d] * wk[d * E + e];
                        av += x[t * D + d] * wv[d * E + e];
                    }
                    q[t * E + e] = aq;
                    k[t * E + e] = ak;
                    v[t * E + e] = av;
                }
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) {
                    s[j] = 0;
                    for (int e = 0; e < E; e++)
                        s[j] += q[i * E + e] * k[j * E + e];
                    s[j] /= sqrt((double)E);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= i; j++)
                    sum += (s[j] = exp(s[j] - mx));
                for (int e = 0; e < E; e++) {
                    z[e] = 0;
                    for (int j = 0; j <= i; j++)
                        z[e] += s[j] / sum * v[j * E + e];
                }
                for (int d = 0; d < D; d++)
                    for (int e = 0; e < E; e++)
                        out[i * D + d] += z[e] * wo[e * D + d];
            }
        }
        for (int t = 0; t < T * D; t++)
            x[t] += out[t];
    }
    for (int ii = 0; ii < n; ii++)
        for (int o = 0; o < Vo; o++) {
            double a = P[SL_P_B_U][o];
            for (int d = 0; d < D; d++)
                a += x[(P0 + ii) * D + d] * P[SL_P_W_U][d * Vo + o];
            logits[ii * Vo + o] = a;
        }
    free(x);
    free(out);
    free(q);
    free(k);
    free(v);
}

static double ref_loss(const SlModelConfig *c, const RefParams *rp, const int *tokens, int B)
{
    int n = c->list_len, Vo = c->d_vocab_out, T = c->n_ctx;
    double *lg = malloc((size_t)n * Vo * sizeof(double)), total = 0;
    for (int b = 0; b < B; b++) {
        const int *tok = tokens + (size_t)b * T;
        ref_logits(c, rp, tok, lg);
        for (int ii = 0; ii < n; ii++) {
            double mx = -INFINITY, sum = 0;
            for (int o = 0; o < Vo; o++)
                mx = fmax(mx, lg[ii * Vo + o]);
            for (int o = 0; o < Vo; o++)
                sum += exp(lg[ii * Vo + o] - mx);
            total += mx + log(sum) - lg[ii * Vo + tok[n + 2 + ii]];
        }
    }
    free(lg);
    return total / ((double)B * n);
}

/* ---- finite differences ---------------------------------------------------- */

/* Central differences of the double loss on `coords` random coordinates of
 * every parameter tensor against the trainer's gradient; returns the worst
 * error relative to each tensor's largest gradient. */
static double fd_check(SlModel *m, SlForwardPath path, int B, int coords, double tol)
{
    const SlModelConfig *c = &m->cfg;
    SlError err = {0};
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.path = path;
    o.batch = B;
    SlTrainer *t = sl_trainer_new(m, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.message);
    int *tokens = random_tokens(c, B, 99);
    double loss;
    ck_assert_int_eq(sl_trainer_backward(t, tokens, B, &loss, &err), 0);
    RefParams rp = ref_params(m);
    double rl = ref_loss(c, &rp, tokens, B);
    ck_assert_msg(fabs(rl - loss) <= 1e-5 * fabs(rl), "loss %.9g vs double reference %.9g", loss, rl);
    SlRng r;
    sl_rng_seed(&r, 7);
    double worst = 0;
    const double h = 1e-5;
    double wk_max = max_abs(t->grads.W_K, m->param_sizes[SL_P_W_K]);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        const float *g = sl_model_params_get(&t->grads, i);
        double gmax = max_abs(g, m->param_sizes[i]), terr = 0;
        if (i == SL_P_B_K) {
            /* Adding b_K adds q.b_K to a whole row of scores, which softmax
             * ignores: its true gradient is zero, ours rounding noise. */
            printf("  fd b_K: max|g| %.2e (exactly 0 in exact arithmetic; W_K's is %.2e)\n", gmax, wk_max);
            ck_assert_msg(gmax <= 1e-5 * wk_max, "b_K gradient %.3e is not ~0", gmax);
            continue;
        }
        ck_assert_msg(gmax > 0, "tensor %d has an all-zero gradient", i);
        for (int s = 0; s < coords; s++) {
            size_t kk = sl_rng_below(&r, (uint32_t)m->param_sizes[i]);
            double orig = rp.p[i][kk];
            rp.p[i][kk] = orig + h;
            double lp = ref_loss(c, &rp, tokens, B);
            rp.p[i][kk] = orig - h;
            double lm = ref_loss(c, &rp, tokens, B);
            rp.p[i][kk] = orig;
            double fd = (lp - lm) / (2 * h), e = fabs(fd - (double)g[kk]) / gmax;
            if (e > terr)
                terr = e;
        }
        char name[96];
        sl_model_param_name(i, 0, name, sizeof name);
        printf("  fd %-8s L%d H%d %-24s max|g| %.3e  worst rel err %.2e\n", path == SL_FORWARD_TABLES ? "tables" : "general",
               c->n_layers, c->n_heads, name, gmax, terr);
        ck_assert_msg(terr <= tol, "%s: finite-difference error %.3e > %.1e", name, terr, tol);
        if (terr > worst)
            worst = terr;
    }
    ref_params_free(&rp);
    free(tokens);
    sl_trainer_free(t);
    return worst;
}

START_TEST(test_fd_general_2layer_2head)
{
    SlModel *m = random_model(tiny_cfg(2, 2, 8, 4, 3, 5), 11, 0.5f, 0.2f);
    fd_check(m, SL_FORWARD_GENERAL, 4, 30, 2e-4);
    sl_model_free(m);
}
END_TEST

START_TEST(test_fd_tables_1layer_2head)
{
    SlModel *m = random_model(tiny_cfg(1, 2, 8, 4, 3, 5), 12, 0.5f, 0.2f);
    fd_check(m, SL_FORWARD_TABLES, 4, 30, 2e-4);
    sl_model_free(m);
}
END_TEST

START_TEST(test_fd_general_1layer_3head)
{
    SlModel *m = random_model(tiny_cfg(1, 3, 6, 2, 4, 7), 13, 0.6f, 0.3f);
    fd_check(m, SL_FORWARD_GENERAL, 3, 30, 2e-4);
    sl_model_free(m);
}
END_TEST

/* Both paths on the same one-layer model: the same loss and gradients. */
START_TEST(test_paths_agree)
{
    SlModelConfig c = tiny_cfg(1, 2, 32, 16, 10, 50);
    SlModel *m = random_model(c, 21, 0.15f, 0.1f);
    SlError err = {0};
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.batch = 16;
    o.path = SL_FORWARD_TABLES;
    SlTrainer *a = sl_trainer_new(m, &o, &err);
    o.path = SL_FORWARD_GENERAL;
    SlTrainer *b = sl_trainer_new(m, &o, &err);
    ck_assert(a && b);
    int *tokens = random_tokens(&c, 16, 5);
    double la, lb;
    ck_assert_int_eq(sl_trainer_backward(a, tokens, 16, &la, &err), 0);
    ck_assert_int_eq(sl_trainer_backward(b, tokens, 16, &lb, &err), 0);
    ck_assert_msg(fabs(la - lb) <= 1e-6 * fabs(lb), "loss %.9g vs %.9g", la, lb);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        const float *ga = sl_model_params_get(&a->grads, i), *gb = sl_model_params_get(&b->grads, i);
        if (i == SL_P_B_K)   /* zero in exact arithmetic (see fd_check) */
            continue;
        double rel = max_abs_diff(ga, gb, m->param_sizes[i]) / max_abs(gb, m->param_sizes[i]);
        ck_assert_msg(rel <= 1e-5, "tensor %d: paths differ by %.3e", i, rel);
    }
    free(tokens);
    sl_trainer_free(a);
    sl_trainer_free(b);
    sl_model_free(m);
}
END_TEST

/* ---- PyTorch's gradients and AdamW step for the seed model ----------------- */

static const char *const seed_weights[] = {
    "embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "blocks.0.attn.W_K",
    "blocks.0.attn.W_V", "blocks.0.attn.W_O", "unembed.W_U",
};
static const int seed_weight_index[] = {SL_P_W_E, SL_P_W_POS, SL_P_W_Q, SL_P_W_K, SL_P_W_V, SL_P_W_O, SL_P_W_U};

typedef struct SeedFixture {
    SlModel *m;
    SlTensorSet *ref;
    int *tokens;   /* [256, 22] */
    int B;
} SeedFixture;

static bool seed_fixture(SeedFixture *f)
{
    const char *pt = shared_path("seed-model/sort_fixed_len_list_model.pt");
    const char *ref = shared_path("reference/reference.safetensors");
    memset(f, 0, sizeof *f);
    if (!pt || !ref) {
        printf("skipped: the seed model or the PyTorch reference is absent (../shared)\n");
        return false;
    }
    SlError err = {0};
    f->m = sl_ckpt_load(pt, &err);
    ck_assert_msg(f->m != NULL, "%s", err.message);
    f->ref = sl_safetensors_read(ref, &err);
    ck_assert_msg(f->ref != NULL, "%s", err.message);
    const SlTensor *tk = sl_tensorset_find(f->ref, "tokens");
    ck_assert(tk && tk->dtype == SL_DT_I64 && tk->ndim == 2 && tk->shape[1] == f->m->cfg.n_ctx);
    f->B = (int)tk->shape[0];
    f->tokens = malloc((size_t)f->B * tk->shape[1] * sizeof(int));
    for (int64_t i = 0; i < f->B * tk->shape[1]; i++)
        f->tokens[i] = (int)((const int64_t *)tk->data)[i];
    return true;
}

static void seed_fixture_free(SeedFixture *f)
{
    sl_model_free(f->m);
    sl_tensorset_free(f->ref);
    free(f->tokens);
}

static const float *ref_tensor(const SeedFixture *f, const char *prefix, const char *name, size_t numel)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const SlTensor *t = sl_tensorset_find(f->ref, full);
    ck_assert_msg(t && t->dtype == SL_DT_F32 && t->nbytes == numel * sizeof(float), "%s missing or misshapen", full);
    return t->data;
}

static void seed_gradients(SlForwardPath path)
{
    SeedFixture f;
    if (!seed_fixture(&f))
        return;
    SlError err = {0};
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.path = path;
    o.batch = f.B;
    SlTrainer *t = sl_trainer_new(f.m, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.message);
    double loss;
    ck_assert_int_eq(sl_trainer_backward(t, f.tokens, f.B, &loss, &err), 0);
    /* PyTorch's loss on this batch (reference README): 0.02029135450720787 */
    printf("  seed %s: loss %.10f (PyTorch 0.0202913545)\n", path == SL_FORWARD_GENERAL ? "general" : "tables", loss);
    ck_assert_msg(fabs(loss - 0.02029135450720787) <= 1e-6, "loss %.10f", loss);
    for (size_t w = 0; w < sizeof seed_weights / sizeof seed_weights[0]; w++) {
        int i = seed_weight_index[w];
        size_t numel = f.m->param_sizes[i];
        const float *want = ref_tensor(&f, "grad.", seed_weights[w], numel);
        double rel = max_abs_diff(sl_model_params_get(&t->grads, i), want, numel) / max_abs(want, numel);
        printf("  seed %s grad.%-20s max|g| %.4e  rel err %.2e\n", path == SL_FORWARD_GENERAL ? "general" : "tables",
               seed_weights[w], max_abs(want, numel), rel);
        ck_assert_msg(rel <= 1e-4, "grad.%s: relative error %.3e", seed_weights[w], rel);
    }
    sl_trainer_free(t);
    seed_fixture_free(&f);
}

START_TEST(test_seed_gradients_tables) { seed_gradients(SL_FORWARD_AUTO); }
END_TEST

START_TEST(test_seed_gradients_general) { seed_gradients(SL_FORWARD_GENERAL); }
END_TEST

/* One AdamW step (lr 1e-3, betas (0.9, 0.98), eps 1e-8, wd 0.01) from the
 * seed weights: (a) from PyTorch's own gradients, which isolates AdamW, and
 * compares the update itself; (b) from ours, end to end. */
START_TEST(test_seed_adamw_step1)
{
    for (int own = 0; own < 2; own++) {
        SeedFixture f;
        if (!seed_fixture(&f))
            return;
        SlError err = {0};
        SlTrainOptions o;
        sl_train_options_default(&o);
        o.batch = f.B;
        SlTrainer *t = sl_trainer_new(f.m, &o, &err);
        ck_assert(t != NULL);
        float *before = malloc(f.m->num_params * sizeof(float));
        memcpy(before, f.m->param_memory, f.m->num_params * sizeof(float));
        double loss;
        ck_assert_int_eq(sl_trainer_backward(t, f.tokens, f.B, &loss, &err), 0);
        if (!own) {
            memset(t->grad_memory, 0, f.m->num_params * sizeof(float));
            for (size_t w = 0; w < 7; w++) {
                int i = seed_weight_index[w];
                memcpy(sl_model_params_get(&t->grads, i), ref_tensor(&f, "grad.", seed_weights[w], f.m->param_sizes[i]),
                       f.m->param_sizes[i] * sizeof(float));
            }
        }
        sl_trainer_adamw(t, 1e-3);
        size_t off = 0;
        for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
            size_t numel = f.m->param_sizes[i];
            const float *now = f.m->param_memory + off, *was = before + off;
            if (sl_model_param_is_bias(i)) {
                ck_assert_msg(memcmp(now, was, numel * sizeof(float)) == 0, "a frozen bias moved");
            } else {
                size_t w = 0;
                while (seed_weight_index[w] != i)
                    w++;
                const float *want = ref_tensor(&f, "adamw_step1.", seed_weights[w], numel);
                const float *gref = ref_tensor(&f, "grad.", seed_weights[w], numel);
                double gmax = max_abs(gref, numel);
                double dmax = 0, derr = 0, ulps = 0, wmax = max_abs(want, numel), werr = 0;
                size_t skipped = 0;
                for (size_t k = 0; k < numel; k++) {
                    double dw = (double)want[k] - was[k], dn = (double)now[k] - was[k];
                    dmax = fmax(dmax, fabs(dw));
                    derr = fmax(derr, fabs(dw - dn));
                    /* in ulps of the larger of the two terms added */
                    float big = fmaxf(fabsf(was[k]), fabsf((float)dw));
                    double ulp = nextafterf(big, INFINITY) - big;
                    ulps = fmax(ulps, fabs((double)now[k] - want[k]) / ulp);
                    /* Adam's first step is lr g / (|g| + eps): where |g| is
                     * within float rounding of the gradient (~1e-5 of its
                     * largest value) the step is set by rounding, in PyTorch
                     * as here; compare where the gradient is determined. */
                    if (own && fabs(gref[k]) < 1e-3 * gmax)
                        skipped++;
                    else
                        werr = fmax(werr, fabs((double)now[k] - want[k]));
                }
                printf("  adamw step1 (%s grads) %-20s weights rel err %.2e (%.0f ulp), %zu of %zu with |g| < 1e-3 max left out;"
                       " update max %.3e, err %.2e\n",
                       own ? "our" : "PyTorch's", seed_weights[w], werr / wmax, ulps, skipped, numel, dmax, derr);
                ck_assert_msg(werr <= 1e-4 * wmax, "adamw_step1.%s: relative error %.3e", seed_weights[w], werr / wmax);
                ck_assert_msg(derr <= 2.01 * 1e-3, "adamw_step1.%s: an update beyond 2 lr", seed_weights[w]);
                if (!own)   /* the same gradients: the same weights, to float rounding */
                    ck_assert_msg(ulps <= 2, "adamw_step1.%s: %.0f ulp from PyTorch's", seed_weights[w], ulps);
            }
            off += numel;
        }
        free(before);
        sl_trainer_free(t);
        seed_fixture_free(&f);
    }
}
END_TEST

/* ---- AdamW against torch.optim.AdamW over four steps ----------------------- */

static void adamw_vs_torch(bool train_biases, const float *want)
{
    SlModelConfig c = tiny_cfg(1, 1, 2, 2, 2, 3);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert(m != NULL);
    ck_assert_int_eq((int)m->num_params, ADAMW_REF_N);
    memcpy(m->param_memory, adamw_ref_p0, sizeof adamw_ref_p0);
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.train_biases = train_biases;
    o.batch = 1;
    SlTrainer *t = sl_trainer_new(m, &o, &err);
    ck_assert(t != NULL);
    for (int s = 0; s < ADAMW_REF_STEPS; s++) {
        memcpy(t->grad_memory, adamw_ref_grads + (size_t)s * ADAMW_REF_N, ADAMW_REF_N * sizeof(float));
        sl_trainer_adamw(t, adamw_ref_lr[s]);
    }
    for (int k = 0; k < ADAMW_REF_N; k++) {
        float got = m->param_memory[k];
        /* a few ulps: PyTorch's vector kernels fuse some multiply-adds */
        ck_assert_msg(fabsf(got - want[k]) <= 4 * 1.2e-7f * fabsf(want[k]) + 1e-12f,
                      "element %d: %a vs torch %a", k, (double)got, (double)want[k]);
    }
    sl_trainer_free(t);
    sl_model_free(m);
}

START_TEST(test_adamw_torch_frozen_biases) { adamw_vs_torch(false, adamw_ref_frozen); }
END_TEST

START_TEST(test_adamw_torch_all) { adamw_vs_torch(true, adamw_ref_all); }
END_TEST

/* ---- schedule and initialisation ------------------------------------------- */

START_TEST(test_schedule)
{
    SlTrainOptions o;
    sl_train_options_default(&o);
    ck_assert(sl_train_lr_at(&o, 0) == 1e-3 && sl_train_lr_at(&o, 9999) == 1e-3);
    o.warmup = 10;
    ck_assert(fabs(sl_train_lr_at(&o, 0) - 1e-4) < 1e-15);
    ck_assert(fabs(sl_train_lr_at(&o, 4) - 5e-4) < 1e-15);
    ck_assert(sl_train_lr_at(&o, 9) == 1e-3 && sl_train_lr_at(&o, 10) == 1e-3);
    o.schedule = SL_TRAIN_SCHEDULE_COSINE;
    o.steps = 110;
    ck_assert(fabs(sl_train_lr_at(&o, 10) - 1e-3) < 1e-15);
    ck_assert(fabs(sl_train_lr_at(&o, 60) - 5e-4) < 1e-15);             /* half way: cos(pi/2) = 0 */
    ck_assert(fabs(sl_train_lr_at(&o, 35) - 1e-3 * (0.5 + 0.5 * sqrt(0.5))) < 1e-15);   /* cos(pi/4) */
    ck_assert(sl_train_lr_at(&o, 109) > 0 && sl_train_lr_at(&o, 109) < 1e-6);
}
END_TEST

/* A model of cfg with every parameter 1, after `steps` AdamW updates at
 * learning rate lr with zero gradients.  Adam's moments then stay 0 and its
 * update is 0 / (0 + eps) = 0, so each weight is exactly its start times
 * prod_t (1 - lr wd_t) (torch.optim.AdamW's param.mul_(1 - lr * wd)), and a
 * frozen bias stays 1. */
static SlModel *decayed_ones(SlModelConfig c, const SlTrainOptions *o, int steps, double lr)
{
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert(m != NULL);
    for (size_t k = 0; k < m->num_params; k++)
        m->param_memory[k] = 1.0f;
    SlTrainer *t = sl_trainer_new(m, o, &err);
    ck_assert(t != NULL);
    for (int step = 0; step < steps; step++) {
        memset(t->grad_memory, 0, m->num_params * sizeof(float));
        sl_trainer_adamw(t, lr);
    }
    sl_trainer_free(t);
    return m;
}

/* Every weight of m is want_weight (W_Q and W_K: want_qk), every bias 1. */
static void check_decayed(const SlModel *m, float want_weight, float want_qk)
{
    size_t off = 0;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        float expect = sl_model_param_is_bias(i) ? 1.0f : i == SL_P_W_Q || i == SL_P_W_K ? want_qk : want_weight;
        for (size_t k = 0; k < m->param_sizes[i]; k++)
            ck_assert_float_eq_tol(m->param_memory[off + k], expect, 1e-7f);
        off += m->param_sizes[i];
    }
}

/* --weight-decay-end: the decay moves linearly over the run, and AdamW
 * applies each step's. */
START_TEST(test_weight_decay_schedule)
{
    SlTrainOptions o;
    sl_train_options_default(&o);
    ck_assert(sl_train_weight_decay_at(&o, 0) == 0.01 && sl_train_weight_decay_at(&o, 9999) == 0.01);
    o.steps = 5;
    o.weight_decay = 0.5;
    o.weight_decay_end = 0.1;
    ck_assert(sl_train_weight_decay_at(&o, 0) == 0.5);
    ck_assert(fabs(sl_train_weight_decay_at(&o, 2) - 0.3) < 1e-15);
    ck_assert(fabs(sl_train_weight_decay_at(&o, 4) - 0.1) < 1e-15);
    ck_assert(fabs(sl_train_weight_decay_at(&o, 9) - 0.1) < 1e-15);   /* past the end: the end */
    SlModel *m = decayed_ones(tiny_cfg(1, 1, 16, 16, 3, 5), &o, 5, 0.1);
    float want = 1.0f;
    for (int step = 0; step < 5; step++)
        want *= (float)(1.0 - 0.1 * (0.5 - 0.1 * step));   /* wd 0.5, 0.4, .., 0.1 */
    check_decayed(m, want, want);
    sl_model_free(m);
}
END_TEST

/* --weight-decay-qk: W_Q and W_K decay at their own rate, in every layer. */
START_TEST(test_weight_decay_qk)
{
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.weight_decay = 0.5;
    o.weight_decay_qk = 0.2;
    SlModel *m = decayed_ones(tiny_cfg(2, 2, 8, 4, 3, 5), &o, 3, 0.1);
    float want = 1.0f, want_qk = 1.0f;
    for (int step = 0; step < 3; step++) {
        want *= (float)(1.0 - 0.1 * 0.5);
        want_qk *= (float)(1.0 - 0.1 * 0.2);
    }
    check_decayed(m, want, want_qk);
    sl_model_free(m);
}
END_TEST

/* --hard-share, checked against the kinds' definitions in stress.h, written
 * again here: n = 10, V = 50, so a triple list has one value exactly three
 * times and seven other distinct values, a cluster list spans at most
 * W = max(n + 2, V / 4) = 12 consecutive values, a gap list has 5 values in
 * 0..9 and 5 in 40..49.  A uniform list is a gap list with probability
 * C(10,5) 0.2^10 < 3e-5 and a cluster list with less than 1e-4. */
static bool is_triple(const int *v, int n)
{
    int count[50] = {0}, threes = 0;
    for (int i = 0; i < n; i++)
        count[v[i]]++;
    for (int x = 0; x < 50; x++) {
        if (count[x] > 3 || count[x] == 2)
            return false;
        threes += count[x] == 3;
    }
    return threes == 1;
}

static bool is_cluster(const int *v, int n)
{
    int lo = v[0], hi = v[0];
    for (int i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    return hi - lo < 12;
}

static bool is_gap(const int *v, int n)
{
    int low = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] >= 10 && v[i] < 40)
            return false;
        low += v[i] < 10;
    }
    return low == 5;
}

/* Counts of each kind over `batches` batches of B: the first hard lists of
 * each batch and the rest apart. */
typedef struct { int lists, triple, cluster, gap, none; } KindCounts;

static void count_kinds(const int *tokens, int from, int to, int T, KindCounts *k)
{
    for (int b = from; b < to; b++) {
        const int *v = tokens + (size_t)b * T + 1;   /* after BOS */
        bool t = is_triple(v, 10), c = is_cluster(v, 10), g = is_gap(v, 10);
        k->lists++;
        k->triple += t;
        k->cluster += c;
        k->gap += g;
        k->none += !t && !c && !g;
    }
}

START_TEST(test_hard_share)
{
    SlModelConfig c = tiny_cfg(1, 1, 8, 8, 10, 50);
    const double shares[] = {0, 0.25, 1};
    const int B = 400, batches = 10;
    for (int s = 0; s < 3; s++) {
        SlError err = {0};
        SlModel *m = sl_model_new(&c, &err);
        SlTrainOptions o;
        sl_train_options_default(&o);
        o.batch = B;
        o.hard_share = shares[s];
        SlTrainer *t = sl_trainer_new(m, &o, &err);
        ck_assert_msg(t != NULL, "%s", err.message);
        int hard = sl_trainer_hard_lists(&o, B), *tokens = malloc((size_t)B * c.n_ctx * sizeof *tokens);
        ck_assert_int_eq(hard, (int)(shares[s] * B));
        KindCounts h = {0}, u = {0};
        for (int i = 0; i < batches; i++) {
            sl_trainer_make_batch(t, tokens, B);
            for (int b = 0; b < B; b++) {
                int made[64];
                sl_task_make_tokens(&c, tokens + (size_t)b * c.n_ctx + 1, made);
                ck_assert(memcmp(made, tokens + (size_t)b * c.n_ctx, (size_t)c.n_ctx * sizeof *made) == 0);
            }
            count_kinds(tokens, 0, hard, c.n_ctx, &h);
            count_kinds(tokens, hard, B, c.n_ctx, &u);
        }
        /* every hard list is of a hard kind, each kind about a third of them
         * (binomial sd of a third of 1000 lists: 15; gap lists are never
         * triple or cluster lists, cluster lists rarely triple ones) */
        ck_assert_int_eq(h.none, 0);
        if (h.lists) {
            ck_assert_msg(fabs(h.gap - h.lists / 3.0) < 5 * sqrt(h.lists * 2 / 9.0), "gap %d of %d", h.gap, h.lists);
            ck_assert_msg(fabs(h.cluster - h.lists / 3.0) < 5 * sqrt(h.lists * 2 / 9.0), "cluster %d of %d", h.cluster,
                          h.lists);
            ck_assert_msg(h.triple > h.lists / 4, "triple %d of %d", h.triple, h.lists);
        }
        /* the others are uniform: hardly ever a gap or cluster list */
        ck_assert_int_le(u.gap + u.cluster, 2);
        ck_assert_int_eq(h.lists + u.lists, B * batches);
        free(tokens);
        sl_trainer_free(t);
        sl_model_free(m);
    }
    /* a share outside 0..1, or kinds that do not exist for the config, are refused */
    SlError err = {0};
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.hard_share = 1.5;
    SlModel *m = sl_model_new(&c, &err);
    ck_assert(sl_trainer_new(m, &o, &err) == NULL);
    ck_assert_msg(strstr(err.message, "share of hard lists 1.5 is outside 0..1"), "%s", err.message);
    sl_model_free(m);
    SlModelConfig two = tiny_cfg(1, 1, 8, 8, 2, 50);
    o.hard_share = 0.5;
    m = sl_model_new(&two, &err);
    ck_assert(sl_trainer_new(m, &o, &err) == NULL);
    ck_assert_msg(strstr(err.message, "hard lists: no list of 2 values"), "%s", err.message);
    sl_model_free(m);
}
END_TEST

START_TEST(test_init)
{
    SlModelConfig c = tiny_cfg(1, 1, 128, 128, 10, 50);
    SlError err = {0};
    SlModel *a = sl_model_new(&c, &err), *b = sl_model_new(&c, &err), *d = sl_model_new(&c, &err);
    ck_assert(a && b && d);
    sl_train_init_params(a, 5);
    sl_train_init_params(b, 5);
    sl_train_init_params(d, 6);
    ck_assert(memcmp(a->param_memory, b->param_memory, a->num_params * sizeof(float)) == 0);
    ck_assert(memcmp(a->param_memory, d->param_memory, a->num_params * sizeof(float)) != 0);
    double want = 0.8 / sqrt(128.0);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        const float *p = sl_model_params_get(&a->params, i);
        size_t n = a->param_sizes[i];
        double s1 = 0, s2 = 0;
        for (size_t k = 0; k < n; k++) {
            s1 += p[k];
            s2 += (double)p[k] * p[k];
        }
        if (sl_model_param_is_bias(i)) {
            ck_assert(s2 == 0);
            continue;
        }
        double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
        /* n >= 2816 samples: the sample sd is within 5% and the mean within 4 sd/sqrt(n) */
        ck_assert_msg(fabs(sd / want - 1) < 0.05, "tensor %d: sd %.4f, want %.4f", i, sd, want);
        ck_assert_msg(fabs(mean) < 4 * want / sqrt((double)n), "tensor %d: mean %.4f", i, mean);
    }
    sl_model_free(a);
    sl_model_free(b);
    sl_model_free(d);
}
END_TEST

/* ---- short runs -------------------------------------------------------------- */

static SlModel *short_run_with(SlModelConfig c, uint64_t seed, long steps, int batch, double lr, double *final_loss, SlTrainEval *ev)
{
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert(m != NULL);
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.seed = seed;
    o.steps = steps;
    o.batch = batch;
    o.lr = lr;
    o.schedule = SL_TRAIN_SCHEDULE_COSINE;
    o.warmup = 20;
    sl_train_init_params(m, seed);
    SlTrainer *t = sl_trainer_new(m, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.message);
    double loss = 0;
    for (long s = 0; s < steps; s++)
        ck_assert_int_eq(sl_trainer_step(t, &loss, &err), 0);
    *final_loss = loss;
    if (ev) {
        int *tokens = random_tokens(&c, 500, 4242);
        ck_assert_int_eq(sl_trainer_evaluate(t, tokens, 500, ev, &err), 0);
        free(tokens);
    }
    sl_trainer_free(t);
    return m;
}

static SlModel *short_run(SlModelConfig c, uint64_t seed, long steps, double *final_loss, SlTrainEval *ev)
{
    return short_run_with(c, seed, steps, 64, 3e-3, final_loss, ev);
}

START_TEST(test_short_run_learns_and_is_deterministic)
{
    SlModelConfig c = tiny_cfg(1, 1, 32, 32, 4, 10);
    double l1, l2, l3, l4;
    SlTrainEval ev;
    SlModel *a = short_run(c, 1, 300, &l1, &ev);
    printf("  short run (1 layer, d 32, n 4, 10 values, 300 steps): loss %.4f; held out: loss %.4f, tokens %.4f, lists %.4f\n",
           l1, ev.loss, ev.token_accuracy, ev.list_accuracy);
    /* chance is ln 10 = 2.30 */
    ck_assert_msg(l1 < 0.15, "final loss %.4f", l1);
    ck_assert_msg(ev.list_accuracy > 0.8, "held-out list accuracy %.4f", ev.list_accuracy);
    /* the same seed twice: the same bytes; another seed: others */
    SlModel *b = short_run(c, 9, 60, &l2, NULL), *d = short_run(c, 9, 60, &l3, NULL), *e = short_run(c, 10, 60, &l4, NULL);
    ck_assert(l2 == l3);
    ck_assert(memcmp(b->param_memory, d->param_memory, b->num_params * sizeof(float)) == 0);
    ck_assert(memcmp(b->param_memory, e->param_memory, b->num_params * sizeof(float)) != 0);
    sl_model_free(a);
    sl_model_free(b);
    sl_model_free(d);
    sl_model_free(e);
}
END_TEST

START_TEST(test_short_run_two_layers)
{
    SlModelConfig c = tiny_cfg(2, 2, 16, 8, 4, 10);
    double l1;
    SlModel *a = short_run_with(c, 3, 300, 32, 1e-2, &l1, NULL);
    printf("  short run (2 layers, 2 heads, d 16, n 4, 10 values, 300 steps): loss %.4f\n", l1);
    ck_assert_msg(l1 < 0.15, "final loss %.4f", l1);
    sl_model_free(a);
}
END_TEST

/* The evaluation's greedy and teacher-forced counts against the double
 * reference, on a half-trained model (so that greedy decoding goes astray
 * where teacher forcing does not). */
START_TEST(test_evaluate_matches_reference)
{
    SlModelConfig c = tiny_cfg(1, 2, 16, 8, 4, 10);
    double l;
    SlModel *m = short_run(c, 5, 150, &l, NULL);
    SlError err = {0};
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.batch = 7;   /* several chunks, the last one short */
    SlTrainer *t = sl_trainer_new(m, &o, &err);
    int B = 200, n = c.list_len, T = c.n_ctx, Vo = c.d_vocab_out;
    int *tokens = random_tokens(&c, B, 17);
    SlTrainEval ev;
    ck_assert_int_eq(sl_trainer_evaluate(t, tokens, B, &ev, &err), 0);
    RefParams rp = ref_params(m);
    double lg[64];
    long right_tok = 0, right_list = 0;
    for (int b = 0; b < B; b++) {
        int seq[64];
        memcpy(seq, tokens + (size_t)b * T, (size_t)T * sizeof(int));
        ref_logits(&c, &rp, seq, lg);
        for (int ii = 0; ii < n; ii++) {
            int best = 0;
            for (int o2 = 1; o2 < Vo; o2++)
                if (lg[ii * Vo + o2] > lg[ii * Vo + best])
                    best = o2;
            right_tok += best == seq[n + 2 + ii];
        }
        for (int ii = 0; ii < n; ii++) {   /* greedy: feed back each prediction */
            ref_logits(&c, &rp, seq, lg);
            int best = 0;
            for (int o2 = 1; o2 < Vo; o2++)
                if (lg[ii * Vo + o2] > lg[ii * Vo + best])
                    best = o2;
            seq[n + 2 + ii] = best;
        }
        right_list += memcmp(seq + n + 2, tokens + (size_t)b * T + n + 2, (size_t)n * sizeof(int)) == 0;
    }
    printf("  evaluate: tokens %ld/%d lists %ld/%d (reference); trainer %.4f %.4f\n", right_tok, B * n, right_list, B,
           ev.token_accuracy, ev.list_accuracy);
    /* greedy is stricter than teacher forcing: both must be exercised */
    ck_assert(right_list > 0 && right_list < B && right_tok < B * n);
    ck_assert(ev.lists == B);
    ck_assert(fabs(ev.token_accuracy - (double)right_tok / (B * n)) < 1e-12);
    ck_assert(fabs(ev.list_accuracy - (double)right_list / B) < 1e-12);
    ck_assert(fabs(ev.loss - ref_loss(&c, &rp, tokens, B)) < 1e-5);
    ref_params_free(&rp);
    free(tokens);
    sl_trainer_free(t);
    sl_model_free(m);
}
END_TEST

/* The held-out figures are sl_decode_eval's on the same lists (random_tokens
 * draws them as sl_decode_eval does, from one SlRng with the same seed), on
 * the tables path (one layer) and the general path (two layers); a sequence
 * that is not a list and its sorted values is refused. */
START_TEST(test_evaluate_equals_decode_eval)
{
    SlModelConfig cfgs[2] = {tiny_cfg(1, 2, 16, 8, 4, 10), tiny_cfg(2, 2, 16, 8, 4, 10)};
    for (int k = 0; k < 2; k++) {
        SlModelConfig c = cfgs[k];
        double l;
        SlModel *m = short_run(c, 5, 150, &l, NULL);
        SlError err = {0};
        SlTrainer *t = sl_trainer_new(m, NULL, &err);
        ck_assert_msg(t != NULL, "%s", err.message);
        const int B = 300;
        int *tokens = random_tokens(&c, B, 23);
        SlTrainEval ev;
        SlEvalResult want;
        ck_assert_int_eq(sl_trainer_evaluate(t, tokens, B, &ev, &err), 0);
        ck_assert_int_eq(sl_decode_eval(m, B, 23, NULL, &want, NULL, NULL, &err), 0);
        printf("  evaluate = decode_eval (%d layers): tokens %.4f lists %.4f loss %.6f\n", c.n_layers,
               ev.token_accuracy, ev.list_accuracy, ev.loss);
        ck_assert(want.list_accuracy > 0 && want.list_accuracy < 1);
        ck_assert(ev.lists == want.lists);
        ck_assert(ev.token_accuracy == want.token_accuracy);
        ck_assert(ev.list_accuracy == want.list_accuracy);
        ck_assert(ev.loss == want.loss);
        for (int i = 0; i < c.list_len; i++)
            ck_assert(ev.per_position_accuracy[i] == want.per_position_accuracy[i]);
        tokens[(size_t)7 * c.n_ctx + c.n_ctx - 1] = (tokens[(size_t)7 * c.n_ctx + c.n_ctx - 1] + 1) % c.d_vocab_out;
        ck_assert_int_eq(sl_trainer_evaluate(t, tokens, B, &ev, &err), SL_EINVAL);
        ck_assert_msg(strstr(err.message, "held-out sequence 7 is not a list followed by its sorted values"), "%s",
                      err.message);
        free(tokens);
        sl_trainer_free(t);
        sl_model_free(m);
    }
}
END_TEST

START_TEST(test_bad_tokens_refused)
{
    SlModelConfig c = tiny_cfg(1, 1, 8, 8, 3, 5);
    SlModel *m = random_model(c, 1, 0.1f, 0.0f);
    SlError err = {0};
    SlTrainer *t = sl_trainer_new(m, NULL, &err);
    int tokens[8] = {5, 0, 1, 2, 6, 0, 1, 7};   /* label 7 is not a value */
    double loss;
    ck_assert_int_eq(sl_trainer_backward(t, tokens, 1, &loss, &err), SL_EINVAL);
    ck_assert_msg(strstr(err.message, "token 7 at sequence 0 position 7 is outside 0..4"), "%s", err.message);
    tokens[7] = 2;
    tokens[0] = -1;
    ck_assert_int_eq(sl_trainer_backward(t, tokens, 1, &loss, &err), SL_EINVAL);
    tokens[0] = 5;
    ck_assert_int_eq(sl_trainer_backward(t, tokens, 1, &loss, &err), 0);
    sl_trainer_free(t);
    sl_model_free(m);
}
END_TEST


/* The bundled model, read by PyTorch: load_state_dict(strict=True) into a
 * hand-written TransformerLens-named module, and its accuracy there. */
START_TEST(test_bundled_model_in_torch)
{
    const char *src = getenv("SORTLENS_SOURCE");
    char model[PATH_MAX], script[PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(model, sizeof model, "%s/data/sortlens-default.safetensors", src ? src : ".");
    snprintf(script, sizeof script, "%s/tests/core/train_torch_check.py", src ? src : ".");
    if (access(model, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0) {
        printf("skipped: no bundled model or no /usr/bin/python3\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' --lists 2000 --min-token-accuracy 0.997 --min-list-accuracy 0.98",
             script, model);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        printf("skipped: /usr/bin/python3 has no torch\n");
        return;
    }
    ck_assert_msg(WEXITSTATUS(st) == 0, "%s exited %d", cmd, WEXITSTATUS(st));
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    struct { const char *name; const TTest *tests[8]; } cases[] = {
        {"gradients", {test_fd_general_2layer_2head, test_fd_tables_1layer_2head, test_fd_general_1layer_3head,
                       test_paths_agree, test_seed_gradients_tables, test_seed_gradients_general, test_bad_tokens_refused}},
        {"adamw", {test_seed_adamw_step1, test_adamw_torch_frozen_biases, test_adamw_torch_all, test_schedule, test_weight_decay_schedule, test_weight_decay_qk, test_init, test_hard_share}},
        {"runs", {test_short_run_learns_and_is_deterministic, test_short_run_two_layers, test_evaluate_matches_reference,
                  test_evaluate_equals_decode_eval}},
        {"torch", {test_bundled_model_in_torch}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 240);
        for (int j = 0; j < 8 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    /* One BLAS thread, as `sortlens train` uses by default: the products
     * here are small, and threads only add waiting on a busy machine. */
    openblas_set_num_threads(1);
    return run_suite(train_suite());
}
