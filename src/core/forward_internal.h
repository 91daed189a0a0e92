/* forward_internal.h: what decode.c shares with forward.c and nobody else
 * needs: the scratch space of a cache, and the one-layer fast path one query
 * row at a time (greedy decoding and evaluation only need the logits of a
 * few rows, and reuse the key side of the rows before them). */
#ifndef SORTLENS_FORWARD_INTERNAL_H
#define SORTLENS_FORWARD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sortlens/forward.h"
#include "sortlens/tables.h"

/* Makes cache->scratch hold at least n floats (grows, never shrinks; the
 * contents are not kept).  The hot paths reserve the same size every call,
 * so only the first call allocates. */
int forward_scratch_reserve(ActCache *c, size_t n, SlError *err);

/* Resolves FORWARD_AUTO and checks that the path fits the model; returns
 * the path or a negative SL_E* code. */
int forward_resolve_path(const Model *m, ForwardPath path, SlError *err);

/* Checks the cache was made for this model's shapes and has room for
 * B sequences of T tokens, and that every token is below d_vocab. */
int forward_check_call(const Model *m, const int *tokens, int B, int T, const ActCache *c, SlError *err);

/* Softmax of s[0..n) into p[0..n) as the forward pass computes it (an
 * all -inf row gives zeros; negligible weights are flushed to zero). */
void forward_softmax(const float *restrict s, float *restrict p, int n);

/* Index of the largest of x[0..n); the first one on a tie, as torch.argmax. */
int forward_argmax(const float *x, int n);

/* The one-layer fast path, one query row at a time.  A TablesRun lives in a
 * cache's scratch; tables_run_begin() lays it out for sequences of up to
 * T tokens and computes what the intervention needs once per call. */
typedef struct TablesRun {
    const Model *m;
    const CircuitTables *tb;
    const Intervention *iv;   /* never NULL (points at a "none" one) */
    int H, T, D, E, V, Vo, Tn;   /* Tn = n_ctx, the tables' position size */
    float div;                /* sqrt(E): scores are q.k / sqrt(E), as TL */
    bool wide;                /* the CPU has AVX-512: rows in vectors of 16 */
    bool fused;               /* wide, and shapes combine3_wide takes (E, D % 128 == 0, 16 <= Vo <= 64) */
    int keys_ready;           /* ov_rows (and vo_rows) hold keys 0..keys_ready-1 */
    const int *keys_of;       /* the token sequence keys_ready refers to */
    float *vo_rows;           /* [H, T, D]  vo_tok[t_k] + vo_pos[k] */
    float *ov_rows;           /* [H, T, Vo] ov_tok[t_k] + ov_pos[k] */
    float *bias_out;          /* [Vo]       b_O W_U + b_U (drop_direct) */
    float *abl_vo;            /* [H, D]     mean_z[h] W_O[h] (ABLATE_MEAN) */
    float *abl_ov;            /* [H, Vo]    mean_z[h] W_O[h] W_U */
    float *row_scores;        /* [H, T]     one query row */
    float *row_pattern;       /* [H, T] */
} TablesRun;

int tables_run_begin(TablesRun *r, const Model *m, int T, ActCache *c, const Intervention *iv, SlError *err);
/* Starts a new token sequence: no key rows are reused from the previous one. */
static inline void tables_run_reset(TablesRun *r) { r->keys_ready = 0; r->keys_of = NULL; }
/* Forgets the key rows of positions k and later (a sequence that shares
 * only its first k tokens with the one before). */
static inline void tables_run_rewind(TablesRun *r, int k)
{
    if (r->keys_ready > k)
        r->keys_ready = k;
}
/* Logits [Vo] of query position q of the sequence tokens[0..q]; the key
 * rows of positions already seen in this sequence are reused, so calling it
 * for q = n+1, n+2, ... while appending tokens costs one new key each. */
void tables_run_query(TablesRun *r, const int *tokens, int q, float *logits_row);

/* The logits of query positions q0..q1-1 only (other cache fields are left
 * as they were), for B sequences of T tokens: evaluation needs no more. */
int forward_logits_rows(const Model *m, const int *tokens, int B, int T, int q0, int q1,
                        ActCache *c, const Intervention *iv, ForwardPath path, SlError *err);

#endif
