/* task.c: lists, tokens, parsing, and the seeded generator. */
#include "sortlens/task.h"

#include "sortlens/parse_int.h"

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

void sl_rng_seed(SlRng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sl_rng_next(SlRng *r)
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
uint32_t sl_rng_below(SlRng *r, uint32_t n)
{
    uint64_t m = (uint64_t)(uint32_t)(sl_rng_next(r) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = -n % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(sl_rng_next(r) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}


/* Box-Muller; the second variate is dropped to keep the state simple. */
float sl_rng_normal(SlRng *r)
{
    double u1 = ((double)(sl_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(sl_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void sl_task_random_list(const SlModelConfig *c, SlRng *r, int *values)
{
    for (int i = 0; i < c->list_len; i++)
        values[i] = (int)sl_rng_below(r, (uint32_t)c->d_vocab_out);
}

/* Insertion sort: n is small (10). */
void sl_task_sort_values(int n, const int *values, int *sorted)
{
    memcpy(sorted, values, (size_t)n * sizeof *sorted);
    for (int i = 1; i < n; i++) {
        int v = sorted[i], j = i - 1;
        while (j >= 0 && sorted[j] > v) {
            sorted[j + 1] = sorted[j];
            j--;
        }
        sorted[j + 1] = v;
    }
}

void sl_task_make_tokens(const SlModelConfig *c, const int *values, int *tokens)
{
    int n = c->list_len;
    tokens[0] = sl_task_bos(c);
    memcpy(tokens + 1, values, (size_t)n * sizeof *tokens);
    tokens[n + 1] = sl_task_mid(c);
    sl_task_sort_values(n, values, tokens + n + 2);
}

/* Separators between values: blanks, and at most one comma between two values. */
static bool list_blank(unsigned char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* What a field that is not a value is, for the message ("1.5", "-1", "(1"). */
static int bad_field(const SlModelConfig *c, const char *field, size_t len, SlError *err)
{
    int top = c->d_vocab_out - 1;
    int shown = len > 40 ? 40 : (int)len;
    const char *more = len > 40 ? "..." : "";
    const unsigned char *f = (const unsigned char *)field;
    for (size_t i = 0; i < len; i++)
        if (f[i] < 0x20 || f[i] >= 0x7f)
            return sl_error_set(err, SL_EINVAL, "byte 0x%02x is not a number (values are 0..%d separated by spaces or "
                                "commas)", f[i], top);
    if (f[0] == '-' && len > 1 && isdigit(f[1])) {
        size_t d = 1;
        while (d < len && isdigit(f[d]))
            d++;
        if (d == len)
            return sl_error_set(err, SL_EINVAL, "'%.*s' is negative; values must be in 0..%d", shown, field, top);
    }
    if (isdigit(f[0])) {   /* digits, then something else: "3.5", "1e3", "7x" */
        size_t d = 0;
        while (d < len && isdigit(f[d]))
            d++;
        return sl_error_set(err, SL_EINVAL, "'%.*s%s': '%c' after a number is not allowed (values are whole numbers "
                            "0..%d)", shown, field, more, f[d], top);
    }
    if (len == 1)
        return sl_error_set(err, SL_EINVAL, "'%c' is not a number (values are 0..%d separated by spaces or commas)",
                            f[0], top);
    return sl_error_set(err, SL_EINVAL, "'%.*s%s' is not a number (values are 0..%d separated by spaces or commas)",
                        shown, field, more, top);
}

int sl_task_parse_list(const SlModelConfig *c, const char *text, int *values, SlError *err)
{
    /* The whole text is checked before anything is stored, so that a list is
     * taken whole or refused whole: every field a value in range, one comma
     * at most between two values, the count exactly n. */
    int n = c->list_len, count = 0, top = c->d_vocab_out - 1;
    const char *p = text;
    bool open_bracket = false, comma = false;   /* comma: one was just passed, a value must follow */
    while (list_blank((unsigned char)*p))
        p++;
    if (*p == '[') {
        open_bracket = true;
        p++;
    }
    for (;;) {
        while (list_blank((unsigned char)*p) || *p == ',') {
            if (*p == ',') {
                if (comma || count == 0)
                    return sl_error_set(err, SL_EINVAL, count == 0 ? "a comma before the first value"
                                                                   : "an empty value between two commas");
                comma = true;
            }
            p++;
        }
        if (*p == '\0' || *p == ']')
            break;
        const char *field = p;
        while (*p && !list_blank((unsigned char)*p) && *p != ',' && *p != ']')
            p++;
        size_t len = (size_t)(p - field);
        bool digits = true;
        for (size_t i = 0; i < len; i++)
            digits &= isdigit((unsigned char)field[i]) != 0;
        if (!digits)
            return bad_field(c, field, len, err);
        int64_t v;
        SlError perr = {0};
        if (sl_parse_i64_span(field, len, 0, top, &v, &perr))   /* "99999999999999999999 is outside 0..49" */
            return sl_error_set(err, SL_EINVAL, "value %s", perr.message);
        if (count < n)
            values[count] = (int)v;
        count++;
        comma = false;
    }
    if (comma)
        return sl_error_set(err, SL_EINVAL, "a comma after the last value");
    if (*p == ']') {
        if (!open_bracket)
            return sl_error_set(err, SL_EINVAL, "']' without '['");
        p++;
        while (list_blank((unsigned char)*p))
            p++;
        if (*p)
            return sl_error_set(err, SL_EINVAL, "text after ']'");
    } else if (open_bracket) {
        return sl_error_set(err, SL_EINVAL, "'[' without ']'");
    }
    if (count > n)
        return sl_error_set(err, SL_EINVAL, "expected %d numbers, got more (%d)", n, count);
    if (count != n)
        return sl_error_set(err, SL_EINVAL, "expected %d numbers, got %d", n, count);
    return 0;
}
