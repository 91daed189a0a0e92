/* task.h: the sorting task: random lists, token sequences, parsing typed or
 * piped lists, and a small seeded random generator. */
#ifndef SORTLENS_TASK_H
#define SORTLENS_TASK_H

#include <stdint.h>

#include "sortlens/model.h"

/* Token ids: values 0..Vo-1, BOS = Vo, MID = Vo + 1. */
static inline int task_bos(const ModelConfig *c) { return c->d_vocab_out; }
static inline int task_mid(const ModelConfig *c) { return c->d_vocab_out + 1; }
/* The first prediction position (MID, index n + 1) and the count n. */
static inline int task_first_pred_pos(const ModelConfig *c) { return c->list_len + 1; }

/* A deterministic generator (xoshiro256**, seeded through splitmix64) so
 * that the same seed gives the same lists and the same training run. */
typedef struct Rng { uint64_t s[4]; } Rng;
void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
uint32_t rng_below(Rng *r, uint32_t n);   /* uniform in 0..n-1, unbiased */
float rng_uniform(Rng *r);                /* [0, 1) */
float rng_normal(Rng *r);                 /* N(0, 1) */

/* The training distribution: n values uniform in 0..Vo-1, with replacement. */
void task_random_list(const ModelConfig *c, Rng *r, int *values /* [n] */);
/* [BOS, a_1..a_n, MID, b_1..b_n] with b the sorted a: tokens [n_ctx]. */
void task_make_tokens(const ModelConfig *c, const int *values, int *tokens);
void task_sort_values(int n, const int *values, int *sorted);

/* Parses one list: the one parser of the explorer's editor and --list,
 * predict's arguments and lines, and eval --input.  Exactly n integers in
 * 0..Vo-1 separated by blanks and/or single commas (surrounding brackets
 * allowed).  The list is taken whole or refused whole: a field that is not
 * a whole number ("1.5", "-1", "(1"), an empty field ("1,,2", a leading or
 * trailing comma) or a wrong count refuses it with SL_EINVAL and one message
 * ("value 57 is outside 0..49", "value 99999999999999999999 is outside
 * 0..49": the number as typed; "expected 10 numbers, got 9", "'x' is not a
 * number", "'3.5': '.' after a number is not allowed").  On failure values
 * may hold part of the text: callers keep their list elsewhere. */
int task_parse_list(const ModelConfig *c, const char *text, int *values, SlError *err);

#endif
