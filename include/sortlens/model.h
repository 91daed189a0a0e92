/* model.h: the attention-only transformer (TransformerLens HookedTransformer,
 * attn_only=True, normalization_type=None) and its parameters.
 *
 * Shape letters, used in every comment of the project:
 *   B batch, T positions (<= n_ctx), D d_model, H heads, E d_head,
 *   V d_vocab (inputs: values, BOS, MID), Vo d_vocab_out (values), L layers.
 */
#ifndef SORTLENS_MODEL_H
#define SORTLENS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sortlens/error.h"
#include "sortlens/tensor.h"

/* Limits that keep allocation bounded for untrusted files. */
#define SL_MODEL_MAX_LAYERS 64
#define SL_MODEL_MAX_HEADS 64
#define SL_MODEL_MAX_DIM 4096     /* d_model, d_head */
#define SL_MODEL_MAX_VOCAB 65536
#define SL_MODEL_MAX_CTX 4096

typedef struct SlModelConfig {
    int n_layers;     /* L */
    int n_heads;      /* H */
    int d_model;      /* D */
    int d_head;       /* E */
    int n_ctx;        /* = 2 * list_len + 2 */
    int d_vocab;      /* V = d_vocab_out + 2 (BOS = d_vocab_out, MID = d_vocab_out + 1) */
    int d_vocab_out;  /* Vo = number of distinct list values (max_num) */
    int list_len;     /* n */
} SlModelConfig;

/* Fills the derived fields (n_ctx, d_vocab) from list_len and d_vocab_out. */
void sl_model_config_derive(SlModelConfig *cfg);
/* Checks ranges and the task's relations; the message names the numbers. */
int sl_model_config_validate(const SlModelConfig *cfg, SlError *err);

/* Parameter tensors, carved out of one block (llm.c style). Layer-stacked. */
enum {
    SL_P_W_E, SL_P_W_POS, SL_P_W_Q, SL_P_W_K, SL_P_W_V, SL_P_W_O,
    SL_P_B_Q, SL_P_B_K, SL_P_B_V, SL_P_B_O, SL_P_W_U, SL_P_B_U,
    SL_NUM_PARAM_TENSORS
};

typedef struct SlModelParams {
    float *W_E;    /* [V, D] */
    float *W_pos;  /* [n_ctx, D] */
    float *W_Q;    /* [L, H, D, E] */
    float *W_K;    /* [L, H, D, E] */
    float *W_V;    /* [L, H, D, E] */
    float *W_O;    /* [L, H, E, D] */
    float *b_Q;    /* [L, H, E] */
    float *b_K;    /* [L, H, E] */
    float *b_V;    /* [L, H, E] */
    float *b_O;    /* [L, D] */
    float *W_U;    /* [D, Vo] */
    float *b_U;    /* [Vo] */
} SlModelParams;

/* The param pointer of index i (P_*), its element count, and whether it is a
 * bias (frozen at zero by default when training, as the seed was trained). */
float *sl_model_params_get(SlModelParams *p, int i);
size_t sl_model_param_size(const SlModelConfig *cfg, int i);
bool sl_model_param_is_bias(int i);
/* TransformerLens name of param i in layer l (l ignored for non-layer params):
 * "embed.W_E", "blocks.0.attn.W_Q", "unembed.b_U", ... */
void sl_model_param_name(int i, int layer, char *buf, size_t bufsize);
bool sl_model_param_per_layer(int i);

struct SlCircuitTables; /* tables.h */

typedef struct SlModel {
    SlModelConfig cfg;
    SlModelParams params;
    float *param_memory;                     /* one block holding every parameter */
    size_t param_sizes[SL_NUM_PARAM_TENSORS];   /* elements per tensor (all layers) */
    size_t num_params;
    bool has_bias[SL_NUM_PARAM_TENSORS];        /* the file held this bias (else zero) */
    SlTensorSet *meta;                         /* __metadata__ carried from the file; tensors unused */
    char format[16];                         /* "pytorch", "safetensors", "new" */
    /* Per-model tables for the one-layer fast path and the circuits
     * (layer 0, every head); rebuilt by sl_model_prepare(). */
    struct SlCircuitTables *tables;
} SlModel;

/* A model with zeroed parameters. */
SlModel *sl_model_new(const SlModelConfig *cfg, SlError *err);
void sl_model_free(SlModel *m);   /* accepts NULL */

/* Infers the config from tensor shapes, cross-checks every tensor, copies the
 * weights (missing biases are zero; buffers blocks.L.attn.mask / IGNORE are
 * ignored; unknown names are an error), refuses NaN/Inf, and prepares tables.
 * label names the source in messages. */
SlModel *sl_model_from_tensors(const SlTensorSet *ts, const char *label, SlError *err);
/* TransformerLens-named tensors (per-layer split) with the config in metadata
 * (keys: n_layers n_heads d_model d_head n_ctx d_vocab d_vocab_out list_len
 * format=sortlens) plus any extra metadata in m->meta. */
SlTensorSet *sl_model_to_tensors(const SlModel *m, SlError *err);

/* Recomputes derived tables after the parameters changed. */
int sl_model_prepare(SlModel *m, SlError *err);

/* Pointers into the layer-stacked params for layer l, head h. */
static inline size_t sl_model_head_qkv_offset(const SlModelConfig *c, int l, int h) {
    return ((size_t)l * c->n_heads + h) * (size_t)c->d_model * c->d_head;
}

#endif
