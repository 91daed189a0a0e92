/* circuits.h: the published analysis of the sort model, computed for any
 * loaded model: full QK and OV circuits as labelled matrices, the split of
 * one example's attention scores into the four QK terms, direct logit
 * attribution, the numbers that state the interpretation, and an ablation
 * table run through the same forward path as everything else.
 *
 * Circuits (unscaled, as the notebook plots them; rows read from, columns
 * read into):
 *   ov              W_E   W_V W_O W_U          [V, Vo]  token -> value logit
 *   ov-pos          W_pos W_V W_O W_U          [T, Vo]  position -> value logit
 *   qk-token-token  W_E   W_Q W_K^T W_E^T      [V, V]   query token, key token
 *   qk-token-pos    W_E   W_Q W_K^T W_pos^T    [V, T]   query token, key position
 *   qk-pos-token    W_pos W_Q W_K^T W_E^T      [T, V]   query position, key token
 *   qk-pos-pos      W_pos W_Q W_K^T W_pos^T    [T, T]   query position, key position
 * Biases (b_Q, b_K, b_V) are folded into the position side (tables.h), so
 * for models without biases, like the seed model, they are exactly the
 * notebook's products.
 *
 * For layer 0 these are exact: the residual stream there is W_E[t] + W_pos[p].
 * For a layer l > 0 of a multi-layer model, sl_circuit_get() computes the same
 * products with layer l's weights: the "direct" virtual circuit, i.e. what
 * the head would do if it read the embeddings straight, ignoring what the
 * earlier layers wrote into the residual stream.
 *
 * Labels: tokens "0".."Vo-1", "BOS", "MID"; positions "p0".."p(n_ctx-1)"
 * (p0 is BOS, p1..pn the unsorted list, p(n+1) MID, then the sorted list).
 */
#ifndef SORTLENS_CIRCUITS_H
#define SORTLENS_CIRCUITS_H

#include <stdbool.h>
#include <stdint.h>

#include "sortlens/decode.h"
#include "sortlens/forward.h"
#include "sortlens/model.h"

typedef enum {
    SL_CIRCUIT_OV,
    SL_CIRCUIT_OV_POS,
    SL_CIRCUIT_QK_TOKEN_TOKEN,
    SL_CIRCUIT_QK_TOKEN_POS,
    SL_CIRCUIT_QK_POS_TOKEN,
    SL_CIRCUIT_QK_POS_POS,
    SL_CIRCUIT_COUNT
} SlCircuitKind;

/* "ov", "ov-pos", "qk-token-token", ... */
const char *sl_circuit_kind_name(SlCircuitKind k);
/* 0, or SL_EINVAL with a message listing the names. */
int sl_circuit_kind_from_name(const char *name, SlCircuitKind *out, SlError *err);

#define SL_CIRCUIT_LABEL_MAX 16

/* A matrix with a name and a label on every row and column. */
typedef struct SlNamedMatrix {
    char name[32];
    int rows, cols;
    char (*row_labels)[SL_CIRCUIT_LABEL_MAX];   /* [rows] */
    char (*col_labels)[SL_CIRCUIT_LABEL_MAX];   /* [cols] */
    float *data;                             /* [rows, cols] row-major */
} SlNamedMatrix;

SlNamedMatrix *sl_named_matrix_new(const char *name, int rows, int cols, SlError *err);
void sl_named_matrix_free(SlNamedMatrix *nm);   /* accepts NULL */

/* Labels as described above, into buf (at least SL_CIRCUIT_LABEL_MAX bytes). */
void sl_circuit_token_label(const SlModelConfig *c, int token, char *buf);
void sl_circuit_position_label(const SlModelConfig *c, int pos, char *buf);

/* The full circuit `kind` of layer `layer`, head `head`.  Layer 0 comes from
 * m->tables when they are built; other layers (and layer 0 without tables)
 * are multiplied out with BLAS.  NULL and SL_EINVAL for a layer or head out
 * of range. */
SlNamedMatrix *sl_circuit_get_kind(const SlModel *m, SlCircuitKind kind, int layer, int head, SlError *err);
/* The four QK terms as one matrix, as the notebook's combined picture:
 *   [W_E; W_pos] W_Q W_K^T [W_E; W_pos]^T     [V + T, V + T]
 * rows the query's token (0..V-1) then its position (V..V+T-1), columns the
 * key's likewise; the blocks are token-token, token-pos (top), pos-token,
 * pos-pos (bottom).  Labels as above. */
SlNamedMatrix *sl_circuit_qk_combined(const SlModel *m, int layer, int head, SlError *err);
/* Same, by name ("ov", "qk-pos-token", ...). */
SlNamedMatrix *sl_circuit_get(const SlModel *m, const char *name, int layer, int head, SlError *err);

/* ---- one example ---------------------------------------------------------- */

enum { SL_SCORE_TERM_TOK_TOK, SL_SCORE_TERM_TOK_POS, SL_SCORE_TERM_POS_TOK, SL_SCORE_TERM_POS_POS, SL_SCORE_TERMS };

/* The attention score of every (query, key) of one sequence in layer 0,
 * head `head`, split into the four QK terms (unscaled):
 *   terms[SCORE_TERM_*, q, k]   [4, T, T]
 * Their sum divided by sqrt(d_head) is the score (hook_attn_scores); keys
 * after the query (masked) hold 0.  Needs m->tables (sl_model_prepare). */
int sl_circuit_score_terms(const SlModel *m, int head, const int *tokens /* [T] */, int T,
                        float *terms /* [4, T, T] */, SlError *err);

/* Direct logit attribution of the logit of `value` at query position q of
 * sequence b of the last forward in `cache` (run without intervention, or
 * with one that changes only the pattern):
 *   src[l, h, k] = pattern[l, b, h, q, k] * (v[l, b, k, h] W_O[l, h] W_U[:, value])
 *   *direct      = (hook_embed + hook_pos_embed)[b, q] W_U[:, value]
 *                  + sum_l b_O[l] W_U[:, value] + b_U[value]
 * so that  sum src + *direct = logits[b, q, value].  In layer 0 of a model
 * src[0, h, k] = pattern * (ov[t_k, value] + ov_pos[k, value]) and *direct =
 * direct_tok[t_q] + direct_pos[q] (tables.h).  The sum is exact for any
 * depth, since the last residual stream is the embeddings plus every
 * layer's output; in a deeper model src of a later layer's head counts what
 * it moves from source k, including what earlier heads had written there. */
int sl_circuit_dla(const SlModel *m, const SlActCache *cache, int b, int q, int value,
                float *src /* [L, H, T] */, float *direct, SlError *err);

/* ---- the numbers that state the interpretation ----------------------------- */

/* Rows 0..Vo-1 (the values) of the OV token circuit of (layer, head) whose
 * argmax over the Vo value columns is on the diagonal: the head copies the
 * value it attends to.  *hits of *total (= Vo). */
int sl_circuit_ov_copy_count(const SlModel *m, int layer, int head, int *hits, int *total, SlError *err);

/* The notebook's count: rows 0..Vo-1 of the token-token QK circuit,
 * restricted to the Vo value columns (BOS and MID left out), whose argmax is
 * the row's value + 1: a query holding value x attends most to the key
 * value x + 1.  The denominator is Vo: the last row (Vo-1), whose x + 1 is
 * not a value column, counts as a miss by construction, as in the notebook
 * (on the seed model 31 of 50, 0.62). */
int sl_circuit_qk_next_token_count(const SlModel *m, int layer, int head, int *hits, int *total, SlError *err);

/* Attention statistics at the n prediction positions (MID .. b_{n-1}) of
 * `lists` random lists from `seed`, teacher-forced, per layer and head
 * (index l * H + h): */
typedef struct SlAttentionStats {
    long queries;              /* prediction positions seen (lists * n) */
    double top_source_correct; /* the most-attended key (any) holds the correct next value */
    double top_input_correct;  /* the most-attended of the inputs a_1..a_n holds it */
    double correct_mass;       /* mean attention on the inputs that hold it */
    double mass_after_mid;     /* mean attention on keys after MID (the sorted prefix) */
} SlAttentionStats;
int sl_circuit_attention_stats(const SlModel *m, long lists, uint64_t seed,
                            SlAttentionStats *stats /* [L * H] */, SlError *err);
/* Same over given teacher-forced sequences tokens [B, n_ctx]
 * ([BOS, a_1..a_n, MID, b_1..b_n], as sl_task_make_tokens makes them). */
int sl_circuit_attention_stats_tokens(const SlModel *m, const int *tokens, long B,
                                   SlAttentionStats *stats /* [L * H] */, SlError *err);

/* Mean hook_z of `layer` per head over every position of `lists` random
 * lists (teacher-forced), for mean ablation (SlIntervention.ablate_mean_z). */
int sl_circuit_mean_z(const SlModel *m, int layer, long lists, uint64_t seed,
                   float *mean_z /* [H, E] */, SlError *err);

/* The ablation table: sl_decode_eval of the same lists under each intervention
 * (layer 0, every head). */
enum {
    SL_ABLATION_CLEAN,
    SL_ABLATION_QK_TOK_TOK,
    SL_ABLATION_QK_TOK_POS,
    SL_ABLATION_QK_POS_TOK,
    SL_ABLATION_QK_POS_POS,
    SL_ABLATION_OV_NO_POS,
    SL_ABLATION_NO_DIRECT,
    SL_ABLATION_COUNT
};
typedef struct SlAblationRow {
    const char *name;         /* "clean", "no-qk-token-token", ... (JSON key) */
    const char *description;  /* what was removed, for the report */
    SlIntervention iv;
    SlEvalResult res;
} SlAblationRow;
/* Fills the intervention of ablation `which` (ABLATION_*). */
void sl_circuit_ablation_intervention(int which, SlIntervention *iv);
int sl_circuit_ablation_table(const SlModel *m, long lists, uint64_t seed,
                           SlAblationRow rows[SL_ABLATION_COUNT], SlProgressFn progress, void *progress_ctx,
                           SlError *err);

#endif
