/* train_options.c: the trainer's options and their defaults, the learning
 * rate and weight decay at each step (warmup, cosine, a linear decay
 * schedule), and TransformerLens's initialisation of a new model (see
 * train.h). */
#include "sortlens/train.h"

#include <math.h>
#include <string.h>

void sl_train_options_default(SlTrainOptions *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 10000;
    o->batch = 256;
    o->lr = 1e-3;
    o->weight_decay = 0.01;
    o->weight_decay_end = -1;
    o->weight_decay_qk = -1;
    o->beta1 = 0.9;
    o->beta2 = 0.98;
    o->eps = 1e-8;
    o->schedule = SL_TRAIN_SCHEDULE_CONSTANT;
    o->warmup = 0;
    o->seed = 0;
    o->train_biases = false;
    o->path = SL_FORWARD_AUTO;
}

double sl_train_lr_at(const SlTrainOptions *o, long step)
{
    if (o->warmup > 0 && step < o->warmup)
        return o->lr * (double)(step + 1) / (double)o->warmup;
    if (o->schedule == SL_TRAIN_SCHEDULE_COSINE) {
        long span = o->steps - o->warmup;
        if (span <= 0)
            return o->lr;
        double f = (double)(step - o->warmup) / (double)span;
        if (f > 1.0)
            f = 1.0;
        return o->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * f));
    }
    return o->lr;
}

double sl_train_weight_decay_at(const SlTrainOptions *o, long step)
{
    if (o->weight_decay_end < 0 || o->steps <= 1)
        return o->weight_decay;
    double f = (double)step / (double)(o->steps - 1);
    if (f > 1.0)
        f = 1.0;
    return o->weight_decay + (o->weight_decay_end - o->weight_decay) * f;
}

void sl_train_init_params(SlModel *m, uint64_t seed)
{
    /* TransformerLens (init_mode "gpt2"): nn.init.normal_(std=initializer_range)
     * on every parameter whose name has "W_", initializer_range = 0.8 / sqrt(d_model);
     * biases start at zero. */
    SlRng r;
    sl_rng_seed(&r, seed);
    float std = (float)(0.8 / sqrt((double)m->cfg.d_model));
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        float *p = sl_model_params_get(&m->params, i);
        size_t n = m->param_sizes[i];
        if (sl_model_param_is_bias(i)) {
            memset(p, 0, n * sizeof *p);
            continue;
        }
        for (size_t k = 0; k < n; k++)
            p[k] = std * sl_rng_normal(&r);
    }
}
