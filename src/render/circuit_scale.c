/* circuit_scale.c: the colour scales of the circuit panels (`n`): per row,
 * the value rows' percentile, the whole matrix. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sortlens/names.h"

bool circuit_axis_is_token(int view, bool is_row)
{
    if (is_row)
        return view == SL_CIRCUIT_QK_TOKEN_TOKEN || view == SL_CIRCUIT_QK_TOKEN_POS || view == SL_CIRCUIT_OV;
    /* OV columns are the output values: tokens, all of them values */
    return view == SL_CIRCUIT_QK_TOKEN_TOKEN || view == SL_CIRCUIT_QK_POS_TOKEN || view == SL_CIRCUIT_OV ||
           view == SL_CIRCUIT_OV_POS;
}

bool circuit_axis_has_specials(int view, bool is_row)
{
    return circuit_axis_is_token(view, is_row) && (is_row || circuit_kind_is_qk(view));
}

/* The k-th smallest of a[0..n) (0-based; a is reordered): Hoare's
 * selection, linear on average, where sorting a 4002 x 4002 circuit took
 * seconds before a big model's first frame. */
static float select_kth(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}
/* Whether index idx of an axis is BOS or MID, left out of CS_VALUES: the
 * token axes hold them after the Vo values; the combined matrix's token
 * block too (its positions, from V = Vo + 2 on, count). */
static bool special_index(int view, bool is_row, int idx, int Vo)
{
    if (view == SCENE_QK_COMBINED)
        return idx == Vo || idx == Vo + 1;
    return circuit_axis_has_specials(view, is_row) && idx >= Vo;
}
float circuit_value_range(const float *data, int rows, int cols, int view, int Vo)
{
    if (!data || rows < 1 || cols < 1)
        return 0;
    size_t k = 0;
    float *a = malloc((size_t)rows * (size_t)cols * sizeof *a), m = 0;
    for (int r = 0; r < rows; r++) {
        if (special_index(view, true, r, Vo))
            continue;
        for (int c = 0; c < cols; c++) {
            float v = fabsf(data[(size_t)r * cols + c]);
            if (special_index(view, false, c, Vo) || !isfinite(v))
                continue;
            if (a)
                a[k++] = v;
            else if (v > m)   /* no memory for the sort: the largest |x| of the value cells */
                m = v;
        }
    }
    if (!a)
        return m;
    float out = 0;
    if (k > 0) {
        /* nearest rank: the smallest value with at least p% of the cells at or below it */
        size_t rank = (k * CS_PERCENTILE + 99) / 100;
        out = select_kth(a, k, rank > 0 ? rank - 1 : 0);
    }
    free(a);
    return out;
}
float scene_circuit_range(const Scene *sc, int view, int scale)
{
    float whole = 0;
    const float *data = scene_circuit_data(sc, view, &whole);
    if (scale != CS_VALUES || !data)
        return whole;
    if (sc->robust_range[view] > 0)
        return sc->robust_range[view];
    int rows, cols;
    scene_circuit_shape(sc, view, &rows, &cols);
    float r = circuit_value_range(data, rows, cols, view, sc->Vo);
    return r > 0 ? r : whole;
}
void circuit_row_norm(const float *row, int cols, float *mean, float *scale)
{
    double s = 0;
    for (int c = 0; c < cols; c++)
        s += row[c];
    float m = cols > 0 ? (float)(s / cols) : 0;
    float mx = 0;
    for (int c = 0; c < cols; c++)
        if (fabsf(row[c] - m) > mx)
            mx = fabsf(row[c] - m);
    *mean = m;
    *scale = mx;
}
const char *circuit_scale_name(int scale)
{
    static const char *names[CS_COUNT] = {"per row", "values p99", "whole"};
    return scale >= 0 && scale < CS_COUNT ? names[scale] : "?";
}

static const char *const scale_options[CS_COUNT] = {"row", "p99", "whole"};

const char *circuit_scale_option(int scale) { return scale >= 0 && scale < CS_COUNT ? scale_options[scale] : "?"; }

int circuit_scale_from_option(const char *name) { return sl_names_find(scale_options, CS_COUNT, name); }
