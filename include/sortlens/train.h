/* train.h: the tutorial's loss, its gradient (backward pass), AdamW exactly as
 * torch.optim.AdamW, TransformerLens initialisation, and a seeded training
 * loop for the attention-only sort model.
 *
 * Two implementations of the forward + backward pass compute the same thing:
 *  - TRAIN_PATH_TABLES (one-layer models): the inputs are one-hot, so every
 *    product with the embedded inputs collapses into products with the small
 *    stacked table X = [W_E; W_pos] [(V + T), D], and the loss needs queries
 *    and logits only at the n prediction positions.  The scores become sums
 *    of four entries of a per-step table (X W_Q)(X W_K)^T, each list's logits
 *    its pattern [n, 2n+1] times the rows of X W_V W_O W_U its keys select,
 *    and every weight gradient a product of a small table-shaped gradient
 *    (scatter-added by token and by position) with X.
 *  - TRAIN_PATH_GENERAL (any model): BLAS over the residual stream at every
 *    position, layer by layer.
 * Both are checked against PyTorch's gradients and finite differences.
 */
#ifndef SORTLENS_TRAIN_H
#define SORTLENS_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "sortlens/model.h"
#include "sortlens/task.h"

typedef enum { TRAIN_SCHEDULE_CONSTANT, TRAIN_SCHEDULE_COSINE } TrainSchedule;
typedef enum { TRAIN_PATH_AUTO, TRAIN_PATH_GENERAL, TRAIN_PATH_TABLES } TrainPath;

typedef struct TrainOptions {
    long steps;              /* AdamW updates in the whole run (10000); sets the cosine length */
    int batch;               /* fresh random lists per step (256) */
    double lr;               /* peak learning rate (1e-3) */
    double weight_decay;     /* decoupled, torch.optim.AdamW's (0.01) */
    double weight_decay_end; /* < 0: weight_decay throughout (the default); else the
                                weight decay moves linearly from weight_decay at the
                                first update to this at the last (train_weight_decay_at) */
    double weight_decay_qk;  /* < 0: as every other weight (the default); else the weight
                                decay of W_Q and W_K alone, constant: it bounds how sharp
                                the attention can get apart from what the other weights,
                                the value path among them, are held to */
    double beta1, beta2;     /* (0.9, 0.98) */
    double eps;              /* 1e-8, added to sqrt(v_hat) as PyTorch does */
    TrainSchedule schedule;  /* constant, or cosine from lr to 0 after the warm-up */
    long warmup;             /* linear warm-up from lr/warmup to lr over this many steps (0) */
    uint64_t seed;           /* initialisation and data */
    bool train_biases;       /* false: biases are neither updated nor decayed (the seed's recipe) */
    TrainPath path;          /* AUTO: TABLES for one layer, else GENERAL */
} TrainOptions;

/* The seed's recipe: the defaults listed above, seed 0. */
void train_options_default(TrainOptions *o);

/* Learning rate of update number `step` (0-based) under o's schedule. */
double train_lr_at(const TrainOptions *o, long step);
/* Weight decay of update number `step` (0-based): o->weight_decay, or with
 * o->weight_decay_end >= 0 the line from weight_decay (step 0) to
 * weight_decay_end (step steps - 1).  AdamW multiplies it by the step's
 * learning rate, as torch.optim.AdamW does with a per-step weight_decay. */
double train_weight_decay_at(const TrainOptions *o, long step);

/* TransformerLens's initialisation (init_mode "gpt2"): every W_* normal with
 * std 0.8 / sqrt(d_model), every bias zero; drawn from Rng(seed) in the
 * order of the P_* indices, layer by layer. */
void train_init_params(Model *m, uint64_t seed);

typedef struct TrainWorkspace TrainWorkspace;   /* private */

typedef struct Trainer {
    Model *model;            /* borrowed; its parameters are updated in place */
    TrainOptions opt;
    /* One block (llm.c): gradients, then Adam's first and second moments,
     * each laid out exactly as model->param_memory. */
    float *memory;
    float *grad_memory, *m_memory, *v_memory;   /* [num_params] each */
    ModelParams grads;       /* dL/dparam of the last trainer_backward (biases included) */
    long step;               /* AdamW updates done (PyTorch's `step` state) */
    Rng data_rng;            /* training lists; seeded from opt.seed */
    double last_loss;        /* loss of the last batch */
    TrainWorkspace *ws;
} Trainer;

/* The model's config must be valid; opt is copied (NULL: defaults). */
Trainer *trainer_new(Model *m, const TrainOptions *opt, SlError *err);
void trainer_free(Trainer *t);   /* accepts NULL */

/* The tutorial's loss on tokens [B, n_ctx] (mean cross-entropy of the logits
 * at positions n+1..2n against tokens n+2..2n+1) and its gradient with
 * respect to every parameter, biases included, into t->grads. */
int trainer_backward(Trainer *t, const int *tokens, int B, double *loss, SlError *err);

/* One AdamW update with t->grads at learning rate lr, as torch.optim.AdamW
 * (foreach=False): p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * Biases are skipped unless opt.train_biases. */
void trainer_adamw(Trainer *t, double lr);

/* A fresh batch from data_rng, backward, AdamW at the scheduled rate. */
int trainer_step(Trainer *t, double *loss, SlError *err);

/* Logits at the n prediction positions of tokens [B, n_ctx], without
 * gradients: logits [B, n, Vo]. */
int trainer_logits(Trainer *t, const int *tokens, int B, float *logits, SlError *err);

typedef struct TrainEval {
    long lists;
    double loss;             /* the tutorial's loss */
    double token_accuracy;   /* teacher-forced argmax right, per token */
    double list_accuracy;    /* greedy: the model's own outputs fed back, whole list right */
} TrainEval;

/* Evaluates the current model on `lists` complete sequences [lists, n_ctx]. */
int trainer_evaluate(Trainer *t, const int *tokens, long lists, TrainEval *out, SlError *err);

#endif
