/* plot.c: the explorer's views as figures: which matrices, labels, scales
 * and titles each view has, laid out as heat panels (figure_heat.c) and
 * written by a backend.
 *
 * Longer than 600 lines because every view is one function over the one
 * Build (its allocations, labels and panel defaults), beside the names and
 * the request checks that choose it; the drawing itself is elsewhere. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "figure.h"
#include "sortlens/atomic_write.h"
#include "sortlens/circuits.h"
#include "sortlens/decode.h"
#include "sortlens/names.h"
#include "sortlens/parse_int.h"
#include "sortlens/patch.h"
#include "sortlens/population.h"
#include "sortlens/task.h"

/* A figure of more cells than this is refused: a model with a large
 * vocabulary would give files of gigabytes that no viewer opens. */
#define PLOT_MAX_CELLS (600 * 600)
#define MARGIN 14.0
#define FIG_TITLE_SIZE 14.0
#define SUBTITLE_SIZE 9.5
#define PANEL_GAP 10.0

static const struct {
    const char *name, *help;
} views[SL_PLOT_VIEW_COUNT] = {
    [SL_PLOT_ATTENTION] = {"attention", "the attention pattern of the list (query x key), weights 0..1"},
    [SL_PLOT_SCORES] = {"scores", "the scores of the list before the softmax, q.k / sqrt(d_head)"},
    [SL_PLOT_QK_TOKEN_TOKEN] = {"qk-token-token", "QK token-token term  W_E W_Q W_K^T W_E^T"},
    [SL_PLOT_QK_TOKEN_POS] = {"qk-token-pos", "QK token-pos term  W_E W_Q W_K^T W_pos^T"},
    [SL_PLOT_QK_POS_TOKEN] = {"qk-pos-token", "QK pos-token term  W_pos W_Q W_K^T W_E^T"},
    [SL_PLOT_QK_POS_POS] = {"qk-pos-pos", "QK pos-pos term  W_pos W_Q W_K^T W_pos^T, causal mask shown"},
    [SL_PLOT_QK_FACET] = {"qk-facet", "the four QK terms side by side, one colour scale"},
    [SL_PLOT_QK_COMBINED] = {"qk-combined", "[W_E; W_pos] W_Q W_K^T [W_E; W_pos]^T, its four blocks marked"},
    [SL_PLOT_OV] = {"ov", "OV token circuit  W_E W_V W_O W_U"},
    [SL_PLOT_OV_POS] = {"ov-pos", "OV position circuit  W_pos W_V W_O W_U"},
    [SL_PLOT_DECOMPOSITION] = {"decomposition", "one query's scores split into the four QK terms"},
    [SL_PLOT_MEAN_ATTENTION] = {"mean-attention", "the attention pattern averaged over --lists random lists"},
    [SL_PLOT_PATCH] = {"patch", "patching --corrupt with --list: every hook x position"},
    [SL_PLOT_PROGRESS] = {"progress", "a run's loss, accuracy and circuit figures over its snapshots (--model RUN_DIR)"},
};

static const char *const format_names[SL_PLOT_PDF + 1] = {"svg", "png", "pdf"};

const char *sl_plot_view_name(SlPlotView v)
{
    return v >= 0 && v < SL_PLOT_VIEW_COUNT ? views[v].name : "?";
}

const char *sl_plot_view_help(SlPlotView v)
{
    return v >= 0 && v < SL_PLOT_VIEW_COUNT ? views[v].help : "?";
}

int sl_plot_view_from_name(const char *name, SlPlotView *out, SlError *err)
{
    for (int v = 0; v < SL_PLOT_VIEW_COUNT; v++)
        if (strcmp(name, views[v].name) == 0) {
            *out = (SlPlotView)v;
            return 0;
        }
    char list[400] = "";
    for (int v = 0; v < SL_PLOT_VIEW_COUNT; v++) {
        strncat(list, views[v].name, sizeof list - strlen(list) - 1);
        if (v + 1 < SL_PLOT_VIEW_COUNT)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return sl_error_set(err, SL_EINVAL, "unknown view '%.40s'; the views are %s", name, list);
}

const char *sl_plot_format_name(SlPlotFormat f)
{
    return f >= SL_PLOT_SVG && f <= SL_PLOT_PDF ? format_names[f] : "?";
}

int sl_plot_format_from_name(const char *name, SlPlotFormat *out, SlError *err)
{
    int f = sl_names_find(format_names, SL_PLOT_PDF + 1, name);
    if (f >= 0) {
        *out = (SlPlotFormat)f;
        return 0;
    }
    return sl_error_set(err, SL_EINVAL, "unknown format '%.40s'; the formats are svg, png, pdf", name);
}

bool sl_plot_format_from_path(const char *path, SlPlotFormat *out)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return false;
    for (int f = SL_PLOT_SVG; f <= SL_PLOT_PDF; f++)
        if (strcasecmp(dot + 1, format_names[f]) == 0) {
            *out = (SlPlotFormat)f;
            return true;
        }
    return false;
}

/* ---- positions and labels ---------------------------------------------------- */

static void pos_name(const SlModelConfig *c, int pos, char *buf, size_t size)
{
    int n = c->list_len;
    if (pos == 0)
        snprintf(buf, size, "BOS");
    else if (pos <= n)
        snprintf(buf, size, "a%d", pos);
    else if (pos == n + 1)
        snprintf(buf, size, "MID");
    else
        snprintf(buf, size, "b%d", pos - n - 1);
}

int sl_plot_parse_position(const SlModelConfig *c, const char *text, int *pos, SlError *err)
{
    int n = c->list_len, T = c->n_ctx;
    int64_t i = -1, k;
    SlError ignored = {0};   /* one message below names every form */
    if (strcasecmp(text, "BOS") == 0) {
        i = 0;
    } else if (strcasecmp(text, "MID") == 0) {
        i = n + 1;
    } else if ((text[0] == 'a' || text[0] == 'b') && text[1] >= '0' && text[1] <= '9') {
        if (sl_parse_i64(text + 1, 1, n, &k, &ignored) == 0)
            i = text[0] == 'a' ? k : n + 1 + k;
    } else if (text[0] >= '0' && text[0] <= '9') {
        if (sl_parse_i64(text, 0, T - 1, &k, &ignored) == 0)
            i = k;
    }
    if (i < 0)
        return sl_error_set(err, SL_EINVAL,
                            "'%.40s' is not a position: use BOS, a1..a%d, MID, b1..b%d or 0..%d", text, n, n, T - 1);
    *pos = (int)i;
    return 0;
}

typedef char Label[FIG_LABEL_MAX];

/* What one figure is made of; everything it points at lives until it is
 * written. */
typedef struct Build {
    const SlModel *m;
    const SlModelConfig *c;
    const SlPlotRequest *req;
    int T, V, Vo, n, at;
    int values[SL_MODEL_MAX_CTX], tokens[SL_MODEL_MAX_CTX];
    Label *pos_labels;       /* [T] BOS, a1, .. */
    Label *tok_labels;       /* [V] 0..Vo-1, BOS, MID */
    Label *seq_labels;       /* [T] the sequence axis as req->labels asks */
    Label *seq_titles;       /* [T] "a3=17": both, for the cells' titles */
    char title[200], subtitle[600];
    char panel_titles[4][80];
    HeatPanel panels[4];
    int npanels, ncols;
    void *owned[16];         /* freed with the build */
    int nowned;
} Build;

static void *build_alloc(Build *b, size_t size, SlError *err)
{
    void *p = calloc(1, size ? size : 1);
    if (!p || b->nowned == (int)(sizeof b->owned / sizeof b->owned[0])) {
        free(p);
        sl_error_set(err, SL_ENOMEM, "out of memory for the figure");
        return NULL;
    }
    b->owned[b->nowned++] = p;
    return p;
}

static void build_free(Build *b)
{
    for (int i = 0; i < b->nowned; i++)
        free(b->owned[i]);
}

static int check_cells(const char *what, long rows, long cols, SlError *err)
{
    if (rows * cols > PLOT_MAX_CELLS)
        return sl_error_set(err, SL_EINVAL, "the %s has %ld x %ld cells, more than a figure can show (%d)", what,
                            rows, cols, PLOT_MAX_CELLS);
    return 0;
}

/* The cell size that draws the larger side in about 520 points. */
static double cell_for(int rows, int cols)
{
    int side = rows > cols ? rows : cols;
    return fmax(7.0, fmin(24.0, floor(520.0 / side)));
}

static void panel_defaults(HeatPanel *p)
{
    memset(p, 0, sizeof *p);
    p->split_row = p->split_col = -1;
    p->mark_row = -1;
    p->colorbar = true;
}

/* The sequence of the request: its list and the sorted half (the true sort
 * or the model's greedy output). */
static int build_sequence(Build *b, SlError *err)
{
    const SlModelConfig *c = b->c;
    const SlPlotRequest *r = b->req;
    if (r->list) {
        for (int i = 0; i < b->n; i++) {
            if (r->list[i] < 0 || r->list[i] >= b->Vo)
                return sl_error_set(err, SL_EINVAL, "list value %d is outside 0..%d", r->list[i], b->Vo - 1);
            b->values[i] = r->list[i];
        }
    } else {
        SlRng rng;
        sl_rng_seed(&rng, 1);   /* the explorer's first list */
        sl_task_random_list(c, &rng, b->values);
    }
    if (r->greedy) {
        SlActCache *cache = sl_cache_new(c, 1, b->T, err);
        int *out = build_alloc(b, sizeof(int) * (size_t)b->n, err);
        if (!cache || !out) {
            sl_cache_free(cache);
            return err ? err->code : SL_ENOMEM;
        }
        int rc = sl_decode_greedy(b->m, b->values, 1, out, b->tokens, cache, r->iv, err);
        sl_cache_free(cache);
        if (rc)
            return rc;
    } else {
        sl_task_make_tokens(c, b->values, b->tokens);
    }
    b->seq_labels = build_alloc(b, sizeof(Label) * (size_t)b->T, err);
    b->seq_titles = build_alloc(b, sizeof(Label) * (size_t)b->T, err);
    if (!b->seq_labels || !b->seq_titles)
        return SL_ENOMEM;
    for (int p = 0; p < b->T; p++) {
        Label tok;
        sl_circuit_token_label(c, b->tokens[p], tok);
        if (r->labels == SL_PLOT_LABEL_VALUES)
            snprintf(b->seq_labels[p], sizeof(Label), "%s", tok);
        else
            snprintf(b->seq_labels[p], sizeof(Label), "%s", b->pos_labels[p]);
        if (p == 0 || p == b->n + 1)
            snprintf(b->seq_titles[p], sizeof(Label), "%s", b->pos_labels[p]);
        else
            snprintf(b->seq_titles[p], sizeof(Label), "%.8s=%.8s", b->pos_labels[p], tok);
    }
    size_t len = strlen(b->subtitle);
    snprintf(b->subtitle + len, sizeof b->subtitle - len, "%slist", len ? "; " : "");
    for (int i = 0; i < b->n && strlen(b->subtitle) < sizeof b->subtitle - 40; i++) {
        len = strlen(b->subtitle);
        snprintf(b->subtitle + len, sizeof b->subtitle - len, " %d", b->values[i]);
    }
    len = strlen(b->subtitle);
    snprintf(b->subtitle + len, sizeof b->subtitle - len, "%s%s",
             r->greedy ? ", sorted half greedy (the model's own output)" : ", sorted half the true sort",
             r->iv && !sl_intervention_is_none(r->iv) ? "; with interventions" : "");
    return 0;
}

/* hook_pattern or hook_attn_scores of (layer, head) for the sequence. */
static int view_sequence(Build *b, bool scores, SlError *err)
{
    const SlPlotRequest *r = b->req;
    int rc = build_sequence(b, err);
    if (rc)
        return rc;
    int T = b->T, H = b->c->n_heads;
    float *data = build_alloc(b, sizeof(float) * (size_t)T * T, err);
    unsigned char *masked = build_alloc(b, (size_t)T * T, err);
    if (!data || !masked)
        return SL_ENOMEM;
    SlActCache *cache = sl_cache_new(b->c, 1, T, err);
    if (!cache)
        return err ? err->code : SL_ENOMEM;
    rc = sl_model_forward(b->m, b->tokens, 1, T, cache, r->iv, SL_FORWARD_AUTO, err);
    if (rc == 0) {
        const float *src = (scores ? cache->scores : cache->pattern) + ((size_t)r->layer * H + r->head) * T * T;
        for (int q = 0; q < T; q++)
            for (int k = 0; k < T; k++) {
                masked[q * T + k] = k > q;
                /* masked scores are -inf in the cache; the figure shows them grey */
                data[q * T + k] = k > q && scores ? 0.0f : src[q * T + k];
            }
    }
    sl_cache_free(cache);
    if (rc)
        return rc;
    snprintf(b->title, sizeof b->title, "%s, layer %d head %d", scores ? "Attention scores" : "Attention pattern",
             r->layer, r->head);
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = scores ? "scores" : "attention";
    p->title = scores ? "q.k / sqrt(d_head) before the softmax (grey: masked, a key after its query)"
                      : "softmax weights: how much each query attends to each key (grey: masked)";
    p->rows = p->cols = T;
    p->data = data;
    p->masked = masked;
    p->row_labels = (const char(*)[FIG_LABEL_MAX])b->seq_labels;
    p->col_labels = (const char(*)[FIG_LABEL_MAX])b->seq_labels;
    p->row_titles = (const char(*)[FIG_LABEL_MAX])b->seq_titles;
    p->col_titles = (const char(*)[FIG_LABEL_MAX])b->seq_titles;
    p->row_name = "query";
    p->col_name = "key";
    p->row_axis = "query position";
    p->col_axis = "key position";
    p->mark_row = b->at;
    p->cell_w = p->cell_h = cell_for(T, T);
    if (scores) {
        p->ramp = RAMP_DIVERGING;
        p->hi = heat_range(data, masked, (size_t)T * T);
        p->lo = -p->hi;
    } else {
        p->ramp = RAMP_SEQUENTIAL;
        p->lo = 0;
        p->hi = 1;
    }
    return 0;
}

static const SlCircuitKind qk_kinds[4] = {SL_CIRCUIT_QK_TOKEN_TOKEN, SL_CIRCUIT_QK_TOKEN_POS, SL_CIRCUIT_QK_POS_TOKEN,
                                        SL_CIRCUIT_QK_POS_POS};
static const char *qk_term_names[4] = {"token-token", "token-pos", "pos-token", "pos-pos"};
static const char *qk_formulas[4] = {"W_E W_Q W_K^T W_E^T", "W_E W_Q W_K^T W_pos^T", "W_pos W_Q W_K^T W_E^T",
                                     "W_pos W_Q W_K^T W_pos^T"};

/* A circuit's matrix copied into the build (so that its SlNamedMatrix can go). */
static float *circuit_copy(Build *b, SlCircuitKind kind, int *rows, int *cols, SlError *err)
{
    SlNamedMatrix *nm = sl_circuit_get_kind(b->m, kind, b->req->layer, b->req->head, err);
    if (!nm)
        return NULL;
    float *data = build_alloc(b, sizeof(float) * (size_t)nm->rows * nm->cols, err);
    if (data)
        memcpy(data, nm->data, sizeof(float) * (size_t)nm->rows * nm->cols);
    *rows = nm->rows;
    *cols = nm->cols;
    sl_named_matrix_free(nm);
    return data;
}

/* The causal mask of a pos-pos block: key positions after the query. */
static unsigned char *pos_pos_mask(Build *b, int rows, int cols, SlError *err)
{
    unsigned char *masked = build_alloc(b, (size_t)rows * cols, err);
    if (!masked)
        return NULL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            masked[(size_t)r * cols + c] = c > r;
    return masked;
}

/* The panel of QK term `term` (0 token-token .. 3 pos-pos, its causal mask
 * marked), appended to the build; its scale is set by the caller.  NULL
 * and err on failure. */
static HeatPanel *qk_panel(Build *b, int term, SlError *err)
{
    int rows, cols;
    float *data = circuit_copy(b, qk_kinds[term], &rows, &cols, err);
    if (!data)
        return NULL;
    bool row_tok = term == 0 || term == 1, col_tok = term == 0 || term == 2;
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = sl_circuit_kind_name(qk_kinds[term]);
    p->rows = rows;
    p->cols = cols;
    p->data = data;
    if (term == 3 && !(p->masked = pos_pos_mask(b, rows, cols, err)))
        return NULL;
    p->row_labels = (const char(*)[FIG_LABEL_MAX])(row_tok ? b->tok_labels : b->pos_labels);
    p->col_labels = (const char(*)[FIG_LABEL_MAX])(col_tok ? b->tok_labels : b->pos_labels);
    p->row_name = row_tok ? "query token" : "query position";
    p->col_name = col_tok ? "key token" : "key position";
    p->row_axis = p->row_name;
    p->col_axis = p->col_name;
    p->ramp = RAMP_DIVERGING;
    return p;
}

static int view_qk(Build *b, int term, SlError *err)
{
    HeatPanel *p = qk_panel(b, term, err);
    if (!p)
        return err ? err->code : SL_ENOMEM;
    p->cell_w = p->cell_h = cell_for(p->rows, p->cols);
    p->hi = heat_range(p->data, p->masked, (size_t)p->rows * p->cols);
    p->lo = -p->hi;
    p->title = term == 3 ? "unscaled, as the notebook plots it (grey: masked, a key after its query)"
                         : "unscaled, as the notebook plots it";
    snprintf(b->title, sizeof b->title, "QK %s term %s, layer %d head %d", qk_term_names[term], qk_formulas[term],
             b->req->layer, b->req->head);
    return 0;
}

static int view_facet(Build *b, SlError *err)
{
    float range = 0;
    for (int t = 0; t < 4; t++) {
        HeatPanel *p = qk_panel(b, t, err);
        if (!p)
            return err ? err->code : SL_ENOMEM;
        range = fmaxf(range, heat_range(p->data, p->masked, (size_t)p->rows * p->cols));
        /* one cell size for all four, so that the panels line up as the
         * blocks of the combined matrix do */
        p->cell_w = p->cell_h = cell_for(b->V + b->T, b->V + b->T) * 1.4;
        snprintf(b->panel_titles[t], sizeof b->panel_titles[t], "%s  %s", qk_term_names[t], qk_formulas[t]);
        p->title = b->panel_titles[t];
    }
    for (int t = 0; t < 4; t++) {
        b->panels[t].hi = range;
        b->panels[t].lo = -range;
        b->panels[t].colorbar = t == 1 || t == 3;   /* one bar per row of panels: the scale is shared */
    }
    b->ncols = 2;
    snprintf(b->title, sizeof b->title, "QK circuit, layer %d head %d: the four terms (one colour scale, unscaled)",
             b->req->layer, b->req->head);
    return 0;
}

static int view_combined(Build *b, SlError *err)
{
    int V = b->V, T = b->T, N = V + T;
    SlNamedMatrix *nm = sl_circuit_qk_combined(b->m, b->req->layer, b->req->head, err);
    if (!nm)
        return err ? err->code : SL_ENOMEM;
    float *data = build_alloc(b, sizeof(float) * (size_t)N * N, err);
    unsigned char *masked = build_alloc(b, (size_t)N * N, err);
    Label *labels = build_alloc(b, sizeof(Label) * (size_t)N, err);
    if (!data || !masked || !labels || nm->rows != N) {
        sl_named_matrix_free(nm);
        return SL_ENOMEM;
    }
    memcpy(data, nm->data, sizeof(float) * (size_t)N * N);
    sl_named_matrix_free(nm);
    for (int r = 0; r < N; r++)   /* the pos-pos block's causal mask */
        for (int c = 0; c < N; c++)
            masked[(size_t)r * N + c] = r >= V && c >= V && c > r;
    for (int i = 0; i < N; i++)
        snprintf(labels[i], sizeof(Label), "%s", i < V ? b->tok_labels[i] : b->pos_labels[i - V]);
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = "qk-combined";
    p->title = "four blocks: token-token, token-pos (top); pos-token, pos-pos (bottom; grey: masked)";
    p->rows = p->cols = N;
    p->data = data;
    p->masked = masked;
    p->row_labels = p->col_labels = (const char(*)[FIG_LABEL_MAX])labels;
    p->row_name = "query";
    p->col_name = "key";
    p->row_axis = "query token (W_E)";
    p->row_axis_b = "query position (W_pos)";
    p->col_axis = "key token (W_E)";
    p->col_axis_b = "key position (W_pos)";
    p->split_row = p->split_col = V;
    p->ramp = RAMP_DIVERGING;
    p->hi = heat_range(data, masked, (size_t)N * N);
    p->lo = -p->hi;
    p->cell_w = p->cell_h = cell_for(N, N);
    snprintf(b->title, sizeof b->title, "QK circuit [W_E; W_pos] W_Q W_K^T [W_E; W_pos]^T, layer %d head %d",
             b->req->layer, b->req->head);
    return 0;
}

static int view_ov(Build *b, bool pos, SlError *err)
{
    int rows, cols;
    float *data = circuit_copy(b, pos ? SL_CIRCUIT_OV_POS : SL_CIRCUIT_OV, &rows, &cols, err);
    if (!data)
        return err ? err->code : SL_ENOMEM;
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = pos ? "ov-pos" : "ov";
    p->title = pos ? "what each position adds to each value's logit through the head"
                   : "what attending to a token adds to each value's logit (the diagonal: copying)";
    p->rows = rows;
    p->cols = cols;
    p->data = data;
    p->row_labels = (const char(*)[FIG_LABEL_MAX])(pos ? b->pos_labels : b->tok_labels);
    p->col_labels = (const char(*)[FIG_LABEL_MAX])b->tok_labels;
    p->row_name = pos ? "source position" : "source token";
    p->col_name = "output value";
    p->row_axis = p->row_name;
    p->col_axis = p->col_name;
    p->ramp = RAMP_DIVERGING;
    p->hi = heat_range(data, NULL, (size_t)rows * cols);
    p->lo = -p->hi;
    p->cell_w = p->cell_h = cell_for(b->V, b->V);
    snprintf(b->title, sizeof b->title, "OV %s circuit %s W_V W_O W_U, layer %d head %d", pos ? "position" : "token",
             pos ? "W_pos" : "W_E", b->req->layer, b->req->head);
    return 0;
}

static int view_decomposition(Build *b, SlError *err)
{
    if (b->req->layer != 0)
        return sl_error_set(err, SL_EINVAL, "the score decomposition is of layer 0 (asked: layer %d)", b->req->layer);
    int rc = build_sequence(b, err);
    if (rc)
        return rc;
    int T = b->T, q = b->at, K = q + 1;
    float *terms = build_alloc(b, sizeof(float) * 4 * (size_t)T * T, err);
    float *data = build_alloc(b, sizeof(float) * 5 * (size_t)K, err);
    Label *rows = build_alloc(b, sizeof(Label) * 5, err);
    if (!terms || !data || !rows)
        return SL_ENOMEM;
    if ((rc = sl_circuit_score_terms(b->m, b->req->head, b->tokens, T, terms, err)))
        return rc;
    /* each term divided by sqrt(d_head), so that the five rows read as the
     * parts of the score and their sum (hook_attn_scores) */
    float scale = 1.0f / sqrtf((float)b->c->d_head);
    for (int k = 0; k < K; k++) {
        float sum = 0;
        for (int t = 0; t < 4; t++) {
            float v = terms[((size_t)t * T + q) * T + k] * scale;
            data[t * K + k] = v;
            sum += v;
        }
        data[4 * K + k] = sum;
    }
    for (int t = 0; t < 4; t++)
        snprintf(rows[t], sizeof(Label), "%s", qk_term_names[t]);
    snprintf(rows[4], sizeof(Label), "score (sum)");
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = "decomposition";
    p->title = "each QK term / sqrt(d_head); the last row is their sum, the score";
    p->rows = 5;
    p->cols = K;
    p->data = data;
    p->row_labels = (const char(*)[FIG_LABEL_MAX])rows;
    p->col_labels = (const char(*)[FIG_LABEL_MAX])b->seq_labels;
    p->col_titles = (const char(*)[FIG_LABEL_MAX])b->seq_titles;
    p->row_name = "term";
    p->col_name = "key";
    p->row_axis = "QK term";
    p->col_axis = "key position";
    p->split_row = 4;
    p->ramp = RAMP_DIVERGING;
    p->hi = heat_range(data, NULL, (size_t)5 * K);
    p->lo = -p->hi;
    p->cell_w = 34;
    p->cell_h = 22;
    p->annotate = true;
    snprintf(b->title, sizeof b->title, "Scores of query %s split into the four QK terms, layer 0 head %d",
             b->seq_titles[q], b->req->head);
    return 0;
}

#define MEAN_LISTS_DEFAULT 1000

static int view_mean_attention(Build *b, SlError *err)
{
    const SlPlotRequest *r = b->req;
    long lists = r->lists > 0 ? r->lists : MEAN_LISTS_DEFAULT;
    SlStressSource s;
    SlListSource src;
    int rc = sl_stress_source(&s, b->c, SL_STRESS_UNIFORM, lists, 1, &src, err);
    if (rc)
        return rc;
    SlPopulationMean pm = {0};
    if ((rc = sl_population_mean(b->m, &src, &pm, NULL, NULL, err)))
        return rc;
    int T = b->T;
    float *data = build_alloc(b, sizeof(float) * (size_t)T * T, err);
    unsigned char *masked = build_alloc(b, (size_t)T * T, err);
    if (!data || !masked) {
        sl_population_mean_free(&pm);
        return SL_ENOMEM;
    }
    const double *src_pattern = pm.pattern + ((size_t)r->layer * pm.H + r->head) * T * T;
    for (int q = 0; q < T; q++)
        for (int k = 0; k < T; k++) {
            data[q * T + k] = (float)src_pattern[q * T + k];
            masked[q * T + k] = k > q;
        }
    sl_population_mean_free(&pm);
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = "mean-attention";
    p->title = "mean softmax weights over the teacher-forced sequences (grey: masked)";
    p->rows = p->cols = T;
    p->data = data;
    p->masked = masked;
    p->row_labels = p->col_labels = (const char(*)[FIG_LABEL_MAX])b->pos_labels;
    p->row_name = "query";
    p->col_name = "key";
    p->row_axis = "query position";
    p->col_axis = "key position";
    p->cell_w = p->cell_h = cell_for(T, T);
    p->ramp = RAMP_SEQUENTIAL;
    p->lo = 0;
    p->hi = 1;
    snprintf(b->title, sizeof b->title, "Mean attention pattern over %ld random lists (seed 1), layer %d head %d",
             lists, r->layer, r->head);
    size_t len = strlen(b->subtitle);
    snprintf(b->subtitle + len, sizeof b->subtitle - len, "%svalues uniform in 0..%d, with replacement",
             len ? "; " : "", b->Vo - 1);
    return 0;
}

/* A patching row's label: the hook without "blocks.L." (and "L1 " before
 * it in a deeper model), the head for per-head hooks. */
static void patch_label(const Build *b, const SlPatchHook *h, int head, char *buf, size_t size)
{
    const char *name = h->name;
    if (strncmp(name, "blocks.", 7) == 0 && strchr(name + 7, '.'))
        name = strchr(name + 7, '.') + 1;
    char layer[16] = "", full[80];
    if (b->c->n_layers > 1 && h->layer >= 0)
        snprintf(layer, sizeof layer, "L%d ", h->layer);
    if (h->heads > 0)
        snprintf(full, sizeof full, "%s%s h%d", layer, name, head);
    else
        snprintf(full, sizeof full, "%s%s", layer, name);
    snprintf(buf, size, "%.*s", FIG_LABEL_MAX - 1, full);
}

static int view_patch(Build *b, SlError *err)
{
    const SlPlotRequest *r = b->req;
    if (!r->corrupt)
        return sl_error_set(err, SL_EINVAL, "the patch view needs a corrupted list (--corrupt)");
    int rc = build_sequence(b, err);
    if (rc)
        return rc;
    int n = b->n, T = b->T, K = 0;
    if (r->at >= 0) {
        if (r->at < n + 1 || r->at > 2 * n)
            return sl_error_set(err, SL_EINVAL, "the patched query must be a prediction position, MID..b%d", n - 1);
        K = r->at - n;
    }
    SlPatchResult pr;
    if ((rc = sl_patch(b->m, b->values, r->corrupt, K, false, NULL, false, &pr, err)))
        return rc;
    int rows = 0;
    for (int i = 0; i < pr.n_hooks; i++)
        rows += pr.hooks[i].heads > 0 ? pr.hooks[i].heads : 1;
    rows += 4 * pr.H;
    float *data = build_alloc(b, sizeof(float) * (size_t)rows * T, err);
    Label *labels = build_alloc(b, sizeof(Label) * (size_t)rows, err);
    if (!data || !labels) {
        sl_patch_result_free(&pr);
        return SL_ENOMEM;
    }
    int row = 0;
    for (int i = 0; i < pr.n_hooks; i++) {
        const SlPatchHook *h = &pr.hooks[i];
        for (int hd = 0; hd < (h->heads > 0 ? h->heads : 1); hd++, row++) {
            patch_label(b, h, hd, labels[row], sizeof(Label));
            memcpy(data + (size_t)row * T, h->exact + (size_t)hd * T, sizeof(float) * (size_t)T);
        }
    }
    for (int hd = 0; hd < pr.H; hd++)
        for (int t = 0; t < 4; t++, row++) {
            char name[48];
            snprintf(name, sizeof name, "score %s h%d", qk_term_names[t], hd);
            snprintf(labels[row], sizeof(Label), "%.23s", name);
            memcpy(data + (size_t)row * T, pr.score_terms + ((size_t)hd * 4 + t) * T, sizeof(float) * (size_t)T);
        }
    int query = pr.query, at = pr.at, clean_answer = pr.clean_answer, corrupt_answer = pr.corrupt_answer;
    sl_patch_result_free(&pr);
    HeatPanel *p = &b->panels[b->npanels++];
    panel_defaults(p);
    p->id = "patch";
    p->title = "(LD patched - LD corrupt) / (LD clean - LD corrupt): 1 restores the clean run, 0 changes nothing";
    p->rows = rows;
    p->cols = T;
    p->data = data;
    p->row_labels = (const char(*)[FIG_LABEL_MAX])labels;
    p->col_labels = (const char(*)[FIG_LABEL_MAX])b->seq_labels;
    p->col_titles = (const char(*)[FIG_LABEL_MAX])b->seq_titles;
    p->row_name = "patched";
    p->col_name = "at";
    p->row_axis = "activation patched (clean into corrupted)";
    p->col_axis = "position";
    p->ramp = RAMP_DIVERGING;
    p->hi = heat_range(data, NULL, (size_t)rows * T);
    p->lo = -p->hi;
    p->cell_w = T <= 24 ? 30 : cell_for(rows, T);
    p->cell_h = T <= 24 ? 18 : p->cell_w;
    p->annotate = T <= 24;
    snprintf(b->title, sizeof b->title, "Activation patching at query %s (predicts b%d: clean %d, corrupt %d)",
             b->seq_titles[query], at, clean_answer, corrupt_answer);
    size_t len = strlen(b->subtitle);
    snprintf(b->subtitle + len, sizeof b->subtitle - len, "; corrupt");
    for (int i = 0; i < n && strlen(b->subtitle) < sizeof b->subtitle - 8; i++) {
        len = strlen(b->subtitle);
        snprintf(b->subtitle + len, sizeof b->subtitle - len, " %d", r->corrupt[i]);
    }
    return 0;
}

/* ---- the figure ------------------------------------------------------------- */

static int compose(Build *b, Figure *f)
{
    int ncols = b->ncols > 0 ? b->ncols : 1, nrows = (b->npanels + ncols - 1) / ncols;
    double colw[4] = {0}, rowh[4] = {0};
    for (int i = 0; i < b->npanels; i++) {
        double w, h;
        heat_size(f, &b->panels[i], &w, &h);
        colw[i % ncols] = fmax(colw[i % ncols], w);
        rowh[i / ncols] = fmax(rowh[i / ncols], h);
    }
    double top = MARGIN + FIG_TITLE_SIZE + SUBTITLE_SIZE * 1.8 + PANEL_GAP, width = 0, height = top;
    for (int c = 0; c < ncols; c++)
        width += colw[c] + (c ? PANEL_GAP : 0);
    for (int r = 0; r < nrows; r++)
        height += rowh[r] + (r ? PANEL_GAP : 0);
    fig_text(f, MARGIN, MARGIN + FIG_TITLE_SIZE, FIG_TITLE_SIZE, FIG_START, true, false, 0x000000, b->title);
    fig_text(f, MARGIN, MARGIN + FIG_TITLE_SIZE + SUBTITLE_SIZE * 1.6, SUBTITLE_SIZE, FIG_START, false, false,
             0x555555, b->subtitle);
    double tw = fmax(fig_text_width(f, b->title, FIG_TITLE_SIZE, true), fig_text_width(f, b->subtitle, SUBTITLE_SIZE, false));
    double y = top;
    for (int r = 0; r < nrows; r++) {
        double x = MARGIN;
        for (int c = 0; c < ncols && r * ncols + c < b->npanels; c++) {
            heat_draw(f, &b->panels[r * ncols + c], x, y);
            x += colw[c] + PANEL_GAP;
        }
        y += rowh[r] + PANEL_GAP;
    }
    f->w = ceil(fmax(width, tw) + 2 * MARGIN);
    f->h = ceil(height + MARGIN);
    return 0;
}

void sl_plot_request_init(SlPlotRequest *r, SlPlotView view)
{
    memset(r, 0, sizeof *r);
    r->view = view;
    r->at = -1;
}

static int check_request(const SlModel *m, const SlPlotRequest *r, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    if (r->view < 0 || r->view >= SL_PLOT_VIEW_COUNT)
        return sl_error_set(err, SL_EINVAL, "unknown view %d", (int)r->view);
    if (r->layer < 0 || r->layer >= c->n_layers)
        return sl_error_set(err, SL_EINVAL, "layer %d is out of range (the model has %d)", r->layer, c->n_layers);
    if (r->head < 0 || r->head >= c->n_heads)
        return sl_error_set(err, SL_EINVAL, "head %d is out of range (the model has %d)", r->head, c->n_heads);
    if (r->at < -1 || r->at >= c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "position %d is out of range 0..%d", r->at, c->n_ctx - 1);
    if (r->iv && sl_intervention_validate(r->iv, c, err))
        return SL_EINVAL;
    int rc = check_cells("combined QK matrix", c->d_vocab + c->n_ctx, c->d_vocab + c->n_ctx, err);
    return rc;
}

int sl_plot_render(const SlModel *m, const SlPlotRequest *req, SlPlotFormat format, unsigned char **data,
                   size_t *size, SlError *err)
{
    *data = NULL;
    *size = 0;
    if (format < SL_PLOT_SVG || format > SL_PLOT_PDF)
        return sl_error_set(err, SL_EINVAL, "unknown format %d", (int)format);
    int rc = check_request(m, req, err);
    if (rc)
        return rc;
    Build b = {.m = m, .c = &m->cfg, .req = req};
    b.T = m->cfg.n_ctx;
    b.V = m->cfg.d_vocab;
    b.Vo = m->cfg.d_vocab_out;
    b.n = m->cfg.list_len;
    b.at = req->at >= 0 ? req->at : b.n + 1;
    Figure *f = NULL;
    b.pos_labels = build_alloc(&b, sizeof(Label) * (size_t)b.T, err);
    b.tok_labels = build_alloc(&b, sizeof(Label) * (size_t)b.V, err);
    if (!b.pos_labels || !b.tok_labels) {
        rc = SL_ENOMEM;
        goto done;
    }
    for (int p = 0; p < b.T; p++)
        pos_name(b.c, p, b.pos_labels[p], sizeof(Label));
    for (int t = 0; t < b.V; t++)
        sl_circuit_token_label(b.c, t, b.tok_labels[t]);
    if (req->model_label) {
        char clean[200];
        render_text_sanitize(req->model_label, clean, sizeof clean);
        snprintf(b.subtitle, sizeof b.subtitle, "model %s", clean);
    }
    switch (req->view) {
    case SL_PLOT_ATTENTION: rc = view_sequence(&b, false, err); break;
    case SL_PLOT_SCORES: rc = view_sequence(&b, true, err); break;
    case SL_PLOT_QK_TOKEN_TOKEN: rc = view_qk(&b, 0, err); break;
    case SL_PLOT_QK_TOKEN_POS: rc = view_qk(&b, 1, err); break;
    case SL_PLOT_QK_POS_TOKEN: rc = view_qk(&b, 2, err); break;
    case SL_PLOT_QK_POS_POS: rc = view_qk(&b, 3, err); break;
    case SL_PLOT_QK_FACET: rc = view_facet(&b, err); break;
    case SL_PLOT_QK_COMBINED: rc = view_combined(&b, err); break;
    case SL_PLOT_OV: rc = view_ov(&b, false, err); break;
    case SL_PLOT_OV_POS: rc = view_ov(&b, true, err); break;
    case SL_PLOT_DECOMPOSITION: rc = view_decomposition(&b, err); break;
    case SL_PLOT_MEAN_ATTENTION: rc = view_mean_attention(&b, err); break;
    case SL_PLOT_PATCH: rc = view_patch(&b, err); break;
    case SL_PLOT_PROGRESS:   /* sl_plot_curves_render */
        rc = sl_error_set(err, SL_EINVAL, "progress is a figure of a run's snapshots, not of one model");
        break;
    default: rc = sl_error_set(err, SL_EINVAL, "unknown view"); break;
    }
    if (rc)
        goto done;
    if (!(f = figure_new(err))) {
        rc = SL_ENOMEM;
        goto done;
    }
    compose(&b, f);
    rc = format == SL_PLOT_SVG ? figure_render_svg(f, data, size, err)
                               : figure_render_cairo(f, format == SL_PLOT_PNG ? FIG_FORMAT_PNG : FIG_FORMAT_PDF, data,
                                                     size, err);
done:
    figure_free(f);
    build_free(&b);
    return rc;
}

int sl_plot_write(const SlModel *m, const SlPlotRequest *req, SlPlotFormat format, const char *path, SlError *err)
{
    unsigned char *data;
    size_t size;
    int rc = sl_plot_render(m, req, format, &data, &size, err);
    if (rc == 0)
        rc = plot_write_bytes(path, data, size, err);
    free(data);
    return rc;
}

int plot_write_bytes(const char *path, const unsigned char *data, size_t size, SlError *err)
{
    SlAtomicFile *f = sl_atomic_open(path, err);
    int rc = f ? sl_atomic_write(f, data, size, err) : err ? err->code : SL_EIO;
    if (f && rc == 0)
        rc = sl_atomic_commit(f, err);
    else
        sl_atomic_abort(f);
    return rc;
}

int sl_plot_view(const SlModel *m, SlPlotView view, const int *list, int at, SlPlotFormat format, const char *path,
                 SlError *err)
{
    SlPlotRequest r;
    sl_plot_request_init(&r, view);
    r.list = list;
    r.at = at;
    return sl_plot_write(m, &r, format, path, err);
}
