/* stress.c: the stress sets of stress.h. */
#include "sortlens/stress.h"

#include <stdbool.h>

#include "sortlens/names.h"

static const char *const stress_names[SL_STRESS_KINDS] = {
    [SL_STRESS_UNIFORM] = "uniform", [SL_STRESS_DISTINCT] = "distinct", [SL_STRESS_PAIR] = "pair",
    [SL_STRESS_TRIPLE] = "triple",   [SL_STRESS_CLUSTER] = "cluster",   [SL_STRESS_GAP] = "gap",
    [SL_STRESS_RUN] = "run",         [SL_STRESS_CONSTANT] = "constant",
};

const char *sl_stress_name(SlStressKind kind)
{
    return kind >= 0 && kind < SL_STRESS_KINDS ? stress_names[kind] : "?";
}

int sl_stress_from_name(const char *name, SlStressKind *kind, SlError *err)
{
    int k = sl_names_find(stress_names, SL_STRESS_KINDS, name);
    if (k >= 0) {
        *kind = (SlStressKind)k;
        return 0;
    }
    return sl_error_set(err, SL_EINVAL, "'%s' is not a kind of list; the kinds are uniform, distinct, pair, triple, "
                        "cluster, gap, run, constant", name);
}

int sl_stress_check(const SlModelConfig *c, SlStressKind kind, SlError *err)
{
    int n = c->list_len, V = c->d_vocab_out;
    const char *name = sl_stress_name(kind);
    switch (kind) {
    case SL_STRESS_DISTINCT:
    case SL_STRESS_RUN:
        if (V < n)
            return sl_error_set(err, SL_EINVAL, "no %s list of %d values exists in 0..%d", name, n, V - 1);
        return 0;
    case SL_STRESS_PAIR:
        if (n < 2 || V < n - 1)
            return sl_error_set(err, SL_EINVAL, "no list of %d values in 0..%d has exactly one value twice", n, V - 1);
        return 0;
    case SL_STRESS_TRIPLE:
        if (n < 3 || V < n - 2)
            return sl_error_set(err, SL_EINVAL, "no list of %d values in 0..%d has exactly one value three times", n,
                                V - 1);
        return 0;
    case SL_STRESS_GAP:
        if (V < 5)
            return sl_error_set(err, SL_EINVAL, "values 0..%d have no lowest and highest fifth", V - 1);
        return 0;
    case SL_STRESS_UNIFORM:
    case SL_STRESS_CLUSTER:
    case SL_STRESS_CONSTANT:
        return 0;
    default:
        return sl_error_set(err, SL_EINVAL, "unknown kind of list %d", (int)kind);
    }
}

int sl_stress_cluster_width(const SlModelConfig *c)
{
    int n = c->list_len, V = c->d_vocab_out;
    int w = n + 2 > V / 4 ? n + 2 : V / 4;
    return w < V ? w : V;
}

static void shuffle(SlRng *rng, int *x, int n)   /* Fisher-Yates */
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)sl_rng_below(rng, (uint32_t)i + 1), t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static bool contains(const int *x, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (x[i] == v)
            return true;
    return false;
}

/* k distinct values of 0..V-1, a uniform k-subset in a uniform order:
 * Floyd's algorithm (k draws whatever V is; Bentley, "Programming Pearls",
 * column 12), then a shuffle, since Floyd's order is not uniform. */
static void distinct_values(SlRng *rng, int V, int k, int *out)
{
    for (int i = 0, j = V - k; j < V; i++, j++) {
        int t = (int)sl_rng_below(rng, (uint32_t)j + 1);
        out[i] = contains(out, i, t) ? j : t;
    }
    shuffle(rng, out, k);
}

/* `count` values uniform in lo..lo+width-1, into out. */
static void uniform_values(SlRng *rng, int lo, int width, int count, int *out)
{
    for (int i = 0; i < count; i++)
        out[i] = lo + (int)sl_rng_below(rng, (uint32_t)width);
}

void sl_stress_list(const SlModelConfig *c, SlStressKind kind, SlRng *rng, int *values)
{
    int n = c->list_len, V = c->d_vocab_out;
    switch (kind) {
    case SL_STRESS_UNIFORM:
        sl_task_random_list(c, rng, values);
        break;
    case SL_STRESS_DISTINCT:
        distinct_values(rng, V, n, values);
        break;
    case SL_STRESS_PAIR:
    case SL_STRESS_TRIPLE: {
        /* n - r + 1 distinct values in a random order; the first of them is
         * the one repeated (r times in all), then the whole list is shuffled. */
        int r = kind == SL_STRESS_PAIR ? 2 : 3, k = n - r + 1;
        distinct_values(rng, V, k, values);
        for (int i = k; i < n; i++)
            values[i] = values[0];
        shuffle(rng, values, n);
        break;
    }
    case SL_STRESS_CLUSTER: {
        int w = sl_stress_cluster_width(c);
        uniform_values(rng, (int)sl_rng_below(rng, (uint32_t)(V - w + 1)), w, n, values);
        break;
    }
    case SL_STRESS_GAP: {
        int fifth = V / 5, low = n / 2;
        uniform_values(rng, 0, fifth, low, values);
        uniform_values(rng, V - fifth, fifth, n - low, values + low);
        shuffle(rng, values, n);
        break;
    }
    case SL_STRESS_RUN: {
        int x = (int)sl_rng_below(rng, (uint32_t)(V - n + 1));
        for (int i = 0; i < n; i++)
            values[i] = x + i;
        shuffle(rng, values, n);
        break;
    }
    case SL_STRESS_CONSTANT: {
        int x = (int)sl_rng_below(rng, (uint32_t)V);
        for (int i = 0; i < n; i++)
            values[i] = x;
        break;
    }
    default:
        break;
    }
}
