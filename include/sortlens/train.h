/* train.h: the tutorial's loss, its gradient (backward pass), AdamW exactly as
 * torch.optim.AdamW, TransformerLens initialisation, and a seeded training
 * loop for the attention-only sort model.
 *
 * Two implementations of the forward + backward pass compute the same thing:
 *  - SL_FORWARD_TABLES (one-layer models): the inputs are one-hot, so every
 *    product with the embedded inputs collapses into products with the small
 *    stacked table X = [W_E; W_pos] [(V + T), D], and the loss needs queries
 *    and logits only at the n prediction positions.  The scores become sums
 *    of four entries of a per-step table (X W_Q)(X W_K)^T, each list's logits
 *    its pattern [n, 2n+1] times the rows of X W_V W_O W_U its keys select,
 *    and every weight gradient a product of a small table-shaped gradient
 *    (scatter-added by token and by position) with X.
 *  - SL_FORWARD_GENERAL (any model): the general path's forward
 *    (forward_general.c) with the last layer at the prediction positions
 *    only, and its backward beside it (backward_general.c).
 * Both are checked against PyTorch's gradients and finite differences.
 */
#ifndef SORTLENS_TRAIN_H
#define SORTLENS_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "sortlens/decode.h"
#include "sortlens/forward.h"
#include "sortlens/model.h"
#include "sortlens/task.h"

typedef enum { SL_TRAIN_SCHEDULE_CONSTANT, SL_TRAIN_SCHEDULE_COSINE } SlTrainSchedule;

typedef struct SlTrainOptions {
    long steps;              /* AdamW updates in the whole run (10000); sets the cosine length */
    int batch;               /* fresh random lists per step (256) */
    double lr;               /* peak learning rate (1e-3) */
    double weight_decay;     /* decoupled, torch.optim.AdamW's (0.01) */
    double weight_decay_end; /* < 0: weight_decay throughout (the default); else the
                                weight decay moves linearly from weight_decay at the
                                first update to this at the last (sl_train_weight_decay_at) */
    double weight_decay_qk;  /* < 0: as every other weight (the default); else the weight
                                decay of W_Q and W_K alone, constant: it bounds how sharp
                                the attention can get apart from what the other weights,
                                the value path among them, are held to */
    double beta1, beta2;     /* (0.9, 0.98) */
    double eps;              /* 1e-8, added to sqrt(v_hat) as PyTorch does */
    double hard_share;       /* 0..1: this share of each batch's lists (rounded to a whole
                                number of lists) is drawn from the stress kinds a sorting
                                model gets wrong most, triple, cluster and gap (stress.h),
                                each list's kind uniform among the three; the rest are
                                uniform as ever (0: every list uniform, the stream of
                                earlier versions) */
    SlTrainSchedule schedule;  /* constant, or cosine from lr to 0 after the warm-up */
    long warmup;             /* linear warm-up from lr/warmup to lr over this many steps (0) */
    uint64_t seed;           /* initialisation and data */
    bool train_biases;       /* false: biases are neither updated nor decayed (the seed's recipe) */
    SlForwardPath path;      /* the forward's paths: AUTO is TABLES for one layer, else GENERAL */
} SlTrainOptions;

/* The seed's recipe: the defaults listed above, seed 0. */
void sl_train_options_default(SlTrainOptions *o);

/* Learning rate of update number `step` (0-based) under o's schedule. */
double sl_train_lr_at(const SlTrainOptions *o, long step);
/* Weight decay of update number `step` (0-based): o->weight_decay, or with
 * o->weight_decay_end >= 0 the line from weight_decay (step 0) to
 * weight_decay_end (step steps - 1).  AdamW multiplies it by the step's
 * learning rate, as torch.optim.AdamW does with a per-step weight_decay. */
double sl_train_weight_decay_at(const SlTrainOptions *o, long step);

/* TransformerLens's initialisation (init_mode "gpt2"): every W_* normal with
 * std 0.8 / sqrt(d_model), every bias zero; drawn from SlRng(seed) in the
 * order of the P_* indices, layer by layer. */
void sl_train_init_params(SlModel *m, uint64_t seed);

typedef struct SlTrainWorkspace SlTrainWorkspace;   /* private */

typedef struct SlTrainer {
    SlModel *model;            /* borrowed; its parameters are updated in place */
    SlTrainOptions opt;
    /* One block (llm.c): gradients, then Adam's first and second moments,
     * each laid out exactly as model->param_memory. */
    float *memory;
    float *grad_memory, *m_memory, *v_memory;   /* [num_params] each */
    SlModelParams grads;       /* dL/dparam of the last sl_trainer_backward (biases included) */
    long step;               /* AdamW updates done (PyTorch's `step` state) */
    SlRng data_rng;            /* training lists; seeded from opt.seed */
    double last_loss;        /* loss of the last batch */
    SlTrainWorkspace *ws;
} SlTrainer;

/* The model's config must be valid; opt is copied (NULL: defaults). */
SlTrainer *sl_trainer_new(SlModel *m, const SlTrainOptions *opt, SlError *err);
void sl_trainer_free(SlTrainer *t);   /* accepts NULL */

/* The tutorial's loss on tokens [B, n_ctx] (mean cross-entropy of the logits
 * at positions n+1..2n against tokens n+2..2n+1) and its gradient with
 * respect to every parameter, biases included, into t->grads. */
int sl_trainer_backward(SlTrainer *t, const int *tokens, int B, double *loss, SlError *err);

/* One AdamW update with t->grads at learning rate lr, as torch.optim.AdamW
 * (foreach=False): p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * Biases are skipped unless opt.train_biases. */
void sl_trainer_adamw(SlTrainer *t, double lr);

/* The number of hard lists in each batch of B lists: opt.hard_share * B,
 * rounded to the nearest whole list. */
int sl_trainer_hard_lists(const SlTrainOptions *o, int B);

/* The next training batch from data_rng into tokens [B, n_ctx]: the first
 * sl_trainer_hard_lists(B) lists of a hard kind (see hard_share), the rest
 * uniform. */
void sl_trainer_make_batch(SlTrainer *t, int *tokens, int B);

/* A fresh batch (sl_trainer_make_batch), backward, AdamW at the scheduled rate. */
int sl_trainer_step(SlTrainer *t, double *loss, SlError *err);

/* The held-out evaluation is the one evaluation's result (decode.h). */
typedef SlEvalResult SlTrainEval;

/* Evaluates the current model on `lists` complete sequences [lists, n_ctx]
 * (each made by sl_task_make_tokens) through sl_evaluator_add, after
 * rebuilding the model's tables from the trained weights. */
int sl_trainer_evaluate(SlTrainer *t, const int *tokens, long lists, SlTrainEval *out, SlError *err);

#endif
