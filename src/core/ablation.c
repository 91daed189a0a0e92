/* ablation.c: the ablation spec language (see ablation.h): parsing,
 * the canonical text, and the mapping to and from the forward pass's
 * SlIntervention. */
#include "sortlens/ablation.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sortlens/parse_int.h"
#include "sortlens/task.h"

/* QK term names, in QK_TERM_* bit order; short forms after them. */
static const char *const term_names[4] = {"token-token", "token-pos", "pos-token", "pos-pos"};
static const char *const term_short[4] = {"tt", "tp", "pt", "pp"};

void sl_position_name(const SlModelConfig *c, int pos, char *buf, size_t size)
{
    const int n = c->list_len;
    if (pos == 0)
        snprintf(buf, size, "BOS");
    else if (pos >= 1 && pos <= n)
        snprintf(buf, size, "a%d", pos);
    else if (pos == n + 1)
        snprintf(buf, size, "MID");
    else
        snprintf(buf, size, "b%d", pos - n - 1);
}

/* A whole number without a sign (the one integer parser), the whole of
 * text; -1 otherwise. */
static long small_decimal(const char *text)
{
    int64_t v;
    if (text[0] == '-' || sl_parse_i64(text, 0, INT32_MAX, &v, NULL))
        return -1;
    return (long)v;
}

int sl_position_parse(const SlModelConfig *c, const char *text, int *pos, SlError *err)
{
    const int n = c->list_len, T = c->n_ctx;
    long p = -1;
    if (strcasecmp(text, "BOS") == 0)
        p = 0;
    else if (strcasecmp(text, "MID") == 0)
        p = n + 1;
    else if ((text[0] == 'a' || text[0] == 'A' || text[0] == 'b' || text[0] == 'B') && text[1]) {
        long i = small_decimal(text + 1);
        if (i < 1 || i > n)
            return sl_error_set(err, SL_EINVAL, "position '%s': %c takes 1..%d", text, tolower((unsigned char)text[0]), n);
        p = tolower((unsigned char)text[0]) == 'a' ? i : n + 1 + i;
    } else {
        p = small_decimal(text);
        if (p < 0)
            return sl_error_set(err, SL_EINVAL, "'%s' is not a position (0..%d, BOS, a1..a%d, MID, b1..b%d)", text,
                                T - 1, n, n);
    }
    if (p >= T)
        return sl_error_set(err, SL_EINVAL, "position %ld is outside 0..%d", p, T - 1);
    *pos = (int)p;
    return 0;
}

/* "L.H" into layer and head, checked against the model. */
static int parse_head(const SlModelConfig *c, const char *text, int *layer, int *head, SlError *err)
{
    const char *dot = strchr(text, '.');
    char lbuf[16];
    if (!dot || (size_t)(dot - text) >= sizeof lbuf)
        return sl_error_set(err, SL_EINVAL, "'%s' is not a head: write LAYER.HEAD, e.g. 0.0", text);
    memcpy(lbuf, text, (size_t)(dot - text));
    lbuf[dot - text] = '\0';
    long l = small_decimal(lbuf), h = small_decimal(dot + 1);
    if (l < 0 || h < 0)
        return sl_error_set(err, SL_EINVAL, "'%s' is not a head: write LAYER.HEAD, e.g. 0.0", text);
    if (l >= c->n_layers)
        return sl_error_set(err, SL_EINVAL, "head %s: the model has layers 0..%d", text, c->n_layers - 1);
    if (h >= c->n_heads)
        return sl_error_set(err, SL_EINVAL, "head %s: the model has heads 0..%d", text, c->n_heads - 1);
    *layer = (int)l;
    *head = (int)h;
    return 0;
}

static bool is_head_kind(SlAblationKind k)
{
    return k == SL_ABLATE_HEAD_ZERO || k == SL_ABLATE_HEAD_MEAN || k == SL_ABLATE_HEAD_RESAMPLE;
}

/* One spec, s (modified in place: scopes are cut off at '@'). */
static int parse_one(const SlModelConfig *c, char *s, SlAblationSpec *sp, SlError *err)
{
    memset(sp, 0, sizeof *sp);
    sp->layer = 0;
    sp->head = -1;
    sp->query = -1;
    char *scopes = strchr(s, '@');
    if (scopes)
        *scopes++ = '\0';
    const char *kind_end;
    if (strncasecmp(s, "qk:", 3) == 0) {
        sp->kind = SL_ABLATE_QK;
        const char *t = s + 3;
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcasecmp(t, term_names[i]) == 0 || strcasecmp(t, term_short[i]) == 0)
                found = i;
        if (found < 0)
            return sl_error_set(err, SL_EINVAL, "'%s': the QK terms are token-token, token-pos, pos-token, pos-pos "
                                "(tt, tp, pt, pp)", t);
        sp->qk_term = 1u << found;
        kind_end = "qk";
    } else if (strcasecmp(s, "ov:pos") == 0) {
        sp->kind = SL_ABLATE_OV_POS;
        kind_end = "ov";
    } else if (strncasecmp(s, "source:", 7) == 0) {
        sp->kind = SL_ABLATE_SOURCE;
        if (sl_position_parse(c, s + 7, &sp->source, err))
            return err ? err->code : SL_EINVAL;
        kind_end = "source";
    } else if (strcasecmp(s, "direct") == 0) {
        sp->kind = SL_ABLATE_DIRECT;
        kind_end = "direct";
    } else if (strncasecmp(s, "head:", 5) == 0 || strncasecmp(s, "mean:head:", 10) == 0 ||
               strncasecmp(s, "resample:head:", 14) == 0) {
        size_t skip = s[0] == 'h' || s[0] == 'H' ? 5 : (s[0] == 'm' || s[0] == 'M') ? 10 : 14;
        sp->kind = skip == 5 ? SL_ABLATE_HEAD_ZERO : skip == 10 ? SL_ABLATE_HEAD_MEAN : SL_ABLATE_HEAD_RESAMPLE;
        if (parse_head(c, s + skip, &sp->layer, &sp->head, err))
            return err ? err->code : SL_EINVAL;
        kind_end = "head";
    } else if (strncasecmp(s, "ov:", 3) == 0) {
        return sl_error_set(err, SL_EINVAL, "'%s': the OV ablation is ov:pos", s);
    } else {
        return sl_error_set(err, SL_EINVAL, "'%s' is not an ablation: use qk:TERM, ov:pos, source:POS, direct, head:L.H, "
                            "mean:head:L.H or resample:head:L.H, each optionally @L.H and @query=POS", s);
    }
    bool head_scoped = false;
    while (scopes) {
        char *next = strchr(scopes, '@');
        if (next)
            *next++ = '\0';
        if (strncasecmp(scopes, "query=", 6) == 0) {
            if (sp->query >= 0)
                return sl_error_set(err, SL_EINVAL, "'@query' given twice");
            if (sl_position_parse(c, scopes + 6, &sp->query, err))
                return err ? err->code : SL_EINVAL;
        } else {
            if (is_head_kind(sp->kind))
                return sl_error_set(err, SL_EINVAL, "'@%s': %s:L.H names its head already; its only scope is @query=POS",
                                    scopes, kind_end);
            if (sp->kind == SL_ABLATE_DIRECT)
                return sl_error_set(err, SL_EINVAL, "'@%s': the direct path belongs to no head; its only scope is @query=POS",
                                    scopes);
            if (head_scoped)
                return sl_error_set(err, SL_EINVAL, "'@%s': a head scope given twice", scopes);
            if (parse_head(c, scopes, &sp->layer, &sp->head, err))
                return err ? err->code : SL_EINVAL;
            head_scoped = true;
        }
        scopes = next;
    }
    if ((sp->kind == SL_ABLATE_QK || sp->kind == SL_ABLATE_OV_POS) && sp->layer != 0)
        return sl_error_set(err, SL_EINVAL, "%s: the QK terms and the OV position part are defined on layer 0, not %d",
                            sp->kind == SL_ABLATE_QK ? "qk" : "ov:pos", sp->layer);
    return 0;
}

static int trim_copy(const char *start, size_t len, char *buf, size_t size)
{
    while (len && isspace((unsigned char)*start))
        start++, len--;
    while (len && isspace((unsigned char)start[len - 1]))
        len--;
    if (len >= size)
        return -1;
    memcpy(buf, start, len);
    buf[len] = '\0';
    return (int)len;
}

int sl_ablation_parse(const char *text, const SlModelConfig *c, SlAblation *out, SlError *err)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return 0;
    bool any = false;
    for (const char *q = text; *q; q++)
        if (!isspace((unsigned char)*q))
            any = true;
    if (!any)
        return 0;
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[128], shown[128];
        int n = trim_copy(p, len, one, sizeof one);
        if (n < 0) {
            sl_error_set(err, SL_EINVAL, "ablation %d is too long (%zu characters)", out->count + 1, len);
            goto fail;
        }
        if (n == 0) {
            sl_error_set(err, SL_EINVAL, "ablation %d is empty (two commas, or one at an end)", out->count + 1);
            goto fail;
        }
        for (int i = 0; i < n; i++)
            if (!isprint((unsigned char)one[i])) {
                sl_error_set(err, SL_EINVAL, "ablation %d holds a control or non-ASCII byte", out->count + 1);
                goto fail;
            }
        if (out->count == SL_ABLATION_MAX) {
            sl_error_set(err, SL_EINVAL, "more than %d ablations", SL_ABLATION_MAX);
            goto fail;
        }
        memcpy(shown, one, (size_t)n + 1);
        if (parse_one(c, one, &out->spec[out->count], err)) {
            char what[160];
            snprintf(what, sizeof what, "--ablate '%s'", shown);
            sl_error_prefix(err, what);
            goto fail;
        }
        out->count++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
fail:
    memset(out, 0, sizeof *out);
    return SL_EINVAL;
}

/* Appends printf-style text; false once it no longer fits. */
static bool put(char *buf, size_t size, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len >= size)
        return false;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= size - *len) {
        *len = size;
        return false;
    }
    *len += (size_t)w;
    return true;
}

int sl_ablation_format(const SlAblation *a, const SlModelConfig *c, char *buf, size_t size)
{
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    bool ok = size > 0;
    for (int i = 0; ok && i < a->count; i++) {
        const SlAblationSpec *s = &a->spec[i];
        char pos[16];
        if (i)
            ok = put(buf, size, &len, ",");
        switch (s->kind) {
        case SL_ABLATE_QK: {
            int t = 0;
            while (t < 3 && !(s->qk_term & (1u << t)))
                t++;
            ok = ok && put(buf, size, &len, "qk:%s", term_names[t]);
            break;
        }
        case SL_ABLATE_OV_POS: ok = ok && put(buf, size, &len, "ov:pos"); break;
        case SL_ABLATE_SOURCE:
            sl_position_name(c, s->source, pos, sizeof pos);
            ok = ok && put(buf, size, &len, "source:%s", pos);
            break;
        case SL_ABLATE_DIRECT: ok = ok && put(buf, size, &len, "direct"); break;
        case SL_ABLATE_HEAD_ZERO: ok = ok && put(buf, size, &len, "head:%d.%d", s->layer, s->head); break;
        case SL_ABLATE_HEAD_MEAN: ok = ok && put(buf, size, &len, "mean:head:%d.%d", s->layer, s->head); break;
        case SL_ABLATE_HEAD_RESAMPLE: ok = ok && put(buf, size, &len, "resample:head:%d.%d", s->layer, s->head); break;
        }
        if (!is_head_kind(s->kind) && s->kind != SL_ABLATE_DIRECT && s->head >= 0)
            ok = ok && put(buf, size, &len, "@%d.%d", s->layer, s->head);
        if (s->query >= 0) {
            sl_position_name(c, s->query, pos, sizeof pos);
            ok = ok && put(buf, size, &len, "@query=%s", pos);
        }
    }
    return ok ? (int)len : -1;
}

bool sl_ablation_needs_mean(const SlAblation *a)
{
    for (int i = 0; i < a->count; i++)
        if (a->spec[i].kind == SL_ABLATE_HEAD_MEAN)
            return true;
    return false;
}

int sl_ablation_to_intervention(const SlAblation *a, const SlModelConfig *c, float *mean_z, SlIntervention *iv,
                                SlError *err)
{
    sl_intervention_init(iv);
    bool scoped = false;   /* a head-touching spec has fixed iv->layer / iv->head */
    char text[128];
    for (int i = 0; i < a->count; i++) {
        const SlAblationSpec *s = &a->spec[i];
        SlAblation one = {.count = 1, .spec = {*s}};
        sl_ablation_format(&one, c, text, sizeof text);
        if (s->kind == SL_ABLATE_HEAD_RESAMPLE)
            return sl_error_set(err, SL_EINVAL, "--ablate %s: resampling a head needs the hook path, not the Intervention", text);
        if (is_head_kind(s->kind) && s->query < 0)
            return sl_error_set(err, SL_EINVAL, "--ablate %s: a head's output at every position needs the hook path, not the "
                                "Intervention; scope it to one query with @query=POS", text);
        if (!is_head_kind(s->kind) && s->query >= 0)
            return sl_error_set(err, SL_EINVAL, "--ablate %s: @query=POS on qk, ov, source and direct needs the "
                                "hook path, not the Intervention", text);
        if (s->kind == SL_ABLATE_DIRECT) {
            iv->drop_direct = true;
            continue;
        }
        if (scoped && (iv->layer != s->layer || iv->head != s->head))
            return sl_error_set(err, SL_EINVAL, "--ablate %s: ablations on different heads at once need the hook path, "
                                "not the Intervention", text);
        iv->layer = s->layer;
        iv->head = s->head;
        scoped = true;
        switch (s->kind) {
        case SL_ABLATE_QK: iv->qk_terms_off |= s->qk_term; break;
        case SL_ABLATE_OV_POS: iv->ov_drop_pos = true; break;
        case SL_ABLATE_SOURCE:
            if (iv->block_source >= 0 && iv->block_source != s->source)
                return sl_error_set(err, SL_EINVAL, "--ablate %s: blocking two sources at once needs the hook path, not the "
                                    "Intervention", text);
            iv->block_source = s->source;
            break;
        case SL_ABLATE_HEAD_ZERO:
        case SL_ABLATE_HEAD_MEAN:
            if (iv->ablate_position >= 0)
                return sl_error_set(err, SL_EINVAL, "--ablate %s: a second head-output ablation needs the hook path, not the "
                                    "Intervention", text);
            iv->ablate_position = s->query;
            iv->ablate_kind = s->kind == SL_ABLATE_HEAD_MEAN ? SL_ABLATE_MEAN : SL_ABLATE_ZERO;
            if (s->kind == SL_ABLATE_HEAD_MEAN) {
                if (!mean_z)
                    return sl_error_set(err, SL_EINVAL, "--ablate %s: no mean hook_z given", text);
                iv->ablate_mean_z = mean_z;
            }
            break;
        default: break;
        }
    }
    return sl_intervention_validate(iv, c, err);
}

void sl_ablation_from_intervention(const SlIntervention *iv, const SlModelConfig *c, SlAblation *out)
{
    (void)c;
    memset(out, 0, sizeof *out);
    if (sl_intervention_is_none(iv))
        return;
    SlAblationSpec base = {.layer = iv->layer, .head = iv->head, .query = -1};
    for (int t = 0; t < 4; t++)
        if (iv->qk_terms_off & (1u << t)) {
            out->spec[out->count] = base;
            out->spec[out->count].kind = SL_ABLATE_QK;
            out->spec[out->count++].qk_term = 1u << t;
        }
    if (iv->ov_drop_pos) {
        out->spec[out->count] = base;
        out->spec[out->count++].kind = SL_ABLATE_OV_POS;
    }
    if (iv->block_source >= 0) {
        out->spec[out->count] = base;
        out->spec[out->count].kind = SL_ABLATE_SOURCE;
        out->spec[out->count++].source = iv->block_source;
    }
    if (iv->ablate_position >= 0 && iv->ablate_kind != SL_ABLATE_NONE) {
        /* head -1 (every head) has no single spec: one per head */
        int h0 = iv->head < 0 ? 0 : iv->head, h1 = iv->head < 0 ? c->n_heads : iv->head + 1;
        for (int h = h0; h < h1 && out->count < SL_ABLATION_MAX; h++) {
            out->spec[out->count] = base;
            out->spec[out->count].kind = iv->ablate_kind == SL_ABLATE_MEAN ? SL_ABLATE_HEAD_MEAN : SL_ABLATE_HEAD_ZERO;
            out->spec[out->count].head = h;
            out->spec[out->count++].query = iv->ablate_position;
        }
    }
    if (iv->drop_direct && out->count < SL_ABLATION_MAX) {
        out->spec[out->count] = base;
        out->spec[out->count].head = -1;
        out->spec[out->count].layer = 0;
        out->spec[out->count++].kind = SL_ABLATE_DIRECT;
    }
}

int sl_ablation_mean_z(const SlModel *m, int layer, long lists, uint64_t seed, float *mean_z, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int H = c->n_heads, E = c->d_head, T = c->n_ctx, n = c->list_len;
    if (layer < 0 || layer >= c->n_layers)
        return sl_error_set(err, SL_EINVAL, "layer %d: the model has layers 0..%d", layer, c->n_layers - 1);
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "the mean of hook_z needs at least one list (got %ld)", lists);
    enum { BATCH = 256 };
    const int cap = sl_cache_batch_within(c, T, lists < BATCH ? (int)lists : BATCH, SL_CACHE_BATCH_BYTES);
    const size_t row = (size_t)H * E;
    int rc = 0;
    SlActCache *cache = sl_cache_new(c, cap, T, err);
    int *tokens = malloc((size_t)cap * T * sizeof *tokens), *values = malloc((size_t)n * sizeof *values);
    double *sum = calloc((size_t)T * row, sizeof *sum);
    if (!cache || !tokens || !values || !sum) {
        rc = cache ? sl_error_set(err, SL_ENOMEM, "out of memory for the mean of hook_z") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    SlRng rng;
    sl_rng_seed(&rng, seed);
    char name[64];
    snprintf(name, sizeof name, "blocks.%d.attn.hook_z", layer);
    for (long done_lists = 0; done_lists < lists;) {
        int B = lists - done_lists < cap ? (int)(lists - done_lists) : cap;
        for (int b = 0; b < B; b++) {
            sl_task_random_list(c, &rng, values);
            sl_task_make_tokens(c, values, tokens + (size_t)b * T);
        }
        if ((rc = sl_model_forward(m, tokens, B, T, cache, NULL, SL_FORWARD_AUTO, err)))
            goto done;
        const float *z = sl_cache_get(cache, name, NULL, NULL);   /* [B, T, H, E] */
        for (int b = 0; b < B; b++)
            for (size_t j = 0; j < (size_t)T * row; j++)
                sum[j] += z[(size_t)b * T * row + j];
        done_lists += B;
    }
    for (size_t j = 0; j < (size_t)T * row; j++)
        mean_z[j] = (float)(sum[j] / (double)lists);
done:
    free(sum);
    free(values);
    free(tokens);
    sl_cache_free(cache);
    return rc;
}
