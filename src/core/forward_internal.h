/* forward_internal.h: what the parts of the forward pass share with each
 * other and with the decoder and trainer, and nobody else needs: the
 * scratch space of a cache, the hook table's accessors, the interventions'
 * tests, the attention row, the general path (whole batch, and one new
 * position at a time with the keys and values kept), and the one-layer
 * fast path one query row at a time (greedy decoding and evaluation only
 * need the logits of a few rows, and reuse the key side of the rows
 * before them). */
#ifndef SORTLENS_FORWARD_INTERNAL_H
#define SORTLENS_FORWARD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ops.h"
#include "sortlens/forward.h"
#include "sortlens/hooks.h"
#include "sortlens/tables.h"

static inline size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* Makes cache->scratch hold at least n floats (grows, never shrinks; the
 * contents are not kept).  The hot paths reserve the same size every call,
 * so only the first call allocates. */
int forward_scratch_reserve(SlActCache *c, size_t n, SlError *err);

/* Resolves SL_FORWARD_AUTO and checks that the path fits the model; returns
 * the path or a negative SL_E* code. */
int forward_resolve_path(const SlModel *m, SlForwardPath path, SlError *err);

/* Checks the cache was made for this model's shapes and has room for
 * B sequences of T tokens, and that every token is below d_vocab. */
int forward_check_call(const SlModel *m, const int *tokens, int B, int T, const SlActCache *c, SlError *err);

/* ---- the hook table (cache.c) ---- */

/* The shape of hook `id`'s activation for the cache's current B and T, in
 * TL's order (s[ndim..4) zero); returns ndim. */
int hook_shape(SlHookId id, const SlActCache *c, int64_t s[4]);
/* Layer `layer`'s array of hook `id` in the cache, NULL when not cached. */
float *hook_cached(const SlActCache *c, SlHookId id, int layer);
/* 0 when c holds a forward of a model with m's shapes, else SL_EINVAL with
 * the reason (a cache indexed with another model's sizes reads garbage). */
int cache_check_model(const SlModel *m, const SlActCache *c, SlError *err);
/* cache_check_model, and sequence b, position q inside the forward it holds. */
int cache_check_row(const SlModel *m, const SlActCache *c, int b, int q, SlError *err);

/* ---- interventions (intervention.c) ---- */

/* iv, or an intervention that does nothing when iv is NULL */
const SlIntervention *iv_or_none(const SlIntervention *iv);

/* Does the intervention touch layer l, head h? */
static inline bool iv_on(const SlIntervention *iv, int l, int h)
{
    return iv->layer == l && (iv->head < 0 || iv->head == h);
}

/* Is hook_z of (layer l, head h) at query q ablated? */
static inline bool iv_ablated(const SlIntervention *iv, int l, int h, int q)
{
    return iv->ablate_position == q && iv->ablate_kind != SL_ABLATE_NONE && iv_on(iv, l, h);
}

/* ---- one attention row, both paths ---- */

/* s[0..q] holds a query row's scaled scores and mx their largest: masks
 * keys after q up to len with -inf, and a blocked key; returns the new
 * largest.  on: the intervention touches this head. */
OPS_INLINE float attention_mask(float *s, int q, int len, float mx, bool on, const SlIntervention *iv)
{
    for (int k = q + 1; k < len; k++)
        s[k] = -INFINITY;
    if (on && iv->block_source >= 0 && iv->block_source <= q) {
        s[iv->block_source] = -INFINITY;
        mx = ops_row_max(s, q + 1);
    }
    return mx;
}

/* The pattern row pr[0..len) of masked scores s (largest mx): the softmax
 * of keys 0..q, zeros after; a row with no key left gets zero weights (its
 * z is then 0); a forced row becomes one-hot. */
OPS_INLINE void attention_weights(const float *s, float *pr, int q, int len, float mx, bool on, const SlIntervention *iv)
{
    ops_softmax_max(s, mx, pr, q + 1);
    for (int k = q + 1; k < len; k++)
        pr[k] = 0.0f;
    if (on && iv->force_query == q) {
        memset(pr, 0, (size_t)len * sizeof *pr);
        pr[iv->force_source] = 1.0f;   /* force_source <= force_query, validated */
    }
}

/* Both, from scaled scores s[0..q] whose largest is mx. */
OPS_INLINE void attention_finish(float *s, float *pr, int q, int len, float mx, bool on, const SlIntervention *iv)
{
    attention_weights(s, pr, q, len, attention_mask(s, q, len, mx, on, iv), on, iv);
}

/* ---- the general path (forward_general.c) ---- */

/* The whole cache for B sequences of T tokens; hooks may be NULL. */
int forward_general(const SlModel *m, const int *tokens, int B, int T, SlActCache *c, const SlIntervention *iv,
                    const SlHooks *hooks, SlError *err);
/* Checks hook points, layers and functions against the model. */
int forward_hooks_validate(const SlHooks *hooks, const SlModelConfig *cfg, SlError *err);

/* What a forward of the last layer at query rows q0..T-1 only leaves
 * (forward_general_rows): what the loss, evaluation and the backward pass
 * need, compact (N = B n rows, row b n + i for query q0 + i of sequence b),
 * in the cache's scratch until its next forward.  Every layer below the
 * last is in the cache in full (stride T); of the last one the cache holds
 * k and v of every row, and the scores and pattern of the query rows. */
typedef struct GeneralRows {
    int B, T, q0, n;   /* positions 0..T-1 were run; n = T - q0 query rows per sequence */
    float *x;          /* [N, D]     the last layer's input at the rows */
    float *q;          /* [N, H, E]  its queries */
    float *z;          /* [N, H, E] */
    float *out;        /* [N, D]     the final residual stream */
    float *direct;     /* [N, D]     workspace (the stream without the direct path) */
    float *logits;     /* [N, Vo] */
} GeneralRows;

/* The forward of positions 0..q1-1 of B sequences (token rows ldt apart,
 * tokens checked), with the last layer and the logits at rows q0..q1-1
 * only; no hooks. */
int forward_general_rows(const SlModel *m, const int *tokens, int ldt, int B, int q0, int q1, SlActCache *c,
                         const SlIntervention *iv, GeneralRows *rows, SlError *err);

/* W [H, D, E] -> Wp [D, H E] (rows ldp apart): the heads side by side. */
void general_pack_heads(float *Wp, int ldp, const float *W, int H, int D, int E);
/* Layer l's W_Q, W_K, W_V packed as wp [D, 3 H E]. */
void general_pack_qkv(const SlModel *m, int l, float *wp);
/* Layer 0's q, k, v of each token and each position: tab [V + T, 3 H E]
 * = [W_E; W_pos[0..T)] wp, with b_Q, b_K, b_V on the position rows; q at
 * (b, t) is the sum of the rows of t's token and of t. */
void general_tables0(const SlModel *m, int T, const float *wp, float *tab);

/* The backward pass of forward_general_rows (backward_general.c), without
 * interventions: workspace for batches of up to cap_B sequences. */
typedef struct GeneralGrad {
    int cap_B;
    float *memory;
    float *dx;     /* [B T, D]        d resid, layer by layer down */
    float *dqkv;   /* [B T, 3 H E]    dq, dk, dv side by side */
    float *dz;     /* [B T, H E] */
    float *dtab;   /* [V + n_ctx, 3 H E] layer 0's gradients by token row and position row */
    float *wp;     /* [D, 3 H E]      packed W_Q, W_K, W_V */
    float *dwp;    /* [D, 3 H E]      their gradient, packed */
    float *dxq;    /* [N, D]          d out, then d x at the query rows */
    float *dzq;    /* [N, H E] */
    float *dqq;    /* [N, H E] */
    float *dp;     /* [n_ctx]         one row of d pattern */
} GeneralGrad;
int general_grad_init(GeneralGrad *w, const SlModelConfig *cfg, int cap_B, SlError *err);
void general_grad_free(GeneralGrad *w);
/* dlogits [N, Vo] (the loss's gradient with respect to rows->logits) down
 * to every parameter: g is added to (the caller zeroes it).  The cache
 * and rows are those of the forward_general_rows that made the logits. */
void general_backward(const SlModel *m, const int *tokens, int ldt, const SlActCache *c, const GeneralRows *rows,
                      const float *dlogits, SlModelParams *g, GeneralGrad *w);

/* Greedy decoding on the general path: after a forward of B sequences
 * (with the intervention iv, NULL for none) whose cache holds every
 * layer's keys and values at stride Tc positions, general_decode_begin
 * keeps those of positions 0..P-1; each
 * general_decode_step runs the one new position pos of tokens [B, n_ctx]
 * through the layers for the lists active[0..nb) (NULL: all B), attending
 * to their kept keys and values (and keeping its own at pos), and writes
 * the logits [nb, Vo], row r for list active[r].  A list may join late:
 * the keys and values it did not compute are the forward's.  A cache with
 * room for position n_ctx - 2 (Tc >= n_ctx - 1, P = Tc) is decoded in
 * place: its keys and values change.  Every step applies iv as the
 * whole forward does: each intervention acts on positions, and what a
 * position computes depends only on the tokens up to it, so the kept keys
 * and values are those a forward of the longer prefix would make. */
typedef struct GeneralDecode {
    const SlModel *m;
    const SlIntervention *iv;   /* never NULL (iv_or_none) */
    int B;
    float *keys, *vals;   /* [L, B, Tk, H, E]: the cache's own when it had room, else copies */
    int Tk;               /* their stride in positions */
    float *wp;            /* [L, D, 3 H E] W_Q, W_K, W_V side by side, heads side by side in each */
    float *tab;           /* [V + n_ctx, 3 H E] layer 0's q, k, v of each token and position (general_tables0) */
    float *x;             /* [B, D] the new position's stream (active rows) */
    float *qkv;           /* [B, 3 H E] the new position's q, k, v at one layer */
    float *zrow;          /* [B, H E] */
    float *s;             /* [n_ctx] one score row, then its pattern */
    int *all;             /* [B] 0..B-1 */
    float *memory;
} GeneralDecode;
int general_decode_begin(GeneralDecode *d, const SlModel *m, int B, int P, int Tc, SlActCache *c,
                         const SlIntervention *iv, SlError *err);
void general_decode_step(GeneralDecode *d, const int *tokens, int pos, const int *active, int nb, float *logits);
void general_decode_end(GeneralDecode *d);

/* The one-layer path's row loops in one variant (kernels.c). */
typedef struct TablesRun TablesRun;
typedef struct TablesKernels {
    const char *name;   /* "avx2", "portable" */
    /* the logits of one query row (tables_run_query) */
    void (*run_query)(TablesRun *r, const int *tokens, int q, float *logits_row);
    /* the whole cache of sequence b (T tokens) */
    void (*sequence)(TablesRun *r, const int *tokens, int b, int T, SlActCache *c);
    /* a logits row's argmax, and its largest entry and sum of exp(x - max)
     * (eval's rows: the log-sum-exp is *mx + log(*sum)) */
    int (*row_argmax_expsum)(const float *x, int n, float *mx, float *sum);
} TablesKernels;
/* The variant this process runs, chosen the first time (kernels.c). */
const TablesKernels *tables_kernels(void);

/* The one-layer fast path, one query row at a time.  A TablesRun lives in a
 * cache's scratch; tables_run_begin() lays it out for sequences of up to
 * T tokens and computes what the intervention needs once per call. */
struct TablesRun {
    const SlModel *m;
    const SlCircuitTables *tb;
    const SlIntervention *iv;   /* never NULL (points at a "none" one) */
    int H, T, D, E, V, Vo, Tn;   /* Tn = n_ctx, the tables' position size */
    float div;                /* sqrt(E): scores are q.k / sqrt(E), as TL */
    const TablesKernels *k;   /* tables_kernels() */
    int keys_ready;           /* ov_rows (and vo_rows) hold keys 0..keys_ready-1 */
    const int *keys_of;       /* the token sequence keys_ready refers to */
    float *vo_rows;           /* [H, T, D]  vo_tok[t_k] + vo_pos[k] */
    float *ov_rows;           /* [H, T, Vo] ov_tok[t_k] + ov_pos[k] */
    float *bias_out;          /* [Vo]       b_O W_U + b_U (drop_direct) */
    float *abl_vo;            /* [H, D]     mean_z[h] W_O[h] (SL_ABLATE_MEAN) */
    float *abl_ov;            /* [H, Vo]    mean_z[h] W_O[h] W_U */
    float *row_scores;        /* [H, T]     one query row */
    float *row_pattern;       /* [H, T] */
};

/* The whole cache from the tables (forward_tables.c). */
int forward_tables(const SlModel *m, const int *tokens, int B, int T, SlActCache *c, const SlIntervention *iv, SlError *err);

int tables_run_begin(TablesRun *r, const SlModel *m, int T, SlActCache *c, const SlIntervention *iv, SlError *err);
/* Starts a new token sequence: no key rows are reused from the previous one. */
static inline void tables_run_reset(TablesRun *r) { r->keys_ready = 0; r->keys_of = NULL; }
/* Logits [Vo] of query position q of the sequence tokens[0..q]; the key
 * rows of positions already seen in this sequence are reused, so calling it
 * for q = n+1, n+2, ... while appending tokens costs one new key each. */
static inline void tables_run_query(TablesRun *r, const int *tokens, int q, float *logits_row)
{
    r->k->run_query(r, tokens, q, logits_row);
}

/* The logits of query positions q0..q1-1 only (other cache fields are left
 * as they were), for B sequences of T tokens: evaluation needs no more. */
int forward_logits_rows(const SlModel *m, const int *tokens, int B, int T, int q0, int q1,
                        SlActCache *c, const SlIntervention *iv, SlForwardPath path, SlError *err);

/* Sum over B sequences of the cross-entropy of the logits [B, T, Vo] at the
 * prediction positions against the next token, in double (decode.c). */
double decode_loss_sum(const SlModelConfig *c, const float *logits, const int *tokens, int B);
/* Checks every value of B lists values [B, n] against the vocabulary
 * (decode.c): SL_EINVAL naming the first list and value outside it. */
int decode_check_values(const SlModel *m, const int *values, long B, SlError *err);

/* One head's projection table (tables.h): out [rows, E] = X [rows, D] W [D, E],
 * with bias [E] added to rows bias_from.. (the position rows, where each
 * position occurs once per query).  The circuit tables and the trainer's
 * per-step tables are built with it. */
void tables_project(float *out, const float *X, int rows, const float *W, int D, int E, const float *bias, int bias_from);

#endif
