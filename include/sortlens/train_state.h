/* train_state.h: what continues a training run besides its weights, as the
 * tensors of a safetensors file (a run directory's optimizer.safetensors,
 * run.h), so that it can be read with any safetensors reader:
 *   <param>.exp_avg, <param>.exp_avg_sq   Adam's moments (torch.optim.AdamW's
 *                                         state names), F32, named and shaped
 *                                         as the model file's tensors
 *   __metadata__ step                     AdamW updates done
 *                data_rng                 the training lists' generator
 *                                         (xoshiro256**: four 64-bit words, hex)
 *                lr, weight_decay, betas, eps, batch, schedule, warmup, steps,
 *                seed, train_biases       the options the moments were made with
 * Together with the weights of the snapshot at `step` this is the whole
 * state of a SlTrainer: restoring both continues the run exactly. */
#ifndef SORTLENS_TRAIN_STATE_H
#define SORTLENS_TRAIN_STATE_H

#include "sortlens/tensor.h"
#include "sortlens/train.h"

/* The state of t as tensors (metadata included). */
SlTensorSet *sl_train_state_tensors(const SlTrainer *t, SlError *err);

/* Restores Adam's moments, the step and the data stream of t from ts (label
 * names the file in messages).  Everything is checked before anything
 * changes: each moment present, F32, of the model's size, finite (second
 * moments not negative); the step and the generator well formed; the
 * optimizer options equal to t's, so that the moments mean what they did. */
int sl_train_state_restore(SlTrainer *t, const SlTensorSet *ts, const char *label, SlError *err);

/* The step recorded in a state (-1 if absent or malformed). */
long sl_train_state_step(const SlTensorSet *ts);

#endif
