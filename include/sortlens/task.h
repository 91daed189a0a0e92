/* task.h: the sorting task: random lists, token sequences, parsing typed or
 * piped lists, and a small seeded random generator. */
#ifndef SORTLENS_TASK_H
#define SORTLENS_TASK_H

#include <stdint.h>

#include "sortlens/model.h"

/* Token ids: values 0..Vo-1, BOS = Vo, MID = Vo + 1. */
static inline int sl_task_bos(const SlModelConfig *c) { return c->d_vocab_out; }
static inline int sl_task_mid(const SlModelConfig *c) { return c->d_vocab_out + 1; }
/* The first prediction position (MID, index n + 1) and the count n. */
static inline int sl_task_first_pred_pos(const SlModelConfig *c) { return c->list_len + 1; }

/* A deterministic generator (xoshiro256**, seeded through splitmix64) so
 * that the same seed gives the same lists and the same training run. */
typedef struct SlRng { uint64_t s[4]; } SlRng;
void sl_rng_seed(SlRng *r, uint64_t seed);
uint64_t sl_rng_next(SlRng *r);
uint32_t sl_rng_below(SlRng *r, uint32_t n);   /* uniform in 0..n-1, unbiased */
float sl_rng_normal(SlRng *r);                 /* N(0, 1) */

/* The training distribution: n values uniform in 0..Vo-1, with replacement. */
void sl_task_random_list(const SlModelConfig *c, SlRng *r, int *values /* [n] */);
/* [BOS, a_1..a_n, MID, b_1..b_n] with b the sorted a: tokens [n_ctx]. */
void sl_task_make_tokens(const SlModelConfig *c, const int *values, int *tokens);
void sl_task_sort_values(int n, const int *values, int *sorted);

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
int sl_task_parse_list(const SlModelConfig *c, const char *text, int *values, SlError *err);

#endif
