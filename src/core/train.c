/* train.c: the tutorial's loss and its gradient, AdamW as torch.optim.AdamW,
 * and the training loop (see train.h; the options, their schedules and
 * TransformerLens initialisation: train_options.c).
 * It runs past 600 lines because the two backward paths share the private
 * workspace and the loop that drives them; split, each half would need it.
 *
 * Notation (model.h): B batch, T = n_ctx, D d_model, H heads, E d_head,
 * V d_vocab, Vo d_vocab_out, L layers, n list length, P0 = n + 1 the first
 * prediction position, N = B n prediction rows, VT = V + T rows of the
 * stacked input table X = [W_E; W_pos] (contiguous in the parameter block).
 *
 * Forward (TransformerLens, attn_only, no layernorm), per layer l and head h:
 *   q = x W_Q + b_Q, k, v likewise; s = q k^T / sqrt(E), causal; p = softmax(s)
 *   z = p v; x' = x + sum_h z_h W_O[h] + b_O; logits = x_L W_U + b_U.
 * Backward (standard reverse mode):
 *   dlogits = (softmax - onehot) / N at the prediction positions
 *   dW_U = x^T dlogits, dx = dlogits W_U^T
 *   dW_O[h] = z_h^T dx, dz_h = dx W_O[h]^T, dp = dz v^T, dv = p^T dz
 *   ds = p * (dp - rowsum(p * dp)) / sqrt(E), dq = ds k, dk = ds^T q
 *   dW_Q = x^T dq, dx += dq W_Q^T (likewise K, V), and at the bottom
 *   dW_E[t] += dx[b, i] for t = tokens[b, i], dW_pos[i] += dx[b, i].
 */
#include "sortlens/train.h"

#include "forward_internal.h"
#include "sortlens/stress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct SlTrainWorkspace {
    int cap_B;
    bool tables;            /* which path this workspace serves */
    float *memory;          /* one block for everything below */
    int *tokens;            /* [cap_B, T] a training batch */
    float *logits;          /* [N, Vo] logits, then dlogits */
    /* TABLES path: tables rebuilt each step (sizes independent of B) */
    float *tabQ, *tabK, *tabV;  /* [H, VT, E] X W_Q + (b_Q on the position rows) */
    float *qk;                  /* [H, VT, VT] tabQ tabK^T, unscaled */
    float *VO;                  /* [H, VT, D] tabV W_O */
    float *OV;                  /* [H, VT, Vo] VO W_U = [H * VT, Vo] */
    float *direct;              /* [VT, Vo] X W_U */
    float *c0;                  /* [Vo] b_O W_U + b_U */
    float *M;                   /* [H, VT, VT] dL/d(qk entry), scaled */
    float *S;                   /* [VT, Vo] dlogits summed by query token and position */
    float *R;                   /* [H, VT, Vo] dL/dOV */
    float *dQt, *dKt, *dVt;     /* [H, VT, E] */
    float *RU;                  /* [H, VT, D] R W_U^T */
    float *colsum;              /* [Vo] dlogits summed over every row */
    float *pat;                 /* [B, H, n, Tk] patterns of the prediction queries, Tk = T - 1 keys */
    float *ovk;                 /* [B, H, Tk, Vo] OV rows of each key: OV[t_j] + OV[V + j] */
    float *dP;                  /* [n, Tk] scratch */
    float *dovk;                /* [Tk, Vo] scratch */
    /* GENERAL path: the one forward (forward_general_rows) and its backward */
    SlActCache *cache;          /* every activation the backward needs, allocated once */
    GeneralRows rows;           /* the last layer at the prediction rows, in cache's scratch */
    GeneralGrad grad;           /* the backward's workspace */
};

/* The kinds of list --hard-share trains on: the ones sorting models get
 * wrong most (`sortlens explain`'s by-kind table). */
enum { HARD_KINDS = 3 };
static const SlStressKind HARD_KIND[HARD_KINDS] = {SL_STRESS_TRIPLE, SL_STRESS_CLUSTER, SL_STRESS_GAP};

/* ---- trainer ------------------------------------------------------------- */

static void carve_params(SlModelParams *p, float *mem, const size_t *sizes)
{
    float **ptrs[SL_NUM_PARAM_TENSORS] = {
        &p->W_E, &p->W_pos, &p->W_Q, &p->W_K, &p->W_V, &p->W_O,
        &p->b_Q, &p->b_K, &p->b_V, &p->b_O, &p->W_U, &p->b_U,
    };
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
}

static bool use_tables(const SlTrainer *t)
{
    if (t->opt.path == SL_FORWARD_TABLES)
        return true;
    return t->opt.path == SL_FORWARD_AUTO && t->model->cfg.n_layers == 1;
}

static void ws_free(SlTrainWorkspace *ws)
{
    if (!ws)
        return;
    sl_cache_free(ws->cache);
    general_grad_free(&ws->grad);
    free(ws->memory);
    free(ws->tokens);
    free(ws);
}

/* A workspace for batches of up to B sequences on the path the trainer uses. */
static SlTrainWorkspace *ws_new(const SlTrainer *t, int B, SlError *err)
{
    const SlModelConfig *c = &t->model->cfg;
    size_t H = (size_t)c->n_heads, D = (size_t)c->d_model, E = (size_t)c->d_head;
    size_t T = (size_t)c->n_ctx, V = (size_t)c->d_vocab, Vo = (size_t)c->d_vocab_out, n = (size_t)c->list_len;
    size_t VT = V + T, Bs = (size_t)B, N = Bs * n;
    SlTrainWorkspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        goto nomem;
    ws->cap_B = B;
    ws->tables = use_tables(t);
    size_t total = N * Vo;
    if (ws->tables)
        total += 3 * H * VT * E + 2 * H * VT * VT + H * VT * D * 2 + 2 * H * VT * Vo + VT * Vo * 2 + 2 * Vo
               + 3 * H * VT * E + Bs * H * (n + Vo) * T + n * T + T * Vo;
    else if (!(ws->cache = sl_cache_new(c, B, (int)T, err)) || general_grad_init(&ws->grad, c, B, err))
        goto fail;
    ws->memory = malloc(total * sizeof(float));
    ws->tokens = malloc(Bs * T * sizeof(int));
    if (!ws->memory || !ws->tokens)
        goto nomem;
    float *mem = ws->memory;
#define CARVE(field, count) (ws->field = mem, mem += (count))
    CARVE(logits, N * Vo);
    if (ws->tables) {
        CARVE(tabQ, H * VT * E); CARVE(tabK, H * VT * E); CARVE(tabV, H * VT * E);
        CARVE(qk, H * VT * VT); CARVE(M, H * VT * VT);
        CARVE(VO, H * VT * D); CARVE(RU, H * VT * D);
        CARVE(OV, H * VT * Vo); CARVE(R, H * VT * Vo);
        CARVE(direct, VT * Vo); CARVE(S, VT * Vo);
        CARVE(c0, Vo); CARVE(colsum, Vo);
        CARVE(dQt, H * VT * E); CARVE(dKt, H * VT * E); CARVE(dVt, H * VT * E);
        CARVE(pat, Bs * H * n * (T - 1)); CARVE(ovk, Bs * H * (T - 1) * Vo);
        CARVE(dP, n * (T - 1)); CARVE(dovk, (T - 1) * Vo);
    }
#undef CARVE
    return ws;
nomem:
    sl_error_set(err, SL_ENOMEM, "out of memory for a training workspace of batch %d", B);
fail:
    ws_free(ws);
    return NULL;
}

static int ws_ensure(SlTrainer *t, int B, SlError *err)
{
    if (t->ws && t->ws->cap_B >= B)
        return 0;
    SlTrainWorkspace *ws = ws_new(t, B, err);
    if (!ws)
        return SL_ENOMEM;
    ws_free(t->ws);
    t->ws = ws;
    return 0;
}

SlTrainer *sl_trainer_new(SlModel *m, const SlTrainOptions *opt, SlError *err)
{
    if (sl_model_config_validate(&m->cfg, err))
        return NULL;
    SlTrainer *t = calloc(1, sizeof *t);
    if (!t) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the trainer");
        return NULL;
    }
    t->model = m;
    if (opt)
        t->opt = *opt;
    else
        sl_train_options_default(&t->opt);
    if (t->opt.batch < 1 || t->opt.batch > 1 << 20) {
        sl_error_set(err, SL_EINVAL, "batch %d is outside 1..%d", t->opt.batch, 1 << 20);
        goto fail;
    }
    if (!(t->opt.hard_share >= 0 && t->opt.hard_share <= 1)) {
        sl_error_set(err, SL_EINVAL, "the share of hard lists %g is outside 0..1", t->opt.hard_share);
        goto fail;
    }
    for (int k = 0; t->opt.hard_share > 0 && k < HARD_KINDS; k++)
        if (sl_stress_check(&m->cfg, HARD_KIND[k], err)) {
            sl_error_prefix(err, "hard lists");
            goto fail;
        }
    if (t->opt.path != SL_FORWARD_AUTO && t->opt.path != SL_FORWARD_GENERAL && t->opt.path != SL_FORWARD_TABLES) {
        sl_error_set(err, SL_EINVAL, "unknown training path %d", (int)t->opt.path);
        goto fail;
    }
    if (t->opt.path == SL_FORWARD_TABLES && m->cfg.n_layers != 1) {
        sl_error_set(err, SL_EINVAL, "the table path trains one-layer models only (this one has %d layers)", m->cfg.n_layers);
        goto fail;
    }
    if (m->params.W_pos != m->params.W_E + m->param_sizes[SL_P_W_E]) {
        sl_error_set(err, SL_EINVAL, "W_E and W_pos are not adjacent in the parameter block");
        goto fail;
    }
    /* Gradients, then Adam's m and v, each shaped like the parameter block. */
    t->memory = calloc(3 * m->num_params, sizeof(float));
    if (!t->memory) {
        sl_error_set(err, SL_ENOMEM, "out of memory for gradients and Adam moments (%zu parameters)", m->num_params);
        goto fail;
    }
    t->grad_memory = t->memory;
    t->m_memory = t->memory + m->num_params;
    t->v_memory = t->memory + 2 * m->num_params;
    carve_params(&t->grads, t->grad_memory, m->param_sizes);
    /* The data stream is separate from the initialisation stream (which uses
     * seed itself), so that a model trained from given weights sees the same
     * lists as one initialised here. */
    sl_rng_seed(&t->data_rng, t->opt.seed ^ 0x6461746173747265ULL);
    if (ws_ensure(t, t->opt.batch, err))
        goto fail;
    return t;
fail:
    sl_trainer_free(t);
    return NULL;
}

void sl_trainer_free(SlTrainer *t)
{
    if (!t)
        return;
    ws_free(t->ws);
    free(t->memory);
    free(t);
}

static int check_tokens(const SlModelConfig *c, const int *tokens, int B, SlError *err)
{
    int T = c->n_ctx, P0 = sl_task_first_pred_pos(c);
    for (size_t b = 0; b < (size_t)B; b++)
        for (int i = 0; i < T; i++) {
            int tk = tokens[b * (size_t)T + i];
            int limit = i > P0 ? c->d_vocab_out : c->d_vocab;   /* labels are values */
            if (tk < 0 || tk >= limit)
                return sl_error_set(err, SL_EINVAL, "token %d at sequence %zu position %d is outside 0..%d",
                                    tk, b, i, limit - 1);
        }
    return 0;
}

/* ---- the TABLES path (one layer) ------------------------------------------
 *
 * With X = [W_E; W_pos] [VT, D] and, per head, the tables Q = X W_Q (b_Q
 * added to the position rows), K and Vt likewise, qk = Q K^T, OV = Vt W_O W_U,
 * direct = X W_U, c0 = b_O W_U + b_U, the prediction at position i is
 *   s(i, j) = (qk[t_i, t_j] + qk[t_i, V+j] + qk[V+i, t_j] + qk[V+i, V+j]) / sqrt(E)
 *   logits_i = direct[t_i] + direct[V+i] + c0 + sum_h sum_j p_h(i, j) (OV_h[t_j] + OV_h[V+j])
 * (the pattern sums to 1, so b_O and b_V reach every logit once).  Backward:
 * M[a, c] gathers dL/ds / sqrt(E) of every score that used qk[a, c]; R gathers
 * dL/dOV (pattern-weighted dlogits on the key rows); S the dlogits on the
 * query rows.  Then
 *   dQ = M K, dK = M^T Q, RU = R W_U^T, dVt = RU W_O^T, dW_O = Vt^T RU
 *   dW_Q = X^T dQ (K, V likewise); db_Q = sum of dQ's position rows
 *   dX = dQ W_Q^T + dK W_K^T + dVt W_V^T + S W_U^T        (dX = [dW_E; dW_pos])
 *   dW_U = X^T S + sum_h (Vt W_O)^T R + b_O^T colsum, db_U = colsum, db_O = colsum W_U^T
 * where colsum is dlogits summed over all rows. */

/* Per-step tables from the current weights; X = [W_E; W_pos] is [VT, D]. */
static void tables_build(SlTrainer *t)
{
    const SlModelConfig *c = &t->model->cfg;
    const SlModelParams *p = &t->model->params;
    SlTrainWorkspace *ws = t->ws;
    int H = c->n_heads, D = c->d_model, E = c->d_head, V = c->d_vocab, T = c->n_ctx, Vo = c->d_vocab_out;
    int VT = V + T;
    const float *X = p->W_E;
    for (int h = 0; h < H; h++) {
        size_t w = sl_model_head_qkv_offset(c, 0, h);
        float *Q = ws->tabQ + (size_t)h * VT * E, *K = ws->tabK + (size_t)h * VT * E;
        float *Vt = ws->tabV + (size_t)h * VT * E;
        tables_project(Q, X, VT, p->W_Q + w, D, E, p->b_Q + (size_t)h * E, V);
        tables_project(K, X, VT, p->W_K + w, D, E, p->b_K + (size_t)h * E, V);
        tables_project(Vt, X, VT, p->W_V + w, D, E, p->b_V + (size_t)h * E, V);
        ops_gemm(false, true, VT, VT, E, 1.0f, Q, E, K, E, 0.0f, ws->qk + (size_t)h * VT * VT, VT);
        float *VO = ws->VO + (size_t)h * VT * D;
        ops_gemm(false, false, VT, D, E, 1.0f, Vt, E, p->W_O + (size_t)h * E * D, D, 0.0f, VO, D);
        ops_gemm(false, false, VT, Vo, D, 1.0f, VO, D, p->W_U, Vo, 0.0f, ws->OV + (size_t)h * VT * Vo, Vo);
    }
    ops_gemm(false, false, VT, Vo, D, 1.0f, X, D, p->W_U, Vo, 0.0f, ws->direct, Vo);
    ops_gemm(false, false, 1, Vo, D, 1.0f, p->b_O, D, p->W_U, Vo, 0.0f, ws->c0, Vo);
    for (int o = 0; o < Vo; o++)
        ws->c0[o] += p->b_U[o];
}

/* Logits [N, Vo] at the prediction positions.  For example b and head h,
 * ovk[j] = OV[t_j] + OV[V + j] is what key j would write into the logits,
 * so the head's share of the logits is pattern [n, Tk] times ovk [Tk, Vo]:
 * a product over the Tk = 2n + 1 keys a prediction can see instead of over
 * all VT table rows. */

/* Softmax of row[0..i] (the keys query i may see) in place; row[i+1..len-1]
 * (the causal mask) becomes zero. */
static void softmax_causal_row(float *row, int i, int len)
{
    ops_softmax(row, row, i + 1);
    memset(row + i + 1, 0, (size_t)(len - i - 1) * sizeof *row);
}

static void tables_forward(SlTrainer *t, const int *tokens, int B)
{
    const SlModelConfig *c = &t->model->cfg;
    SlTrainWorkspace *ws = t->ws;
    int H = c->n_heads, E = c->d_head, V = c->d_vocab, T = c->n_ctx, Vo = c->d_vocab_out;
    int n = c->list_len, P0 = sl_task_first_pred_pos(c), VT = V + T, Tk = T - 1;
    float inv_scale = 1.0f / sqrtf((float)E);
    tables_build(t);
    for (int b = 0; b < B; b++) {
        const int *tok = tokens + (size_t)b * T;
        float *lg = ws->logits + (size_t)b * n * Vo;   /* [n, Vo] */
        for (int ii = 0; ii < n; ii++) {
            int i = P0 + ii;
            const float *dt = ws->direct + (size_t)tok[i] * Vo, *dp = ws->direct + (size_t)(V + i) * Vo;
            for (int o = 0; o < Vo; o++)
                lg[(size_t)ii * Vo + o] = dt[o] + dp[o] + ws->c0[o];
        }
        for (int h = 0; h < H; h++) {
            size_t bh = (size_t)b * H + h;
            const float *OV = ws->OV + (size_t)h * VT * Vo;
            float *ovk = ws->ovk + bh * Tk * Vo;          /* [Tk, Vo] */
            for (int j = 0; j < Tk; j++) {
                const float *ot = OV + (size_t)tok[j] * Vo, *op = OV + (size_t)(V + j) * Vo;
                for (int o = 0; o < Vo; o++)
                    ovk[(size_t)j * Vo + o] = ot[o] + op[o];
            }
            const float *qk = ws->qk + (size_t)h * VT * VT;
            for (int ii = 0; ii < n; ii++) {
                int i = P0 + ii;
                const float *rT = qk + (size_t)tok[i] * VT, *rP = qk + (size_t)(V + i) * VT;
                float *pp = ws->pat + (bh * n + ii) * Tk;   /* [Tk] */
                for (int j = 0; j <= i; j++)
                    pp[j] = ((rT[tok[j]] + rP[tok[j]]) + (rT[V + j] + rP[V + j])) * inv_scale;
                softmax_causal_row(pp, i, Tk);
            }
            ops_gemm(false, false, n, Vo, Tk, 1.0f, ws->pat + bh * n * Tk, Tk, ovk, Vo, 1.0f, lg, Vo);
        }
    }
}

static void tables_backward(SlTrainer *t, const int *tokens, int B)
{
    const SlModelConfig *c = &t->model->cfg;
    const SlModelParams *p = &t->model->params;
    SlModelParams *g = &t->grads;
    SlTrainWorkspace *ws = t->ws;
    int H = c->n_heads, D = c->d_model, E = c->d_head, V = c->d_vocab, T = c->n_ctx, Vo = c->d_vocab_out;
    int n = c->list_len, P0 = sl_task_first_pred_pos(c), VT = V + T, Tk = T - 1;
    float inv_scale = 1.0f / sqrtf((float)E);
    const float *X = p->W_E;
    float *dX = g->W_E;   /* [VT, D]: dW_E then dW_pos, adjacent like W_E and W_pos */
    const float *dlog = ws->logits;

    memset(t->grad_memory, 0, t->model->num_params * sizeof(float));
    memset(ws->M, 0, (size_t)H * VT * VT * sizeof(float));
    memset(ws->S, 0, (size_t)VT * Vo * sizeof(float));
    memset(ws->R, 0, (size_t)H * VT * Vo * sizeof(float));
    for (int b = 0; b < B; b++) {
        const int *tok = tokens + (size_t)b * T;
        const float *dlb = dlog + (size_t)b * n * Vo;   /* [n, Vo] */
        for (int ii = 0; ii < n; ii++) {
            int i = P0 + ii;
            const float *drow = dlb + (size_t)ii * Vo;
            float *St = ws->S + (size_t)tok[i] * Vo, *Sp = ws->S + (size_t)(V + i) * Vo;
            for (int o = 0; o < Vo; o++) {
                St[o] += drow[o];
                Sp[o] += drow[o];
            }
        }
        for (int h = 0; h < H; h++) {
            size_t bh = (size_t)b * H + h;
            const float *P = ws->pat + bh * n * Tk;           /* [n, Tk] */
            const float *ovk = ws->ovk + bh * Tk * Vo;        /* [Tk, Vo] */
            /* Through the OV path: dP = dlogits ovk^T, dovk = P^T dlogits,
             * and dovk[j] belongs to both table rows that made ovk[j]. */
            ops_gemm(false, true, n, Tk, Vo, 1.0f, dlb, Vo, ovk, Vo, 0.0f, ws->dP, Tk);
            ops_gemm(true, false, Tk, Vo, n, 1.0f, P, Tk, dlb, Vo, 0.0f, ws->dovk, Vo);
            float *Rh = ws->R + (size_t)h * VT * Vo;
            for (int j = 0; j < Tk; j++) {
                const float *d = ws->dovk + (size_t)j * Vo;
                float *rt = Rh + (size_t)tok[j] * Vo, *rp = Rh + (size_t)(V + j) * Vo;
                for (int o = 0; o < Vo; o++) {
                    rt[o] += d[o];
                    rp[o] += d[o];
                }
            }
            /* softmax backward; the score of (i, j) is the sum of four
             * table entries, so its gradient goes to each of them. */
            float *Mh = ws->M + (size_t)h * VT * VT;
            for (int ii = 0; ii < n; ii++) {
                int i = P0 + ii;
                const float *pp = P + (size_t)ii * Tk, *dp = ws->dP + (size_t)ii * Tk;
                float dot = 0.0f;
                for (int j = 0; j <= i; j++)
                    dot += pp[j] * dp[j];
                float *mT = Mh + (size_t)tok[i] * VT, *mP = Mh + (size_t)(V + i) * VT;
                for (int j = 0; j <= i; j++) {
                    float ds = pp[j] * (dp[j] - dot) * inv_scale;
                    mT[tok[j]] += ds;
                    mT[V + j] += ds;
                    mP[tok[j]] += ds;
                    mP[V + j] += ds;
                }
            }
        }
    }
    for (int h = 0; h < H; h++) {
        size_t w = sl_model_head_qkv_offset(c, 0, h);
        size_t hte = (size_t)h * VT * E;
        const float *Mh = ws->M + (size_t)h * VT * VT;
        const float *Rh = ws->R + (size_t)h * VT * Vo;
        const float *WO = p->W_O + (size_t)h * E * D;
        float *RU = ws->RU + (size_t)h * VT * D;
        float *dQ = ws->dQt + hte, *dK = ws->dKt + hte, *dV = ws->dVt + hte;
        ops_gemm(false, false, VT, E, VT, 1.0f, Mh, VT, ws->tabK + hte, E, 0.0f, dQ, E);
        ops_gemm(true, false, VT, E, VT, 1.0f, Mh, VT, ws->tabQ + hte, E, 0.0f, dK, E);
        ops_gemm(false, true, VT, D, Vo, 1.0f, Rh, Vo, p->W_U, Vo, 0.0f, RU, D);
        ops_gemm(false, true, VT, E, D, 1.0f, RU, D, WO, D, 0.0f, dV, E);
        ops_gemm(true, false, E, D, VT, 1.0f, ws->tabV + hte, E, RU, D, 0.0f, g->W_O + (size_t)h * E * D, D);
        ops_gemm(true, false, D, E, VT, 1.0f, X, D, dQ, E, 0.0f, g->W_Q + w, E);
        ops_gemm(true, false, D, E, VT, 1.0f, X, D, dK, E, 0.0f, g->W_K + w, E);
        ops_gemm(true, false, D, E, VT, 1.0f, X, D, dV, E, 0.0f, g->W_V + w, E);
        for (int r = V; r < VT; r++)
            for (int e = 0; e < E; e++) {
                g->b_Q[(size_t)h * E + e] += dQ[(size_t)r * E + e];
                g->b_K[(size_t)h * E + e] += dK[(size_t)r * E + e];
                g->b_V[(size_t)h * E + e] += dV[(size_t)r * E + e];
            }
        ops_gemm(false, true, VT, D, E, 1.0f, dQ, E, p->W_Q + w, E, 1.0f, dX, D);
        ops_gemm(false, true, VT, D, E, 1.0f, dK, E, p->W_K + w, E, 1.0f, dX, D);
        ops_gemm(false, true, VT, D, E, 1.0f, dV, E, p->W_V + w, E, 1.0f, dX, D);
        ops_gemm(true, false, D, Vo, VT, 1.0f, ws->VO + (size_t)h * VT * D, D, Rh, Vo, 1.0f, g->W_U, Vo);
    }
    /* Each prediction row added its dlogits to exactly one position row of S. */
    memset(ws->colsum, 0, (size_t)Vo * sizeof(float));
    for (int r = V; r < VT; r++)
        for (int o = 0; o < Vo; o++)
            ws->colsum[o] += ws->S[(size_t)r * Vo + o];
    /* The direct path x W_U, and b_O, which reaches every prediction row. */
    ops_gemm(true, false, D, Vo, VT, 1.0f, X, D, ws->S, Vo, 1.0f, g->W_U, Vo);
    ops_gemm(false, true, VT, D, Vo, 1.0f, ws->S, Vo, p->W_U, Vo, 1.0f, dX, D);
    ops_gemm(true, false, D, Vo, 1, 1.0f, p->b_O, D, ws->colsum, Vo, 1.0f, g->W_U, Vo);
    ops_gemm(false, true, 1, D, Vo, 1.0f, ws->colsum, Vo, p->W_U, Vo, 0.0f, g->b_O, D);
    memcpy(g->b_U, ws->colsum, (size_t)Vo * sizeof(float));
}

/* ---- loss, backward, AdamW ----------------------------------------------- */

/* The logits [N, Vo] at the prediction positions: the tables path, or the
 * one forward with the last layer at the prediction rows only. */
static float *forward(SlTrainer *t, const int *tokens, int B, SlError *err)
{
    const SlModelConfig *c = &t->model->cfg;
    if (t->ws->tables) {
        tables_forward(t, tokens, B);
        return t->ws->logits;
    }
    int P0 = sl_task_first_pred_pos(c);
    if (forward_general_rows(t->model, tokens, c->n_ctx, B, P0, P0 + c->list_len, t->ws->cache, NULL, &t->ws->rows, err))
        return NULL;
    return t->ws->rows.logits;
}

/* Mean cross-entropy of the logits [N, Vo] against tokens n+2..2n+1; when
 * grad, the logits become dL/dlogits = (softmax - onehot) / N. */
static double loss_rows(const SlModelConfig *c, float *logits, const int *tokens, int B, bool grad)
{
    int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out, P0 = sl_task_first_pred_pos(c);
    size_t N = (size_t)B * n;
    float invN = (float)(1.0 / (double)N);
    double total = 0.0;
    for (size_t r = 0; r < N; r++) {
        size_t b = r / (size_t)n;
        int ii = (int)(r % (size_t)n);
        int label = tokens[b * T + P0 + 1 + ii];
        float *row = logits + r * Vo, mx = -INFINITY, picked = row[label];
        for (int o = 0; o < Vo; o++)
            if (row[o] > mx)
                mx = row[o];
        double sum = 0.0;
        for (int o = 0; o < Vo; o++) {
            float e = expf(row[o] - mx);
            sum += e;
            if (grad)
                row[o] = e;
        }
        total += (double)mx + log(sum) - (double)picked;
        if (grad) {
            float scale = (float)(1.0 / sum) * invN;
            for (int o = 0; o < Vo; o++)
                row[o] *= scale;
            row[label] -= invN;
        }
    }
    return total / (double)N;
}

int sl_trainer_backward(SlTrainer *t, const int *tokens, int B, double *loss, SlError *err)
{
    int rc;
    if (B < 1)
        return sl_error_set(err, SL_EINVAL, "empty batch");
    if ((rc = check_tokens(&t->model->cfg, tokens, B, err)) || (rc = ws_ensure(t, B, err)))
        return rc;
    float *logits = forward(t, tokens, B, err);
    if (!logits)
        return err && err->code ? err->code : SL_ENOMEM;
    double l = loss_rows(&t->model->cfg, logits, tokens, B, true);
    if (t->ws->tables) {
        tables_backward(t, tokens, B);
    } else {
        memset(t->grad_memory, 0, t->model->num_params * sizeof(float));
        general_backward(t->model, tokens, t->model->cfg.n_ctx, t->ws->cache, &t->ws->rows, logits, &t->grads,
                         &t->ws->grad);
    }
    t->last_loss = l;
    if (loss)
        *loss = l;
    return 0;
}

void sl_trainer_adamw(SlTrainer *t, double lr)
{
    const SlTrainOptions *o = &t->opt;
    SlModel *m = t->model;
    double weight_decay = sl_train_weight_decay_at(o, t->step);
    t->step++;
    /* The scalars as torch.optim.AdamW (1.13, single-tensor) forms them: in
     * double on the Python side, then applied to float32 tensors. */
    double bc1 = 1.0 - pow(o->beta1, (double)t->step), bc2 = 1.0 - pow(o->beta2, (double)t->step);
    const float decay = (float)(1.0 - lr * weight_decay);
    const float decay_qk = o->weight_decay_qk >= 0 ? (float)(1.0 - lr * o->weight_decay_qk) : decay;
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float one_b1 = (float)(1.0 - o->beta1), one_b2 = (float)(1.0 - o->beta2), eps = (float)o->eps;
    size_t off = 0;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        size_t count = m->param_sizes[i];
        if (!sl_model_param_is_bias(i) || o->train_biases) {
            const float d = i == SL_P_W_Q || i == SL_P_W_K ? decay_qk : decay;
            float *p = m->param_memory + off, *g = t->grad_memory + off;
            float *mm = t->m_memory + off, *vv = t->v_memory + off;
            for (size_t k = 0; k < count; k++) {
                p[k] *= d;                                      /* param.mul_(1 - lr * wd) */
                mm[k] = mm[k] * b1 + one_b1 * g[k];             /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
                vv[k] = vv[k] * b2 + one_b2 * g[k] * g[k];      /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
                float denom = sqrtf(vv[k]) / bc2_sqrt + eps;    /* (v.sqrt() / sqrt(bc2)).add_(eps) */
                p[k] = p[k] + -step_size * (mm[k] / denom);     /* param.addcdiv_(m, denom, value=-lr/bc1) */
            }
        }
        off += count;
    }
}

int sl_trainer_hard_lists(const SlTrainOptions *o, int B)
{
    return (int)lround(o->hard_share * B);
}

/* Hard lists come first: the loss is a mean over the batch, so where they
 * sit does not matter, and with no hard lists no extra number is drawn, so
 * a run without them sees the very lists of the versions before the knob. */
void sl_trainer_make_batch(SlTrainer *t, int *tokens, int B)
{
    const SlModelConfig *c = &t->model->cfg;
    int T = c->n_ctx, hard = sl_trainer_hard_lists(&t->opt, B), values[SL_MODEL_MAX_CTX];
    for (int b = 0; b < B; b++) {
        if (b < hard)
            sl_stress_list(c, HARD_KIND[sl_rng_below(&t->data_rng, HARD_KINDS)], &t->data_rng, values);
        else
            sl_task_random_list(c, &t->data_rng, values);
        sl_task_make_tokens(c, values, tokens + (size_t)b * T);
    }
}

int sl_trainer_step(SlTrainer *t, double *loss, SlError *err)
{
    int B = t->opt.batch;
    int rc = ws_ensure(t, B, err);
    if (rc)
        return rc;
    int *tokens = t->ws->tokens;
    sl_trainer_make_batch(t, tokens, B);
    double lr = sl_train_lr_at(&t->opt, t->step);
    if ((rc = sl_trainer_backward(t, tokens, B, loss, err)))
        return rc;
    sl_trainer_adamw(t, lr);
    return 0;
}

/* The held-out sequences through the one evaluation (decode.h): their values
 * are positions 1..n, and each sequence must be the one sl_task_make_tokens
 * makes of them.  The model's tables are rebuilt first, since training has
 * changed the weights they were made of; a model too large for tables is
 * evaluated on the general path. */
int sl_trainer_evaluate(SlTrainer *t, const int *tokens, long lists, SlTrainEval *out, SlError *err)
{
    SlModel *m = t->model;
    const SlModelConfig *c = &m->cfg;
    int n = c->list_len, T = c->n_ctx;
    memset(out, 0, sizeof *out);
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "no lists to evaluate");
    int *values = malloc((size_t)lists * n * sizeof *values);
    if (!values)
        return sl_error_set(err, SL_ENOMEM, "out of memory for %ld held-out lists", lists);
    int rc = check_tokens(c, tokens, lists > INT32_MAX ? INT32_MAX : (int)lists, err);
    for (long b = 0; b < lists && !rc; b++) {
        const int *seq = tokens + (size_t)b * T;
        int made[SL_MODEL_MAX_CTX];
        memcpy(values + (size_t)b * n, seq + 1, (size_t)n * sizeof *values);
        sl_task_make_tokens(c, seq + 1, made);
        if (memcmp(made, seq, (size_t)T * sizeof *made) != 0)
            rc = sl_error_set(err, SL_EINVAL, "held-out sequence %ld is not a list followed by its sorted values", b);
    }
    SlForwardPath path = SL_FORWARD_GENERAL;
    if (!rc && c->n_layers == 1 && sl_model_prepare(m, NULL) == 0)
        path = SL_FORWARD_AUTO;
    SlEvaluator *ev = rc ? NULL : sl_evaluator_new(m, NULL, path, err);
    if (!rc && !ev)
        rc = err ? err->code : SL_ENOMEM;
    if (!rc && !(rc = sl_evaluator_add(ev, values, lists, NULL, err)))
        sl_evaluator_result(ev, out);
    sl_evaluator_free(ev);
    free(values);
    return rc;
}
