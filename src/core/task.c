/* task.c: lists, tokens, parsing, and the seeded generator. */
#include "sortlens/task.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64 seeds xoshiro256** (Blackman & Vigna, prng.di.unimi.it). */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Lemire's multiply-and-reject: unbiased without a division per draw. */
uint32_t rng_below(Rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = -n % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float rng_uniform(Rng *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* Box-Muller; the second variate is dropped to keep the state simple. */
float rng_normal(Rng *r)
{
    double u1 = ((double)(rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void task_random_list(const ModelConfig *c, Rng *r, int *values)
{
    for (int i = 0; i < c->list_len; i++)
        values[i] = (int)rng_below(r, (uint32_t)c->d_vocab_out);
}

/* Counting sort: values are small non-negative ints. */
void task_sort_values(int n, const int *values, int *sorted)
{
    memcpy(sorted, values, (size_t)n * sizeof *sorted);
    for (int i = 1; i < n; i++) {   /* insertion sort: n is small (10) */
        int v = sorted[i], j = i - 1;
        while (j >= 0 && sorted[j] > v) {
            sorted[j + 1] = sorted[j];
            j--;
        }
        sorted[j + 1] = v;
    }
}

void task_make_tokens(const ModelConfig *c, const int *values, int *tokens)
{
    int n = c->list_len;
    tokens[0] = task_bos(c);
    memcpy(tokens + 1, values, (size_t)n * sizeof *tokens);
    tokens[n + 1] = task_mid(c);
    task_sort_values(n, values, tokens + n + 2);
}

int task_parse_list(const ModelConfig *c, const char *text, int *values, SlError *err)
{
    int n = c->list_len, count = 0;
    const unsigned char *p = (const unsigned char *)text;
    bool open_bracket = false;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p == '[') {
        open_bracket = true;
        p++;
    }
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n')
            p++;
        if (*p == '\0' || *p == ']')
            break;
        if (!isdigit(*p)) {
            if (*p == '-' && isdigit(p[1]))
                return sl_error_set(err, SL_EINVAL, "negative value; values must be in 0..%d", c->d_vocab_out - 1);
            if (*p >= 0x20 && *p < 0x7f)
                return sl_error_set(err, SL_EINVAL, "'%c' is not a number (values are 0..%d separated by spaces or commas)",
                                    *p, c->d_vocab_out - 1);
            return sl_error_set(err, SL_EINVAL, "byte 0x%02x is not a number (values are 0..%d separated by spaces or commas)",
                                *p, c->d_vocab_out - 1);
        }
        long v = 0;
        while (isdigit(*p)) {
            if (v < 1000000000L)
                v = v * 10 + (*p - '0');
            p++;
        }
        if (*p && *p != ' ' && *p != '\t' && *p != ',' && *p != ']' && *p != '\r' && *p != '\n')
            return sl_error_set(err, SL_EINVAL, "'%c' after a number is not allowed", isprint(*p) ? *p : '?');
        if (v >= c->d_vocab_out)
            return sl_error_set(err, SL_EINVAL, "value %ld is outside 0..%d", v, c->d_vocab_out - 1);
        if (count == n)
            return sl_error_set(err, SL_EINVAL, "expected %d numbers, got more", n);
        values[count++] = (int)v;
    }
    if (*p == ']') {
        if (!open_bracket)
            return sl_error_set(err, SL_EINVAL, "']' without '['");
        p++;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p)
            return sl_error_set(err, SL_EINVAL, "text after ']'");
    } else if (open_bracket) {
        return sl_error_set(err, SL_EINVAL, "'[' without ']'");
    }
    if (count != n)
        return sl_error_set(err, SL_EINVAL, "expected %d numbers, got %d", n, count);
    return 0;
}
